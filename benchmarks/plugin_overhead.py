"""Plugin overhead: a user-compiled kernel against the same code built into loopengine.

csrc/src/c4free.cpp defines the C4-free search in the public kernel form
(LOOPENGINE_KERNEL(c4free_batch, ...)), which CMake builds into loopengine._core. This script
compiles that very file again through the user-kernel path (loopengine.kernel_build: system
compiler, content-hash cache, module loaded from the cache) and times both through the
engine's Kernel wrapper, which is how the loop calls any kernel. Same inputs, same seed:
the outputs must be identical before any time is reported. Calls alternate between the two
so that load from other processes hits both alike. The hand-bound c4_local_search (the
engine's default "c4free" kernel, bound with plain pybind11) is timed too.

    python benchmarks/plugin_overhead.py [--n 30] [--rows 2000] [--repeats 7] [--threads 0]

Ratio = user build time / built-in time; about 1 means the plugin path costs nothing.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np

from loopengine import _core
from loopengine.kernel_build import builtin_form, load_cpp_kernel
from loopengine.kernels import BUILTIN_KERNELS, Kernel

SOURCE = Path(__file__).resolve().parent.parent / "csrc" / "src" / "c4free.cpp"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=30, help="vertices")
    ap.add_argument("--rows", type=int, default=2000, help="graphs per call")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=0, help="0 = all cores")
    ap.add_argument("--kick", type=int, default=0)
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    args = ap.parse_args()
    if not hasattr(_core, "c4free_batch"):
        raise SystemExit("loopengine._core has no c4free_batch: reinstall loopengine (pip install -e .)")

    t0 = time.perf_counter()
    user_fn = load_cpp_kernel(SOURCE, "benchmark")
    build_s = time.perf_counter() - t0
    kernels = {
        "user build": Kernel("c4free.cpp", user_fn),
        "built in": Kernel("c4free_batch", builtin_form("c4free_batch")),
        "hand-bound": Kernel("c4free", BUILTIN_KERNELS["c4free"]),
    }
    rng = np.random.default_rng(0)
    pairs = args.n * (args.n - 1) // 2
    density = rng.uniform(0.05, 0.3, size=(args.rows, 1))
    objects = (rng.random((args.rows, pairs)) < density).astype(np.uint8)
    params = {"kick": args.kick}

    outputs = {name: k(objects, None, 123, args.threads, params) for name, k in kernels.items()}  # also warms up
    reference = outputs["built in"]
    for name, out in outputs.items():
        if not np.array_equal(out, reference):
            raise SystemExit(f"{name} returned different graphs from the built-in: not the same code")

    times: dict[str, list[float]] = {name: [] for name in kernels}
    for rep in range(args.repeats):
        order = list(kernels) if rep % 2 == 0 else list(reversed(kernels))
        for name in order:
            t = time.perf_counter()
            kernels[name](objects, None, 1000 + rep, args.threads, params)
            times[name].append(time.perf_counter() - t)

    median = {name: statistics.median(ts) for name, ts in times.items()}
    print(f"C4-free local search, n = {args.n}, {args.rows} graphs per call, threads = {args.threads or 'all'}, "
          f"{args.repeats} repeats ({platform.processor() or platform.machine()})")
    print(f"user build: {'compiled' if build_s > 1 else 'cached'} in {build_s:.1f} s "
          f"({user_fn.module.__file__})")
    for name, m in median.items():
        print(f"  {name:<11} median {m * 1e3:8.1f} ms   min {min(times[name]) * 1e3:8.1f} ms")
    ratio = median["user build"] / median["built in"]
    print(f"ratio user build / built in (same source): {ratio:.3f}")
    print(f"ratio user build / hand-bound c4_local_search: {median['user build'] / median['hand-bound']:.3f}")
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                         "median_s": median, "times_s": times, "ratio": ratio}, indent=2) + "\n")


if __name__ == "__main__":
    main()

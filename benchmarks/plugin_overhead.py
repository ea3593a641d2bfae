"""Plugin and isolation overhead, on the C4-free local search (n = 30 by default).

csrc/src/c4free.cpp defines the search in the public kernel form (LOOPENGINE_KERNEL(c4free_batch,
...)), which CMake builds into loopengine._core and which is the built-in "c4free" kernel. This
script times, on the same graphs with the same seeds (outputs must be identical before any time
is reported), calls alternating so that load from other processes hits all alike:

1. built-in, in-process: the loop's own path (LocalExecutor -> Kernel -> CppKernel -> _core) against
   the bare compiled calls per chunk (the module's run() with the same chunk seeds), and against
   the hand-bound _core.c4_local_search the engine used before. Target: <= 5% overhead.
2. the same file compiled as a user kernel (loopengine.kernels.build: system compiler, verified
   cache), called in-process, against the built-in.
3. that user kernel as the local backend really runs it: in a supervised worker process
   (loopengine.execution.isolation), rows sent through a pipe per chunk, against the same build in-process.
   The worker's start (spawn + load, once per run) is reported on its own.

    python benchmarks/plugin_overhead.py [--n 30] [--rows 2000] [--repeats 7] [--threads 0]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

from loopengine import _core
from loopengine.config import ExecutionSettings
from loopengine.execution.chunks import chunk_seed, chunks
from loopengine.execution.local import LocalExecutor
from loopengine.kernels.resolve import Kernel, load_builtin, load_user_kernel
from loopengine.problems.c4free.problem import C4Free

SOURCE = Path(__file__).resolve().parent.parent / "csrc" / "src" / "c4free.cpp"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=30, help="vertices")
    ap.add_argument("--rows", type=int, default=2000, help="graphs per batch")
    ap.add_argument("--chunk-size", type=int, default=256, help="rows per chunk (execution.chunk_size)")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=0, help="0 = all cores")
    ap.add_argument("--kick", type=int, default=1)
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    args = ap.parse_args()
    threads = args.threads or os.cpu_count() or 1
    settings = ExecutionSettings(threads=threads, chunk_size=args.chunk_size)
    params = {"kick": args.kick}

    builtin = load_builtin("c4free", C4Free.kernels["c4free"])
    t0 = time.perf_counter()
    user = load_user_kernel(("cpp", str(SOURCE)), "benchmark")
    build_s = time.perf_counter() - t0
    in_process_user = Kernel(user.name, user.fn)  # no origin: runs in this process
    local = LocalExecutor(settings)
    isolated = LocalExecutor(settings)

    def bare(objects, seed):  # the compiled module's run(), chunk by chunk: no engine code at all
        out = np.empty_like(objects)
        for i, (a, b) in enumerate(chunks(len(objects), args.chunk_size)):
            out[a:b] = _core.c4free_batch.run(objects[a:b], None, chunk_seed(seed, i), threads, params)[0]
        return out

    def hand_bound(objects, seed):
        out = np.empty_like(objects)
        for i, (a, b) in enumerate(chunks(len(objects), args.chunk_size)):
            out[a:b] = _core.c4_local_search(objects[a:b], chunk_seed(seed, i), threads, args.kick, 0, 2)
        return out

    variants = {
        "bare _core calls": bare,
        "hand-bound c4_local_search": hand_bound,
        "built-in via executor": lambda o, s: local.run(builtin, o, None, s, params),
        "user build in-process": lambda o, s: local.run(in_process_user, o, None, s, params),
        "user build isolated": lambda o, s: isolated.run(user, o, None, s, params),
    }
    rng = np.random.default_rng(0)
    pairs = args.n * (args.n - 1) // 2
    density = rng.uniform(0.05, 0.3, size=(args.rows, 1))
    objects = (rng.random((args.rows, pairs)) < density).astype(np.uint8)

    try:
        t0 = time.perf_counter()
        outputs = {"user build isolated": variants["user build isolated"](objects, 123)}  # starts the worker
        worker_start_s = time.perf_counter() - t0
        outputs.update({name: fn(objects, 123) for name, fn in variants.items() if name not in outputs})
        for name, out in outputs.items():
            if not np.array_equal(out, outputs["bare _core calls"]):
                raise SystemExit(f"{name} returned different graphs from the bare calls: not the same computation")

        times: dict[str, list[float]] = {name: [] for name in variants}
        for rep in range(args.repeats):
            order = list(variants) if rep % 2 == 0 else list(reversed(variants))
            for name in order:
                t = time.perf_counter()
                variants[name](objects, 1000 + rep)
                times[name].append(time.perf_counter() - t)
    finally:
        isolated.close()

    median = {name: statistics.median(ts) for name, ts in times.items()}
    best = {name: min(ts) for name, ts in times.items()}
    pairs_compared = [("built-in via executor", "bare _core calls"),
                      ("built-in via executor", "hand-bound c4_local_search"),
                      ("user build in-process", "built-in via executor"),
                      ("user build isolated", "user build in-process")]
    # medians and minimums both: on a shared machine the minimum is the least disturbed call
    ratios = {f"{a} / {b}": {"median": median[a] / median[b], "min": best[a] / best[b]} for a, b in pairs_compared}
    print(f"C4-free local search, n = {args.n}, {args.rows} graphs per batch in chunks of {args.chunk_size}, "
          f"kick = {args.kick}, threads = {threads}, {args.repeats} repeats "
          f"({platform.processor() or platform.machine()}, {os.cpu_count()} cores)")
    print(f"user build: {'compiled' if build_s > 1 else 'cached'} in {build_s:.1f} s ({user.fn.build})")
    print(f"isolated worker: first batch {worker_start_s:.2f} s including process start and kernel load")
    for name, m in median.items():
        print(f"  {name:<27} median {m * 1e3:8.1f} ms   min {min(times[name]) * 1e3:8.1f} ms")
    for name, r in ratios.items():
        print(f"ratio {name}: {r['median']:.3f} (medians), {r['min']:.3f} (minimums)")
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "median_s": median,
                                         "times_s": times, "ratios": ratios, "worker_start_s": worker_start_s},
                                        indent=2) + "\n")


if __name__ == "__main__":
    main()

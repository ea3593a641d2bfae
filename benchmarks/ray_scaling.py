"""Local search throughput: the in-process backend against Ray with 1 and 2 workers, in one run.

Runs the built-in C4-free kernel on the same batch of random graphs through each executor
and prints candidates per second (best of --repeats). Every backend must return the same
rows (same chunks, same seeds); the script checks that before it prints anything.
A second block repeats the Ray runs at a larger chunk size, to show how much of the cost
is per-chunk scheduling.

    python benchmarks/ray_scaling.py                    # n = 30, 16384 graphs
    python benchmarks/ray_scaling.py --n 20 --rows 65536 --chunk-sizes 256 4096
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
import ray
from rich.console import Console
from rich.table import Table

from loopengine.config import ExecutionSettings
from loopengine.execution.local import LocalExecutor
from loopengine.execution.ray import RayExecutor
from loopengine.kernels.resolve import resolve_kernel


def timed(executor, kernel, objects, repeats: int) -> tuple[float, np.ndarray]:
    out = executor.run(kernel, objects, None, 7, {})  # warm-up: workers load the kernel
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        out = executor.run(kernel, objects, None, 7, {})
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=30, help="vertices (objects are n(n-1)/2 edge bits)")
    ap.add_argument("--rows", type=int, default=16384, help="graphs per batch")
    ap.add_argument("--chunk-sizes", type=int, nargs="+", default=[256, 2048])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    cpus = os.cpu_count() or 1
    rng = np.random.default_rng(0)
    objects = (rng.random((args.rows, args.n * (args.n - 1) // 2)) < 0.1).astype(np.uint8)
    kernel = resolve_kernel("c4free", None)
    ray.init(address="local", num_cpus=cpus, include_dashboard=False, logging_level="warning")
    table = Table(title=f"C4-free local search, n = {args.n}, {args.rows} graphs, {cpus} CPUs")
    for col in ("backend", "workers x threads", "chunk_size", "seconds", "candidates/s", "vs local"):
        table.add_column(col, justify="right")
    try:
        for chunk in args.chunk_sizes:
            base, reference = timed(LocalExecutor(ExecutionSettings(threads=0, chunk_size=chunk)),
                                    kernel, objects, args.repeats)
            table.add_row("local", f"1 x {cpus}", str(chunk), f"{base:.3f}", f"{args.rows / base:,.0f}", "1.00")
            # one thread in process vs one Ray worker: the difference is Ray's per-chunk cost
            single, _ = timed(LocalExecutor(ExecutionSettings(threads=1, chunk_size=chunk)),
                              kernel, objects, args.repeats)
            table.add_row("local", "1 x 1", str(chunk), f"{single:.3f}", f"{args.rows / single:,.0f}",
                          f"{base / single:.2f}")
            for workers in (1, 2):
                ex = RayExecutor(ExecutionSettings(backend="ray", threads=1, chunk_size=chunk), workers=workers)
                try:
                    seconds, out = timed(ex, kernel, objects, args.repeats)
                finally:
                    ex.close()
                assert np.array_equal(out, reference), "Ray returned different rows than the local backend"
                table.add_row("ray", f"{workers} x 1", str(chunk), f"{seconds:.3f}",
                              f"{args.rows / seconds:,.0f}", f"{base / seconds:.2f}")
    finally:
        ray.shutdown()
    Console().print(table)


if __name__ == "__main__":
    main()

"""The C++ integer kernels against numpy and a Python loop, on the same arrays, in one run,
at the same thread count on every side.

    python benchmarks/integer_kernels.py [--n 2000000] [--threads 1 2] [--repeat 5]

Targets (issue 4): at least numpy's throughput, and at least 50x the Python loop.
References: np.gcd, and vectorised (a * b) % p / (a + b) % p; a Python loop on a slice (it
is slow), scaled to per-element throughput: Euclid's algorithm written in Python for "gcd",
and a loop calling the C-coded math.gcd for "gcd [math.gcd]" (shown too, because that loop
is mostly interpreter overhead and the fairer, harder reference).
Fairness: each row runs every side on `t` threads (ours: its own thread pool; numpy: the
array split into t contiguous chunks on a thread pool, numpy releasing the GIL in its loops;
the Python loop: t worker processes, since threads would share one GIL) and times every side
best-of-`--repeat`. Throughput is wall-clock: on a shared machine, compare rows of one run.
"""
from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from loopengine import _core


def euclid(x: int, y: int) -> int:
    while y:
        x, y = y, x % y
    return abs(x)


def best_time(fn, repeat: int) -> float:
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def chunked(fn, threads: int, pool: ThreadPoolExecutor):
    """fn(lo, hi) on `threads` contiguous chunks of [0, n) at once, results concatenated."""
    def run(n: int):
        bounds = np.linspace(0, n, threads + 1).astype(int)
        parts = list(pool.map(lambda i: fn(bounds[i], bounds[i + 1]), range(threads)))
        return np.concatenate(parts)
    return run


# The Python-loop references take (lo, hi) so worker processes can split them; they read the
# module-level arrays that fork gives each worker.
DATA: dict[str, list] = {}


def py_gcd_euclid(lo: int, hi: int) -> list:
    return [euclid(x, y) for x, y in zip(DATA["a"][lo:hi], DATA["b"][lo:hi])]


def py_gcd_math(lo: int, hi: int) -> list:
    return [math.gcd(x, y) for x, y in zip(DATA["a"][lo:hi], DATA["b"][lo:hi])]


def py_gcd_verify(lo: int, hi: int) -> list:
    return [math.gcd(x, y) == z for x, y, z in zip(DATA["a"][lo:hi], DATA["b"][lo:hi], DATA["g"][lo:hi])]


def py_mul(lo: int, hi: int) -> list:
    p = DATA["p"]
    return [x * y % p for x, y in zip(DATA["a"][lo:hi], DATA["b"][lo:hi])]


def py_add(lo: int, hi: int) -> list:
    p = DATA["p"]
    return [(x + y) % p for x, y in zip(DATA["a"][lo:hi], DATA["b"][lo:hi])]


def py_mul_verify(lo: int, hi: int) -> list:
    p = DATA["p"]
    return [x * y % p == z for x, y, z in zip(DATA["a"][lo:hi], DATA["b"][lo:hi], DATA["m"][lo:hi])]


def _call(job):
    fn, lo, hi = job
    return fn(lo, hi)


def python_side(fn, n: int, threads: int, procs):
    """The loop on `threads` worker processes (or in this process for one thread)."""
    if threads == 1:
        return lambda: fn(0, n)
    bounds = np.linspace(0, n, threads + 1).astype(int)
    jobs = [(fn, int(bounds[i]), int(bounds[i + 1])) for i in range(threads)]
    return lambda: [x for part in procs.map(_call, jobs) for x in part]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2_000_000, help="pairs per batch")
    ap.add_argument("--python-n", type=int, default=200_000, help="pairs given to the Python loop")
    ap.add_argument("--max-operand", type=int, default=10**6)
    ap.add_argument("--modulus", type=int, default=67)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, os.cpu_count() or 1],
                    help="thread counts to compare at (every side uses the same)")
    ap.add_argument("--repeat", type=int, default=5, help="best-of-k for every side")
    args = ap.parse_args()

    rows = _core.int_gcd_generate(args.n, 1, args.max_operand, "uniform", "natural", 100, 1)
    a, b = np.ascontiguousarray(rows[:, 0]), np.ascontiguousarray(rows[:, 1])
    prompts, answers = np.ascontiguousarray(rows[:, :2]), np.ascontiguousarray(rows[:, 2])
    p = args.modulus
    mod_answers = (a * b) % p
    m = args.python_n
    DATA.update(a=a[:m].tolist(), b=b[:m].tolist(), g=answers[:m].tolist(), m=mod_answers[:m].tolist(), p=p)
    procs = multiprocessing.get_context("fork").Pool(max(args.threads)) if max(args.threads) > 1 else None

    print(f"{args.n:,} pairs (Python loop: {m:,}), operands <= {args.max_operand:,}, best of {args.repeat} "
          f"for every side, cores on this machine: {os.cpu_count()}")
    print(f"{'kernel':<18}{'threads':>8}{'ours Mop/s':>12}{'numpy Mop/s':>13}{'python Mop/s':>14}"
          f"{'vs numpy':>10}{'vs python':>11}")
    for t in sorted(set(args.threads)):
        with ThreadPoolExecutor(t) as pool:
            # Every case: (name, ours, numpy on chunks (lo, hi), python loop); all agree before timing.
            cases = [
                ("gcd", lambda: _core.int_gcd_batch(a, b, t), lambda lo, hi: np.gcd(a[lo:hi], b[lo:hi]), py_gcd_euclid),
                ("gcd [math.gcd]", lambda: _core.int_gcd_batch(a, b, t), lambda lo, hi: np.gcd(a[lo:hi], b[lo:hi]),
                 py_gcd_math),
                ("gcd verify", lambda: _core.int_gcd_verify(prompts, answers, t),
                 lambda lo, hi: np.gcd(prompts[lo:hi, 0], prompts[lo:hi, 1]) == answers[lo:hi], py_gcd_verify),
                (f"a*b mod {p}", lambda: _core.int_mod_batch(a, b, p, "mul", t),
                 lambda lo, hi: (a[lo:hi] * b[lo:hi]) % p, py_mul),
                (f"a+b mod {p}", lambda: _core.int_mod_batch(a, b, p, "add", t),
                 lambda lo, hi: (a[lo:hi] + b[lo:hi]) % p, py_add),
                ("modmul verify", lambda: _core.int_mod_verify(prompts, mod_answers, p, "mul", t),
                 lambda lo, hi: (prompts[lo:hi, 0] * prompts[lo:hi, 1]) % p == mod_answers[lo:hi], py_mul_verify),
                ("gcd generate", lambda: _core.int_gcd_generate(args.n, 2, args.max_operand, "uniform", "natural",
                                                                100, t), None, None),
            ]
            for name, ours, ref, loop in cases:
                rate = lambda sec, n=args.n: n / sec / 1e6  # noqa: E731
                t_ours = best_time(ours, args.repeat)
                line = f"{name:<18}{t:>8}{rate(t_ours):>12.1f}"
                if ref is None:
                    print(line + f"{'-':>13}{'-':>14}{'-':>10}{'-':>11}", flush=True)
                    continue
                numpy_side = lambda: chunked(ref, t, pool)(args.n)  # noqa: E731
                python_loop = python_side(loop, m, t, procs)
                assert np.array_equal(np.asarray(ours()), np.asarray(numpy_side())), name
                assert np.asarray(ours())[:m].tolist() == list(python_loop()), name
                t_np = best_time(numpy_side, args.repeat)
                t_py = best_time(python_loop, args.repeat)
                r_py = rate(t_py, m)
                print(line + f"{rate(t_np):>13.1f}{r_py:>14.2f}{t_np / t_ours:>9.1f}x{rate(t_ours) / r_py:>10.0f}x",
                      flush=True)
    if procs is not None:
        procs.close()


if __name__ == "__main__":
    main()

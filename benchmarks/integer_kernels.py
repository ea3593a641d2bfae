"""The C++ integer kernels against numpy and a Python loop, on the same arrays, in one run.

    python benchmarks/integer_kernels.py [--n 2000000] [--threads 0]

Targets (issue 4): at least numpy's throughput, and at least 50x the Python loop.
numpy reference: np.gcd, and vectorised (a * b) % p / (a + b) % p. The Python loop is timed on
a slice (it is slow) and scaled to per-element throughput: Euclid's algorithm written in
Python for "gcd", and a loop calling the C-coded math.gcd for "gcd [math.gcd]" (shown too,
because that loop is mostly interpreter overhead and the fairer, harder reference).
Throughput is wall-clock: on a shared machine, run it when the cores are idle.
"""
from __future__ import annotations

import argparse
import math
import time

import numpy as np

from loopengine import _core


def euclid(x: int, y: int) -> int:
    while y:
        x, y = y, x % y
    return abs(x)


def best_time(fn, repeat: int = 5) -> float:
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2_000_000, help="pairs per batch")
    ap.add_argument("--python-n", type=int, default=200_000, help="pairs given to the Python loop")
    ap.add_argument("--max-operand", type=int, default=10**6)
    ap.add_argument("--modulus", type=int, default=67)
    ap.add_argument("--threads", type=int, default=0, help="kernel threads (0 = all cores)")
    args = ap.parse_args()

    rows = _core.int_gcd_generate(args.n, 1, args.max_operand, "uniform", "natural", 100, args.threads)
    a, b = np.ascontiguousarray(rows[:, 0]), np.ascontiguousarray(rows[:, 1])
    prompts, answers = np.ascontiguousarray(rows[:, :2]), np.ascontiguousarray(rows[:, 2])
    pa, pb = a[: args.python_n].tolist(), b[: args.python_n].tolist()
    p = args.modulus
    mod_answers = (a * b) % p

    # Every case: (name, ours, numpy, python loop); all must agree before anything is timed.
    cases = [
        ("gcd", lambda: _core.int_gcd_batch(a, b, args.threads), lambda: np.gcd(a, b),
         lambda: [euclid(x, y) for x, y in zip(pa, pb)]),
        ("gcd [math.gcd]", lambda: _core.int_gcd_batch(a, b, args.threads), lambda: np.gcd(a, b),
         lambda: [math.gcd(x, y) for x, y in zip(pa, pb)]),
        ("gcd verify", lambda: _core.int_gcd_verify(prompts, answers, args.threads),
         lambda: np.gcd(prompts[:, 0], prompts[:, 1]) == answers,
         lambda: [math.gcd(x, y) == z for x, y, z in zip(pa, pb, answers[: args.python_n].tolist())]),
        (f"a*b mod {p}", lambda: _core.int_mod_batch(a, b, p, "mul", args.threads), lambda: (a * b) % p,
         lambda: [x * y % p for x, y in zip(pa, pb)]),
        (f"a+b mod {p}", lambda: _core.int_mod_batch(a, b, p, "add", args.threads), lambda: (a + b) % p,
         lambda: [(x + y) % p for x, y in zip(pa, pb)]),
        (f"modmul verify", lambda: _core.int_mod_verify(prompts, mod_answers, p, "mul", args.threads),
         lambda: (prompts[:, 0] * prompts[:, 1]) % p == mod_answers,
         lambda: [x * y % p == z for x, y, z in zip(pa, pb, mod_answers[: args.python_n].tolist())]),
        ("gcd generate", lambda: _core.int_gcd_generate(args.n, 2, args.max_operand, "uniform", "natural", 100,
                                                        args.threads), None, None),
    ]
    print(f"{args.n:,} pairs, operands <= {args.max_operand:,}, threads={args.threads or 'all'}")
    print(f"{'kernel':<18}{'ours Mop/s':>12}{'numpy Mop/s':>13}{'python Mop/s':>14}{'vs numpy':>10}{'vs python':>11}")
    for name, ours, ref, loop in cases:
        if ref is not None:
            assert np.array_equal(np.asarray(ours()), np.asarray(ref())), name
            assert np.asarray(ours())[: args.python_n].tolist() == list(loop()), name
        t_ours = best_time(ours)
        rate = lambda t, n=args.n: n / t / 1e6  # noqa: E731
        line = f"{name:<18}{rate(t_ours):>12.1f}"
        if ref is None:
            print(line + f"{'-':>13}{'-':>14}{'-':>10}{'-':>11}")
            continue
        t_np = best_time(ref)
        t_py = best_time(loop, repeat=1)
        r_py = rate(t_py, args.python_n)
        print(line + f"{rate(t_np):>13.1f}{r_py:>14.2f}{t_np / t_ours:>9.1f}x{rate(t_ours) / r_py:>10.0f}x")


if __name__ == "__main__":
    main()

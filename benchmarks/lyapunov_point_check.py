"""C++ falsifier vs sympy.lambdify + numpy on the same V, f and points.

Both compute, at every point, V and V' = grad V . f and count points with V <= 0 or V' > 0
(the C++ check additionally guards the comparisons with a relative tolerance; on these
inputs the counts agree, which is asserted). Prints points/second and the speed ratio.

Both sides are warmed up once (module import, first-touch allocations) and then timed
--repeat times; the median is reported for each, so machine load hits both alike. The
reference's one-off set-up (sp.diff + lambdify per candidate) is timed once and reported
separately, as is the ratio including it.

    python benchmarks/lyapunov_point_check.py [--rows 400] [--threads 1] [--repeat 7]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import sympy as sp

from loopengine.problems.lyapunov.backward import BackwardSpec, backward_example
from loopengine.problems.lyapunov.falsify import check, sample_points
from loopengine.problems.lyapunov.polynomials import Layout, dict_to_vector, to_sympy, vector_to_dict


def median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=400)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--per-scale", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    spec = BackwardSpec(n_min=3, n_max=3)
    layout = Layout(3, spec.f_degree, spec.v_degree, spec.coef_bound, spec.max_terms)
    rng = np.random.default_rng(0)
    examples = [backward_example(rng, spec) for _ in range(args.rows)]
    rows = layout.empty(len(examples))
    for r, (n, f, v) in enumerate(examples):
        rows[r, 0] = n
        fb = rows[r, layout.f_slice].reshape(layout.n_max, layout.mf)
        for i, eq in enumerate(f):
            fb[i] = dict_to_vector(eq, layout.f_basis)
        rows[r, layout.v_slice] = dict_to_vector(v, layout.v_basis)
    # perturb half of the V's so that violations exist and both sides must find them
    rows[::2, layout.v_slice] += np.where(rows[::2, layout.v_slice] != 0, 0, 0) + \
        (rng.random((len(rows[::2]), layout.mv)) < 0.1) * rng.integers(-2, 3, (len(rows[::2]), layout.mv))
    points = sample_points(1, 3, args.per_scale)
    total_points = len(rows) * len(points)

    fast = check(rows, points, args.threads)[:, 0]  # warm-up
    t_cpp = median_time(lambda: check(rows, points, args.threads), 5 * args.repeat)  # cheap: more samples

    xs = list(sp.symbols("x0:3"))
    x = [points[:, i] for i in range(3)]
    t0 = time.perf_counter()
    funcs = []
    for row in rows:  # building V' and lambdify: the reference's one-off cost per candidate
        n, fb = layout.system_of(row)
        V = to_sympy(vector_to_dict(layout.v_of(row), layout.v_basis, n), n)
        f = [to_sympy(vector_to_dict(fb[i], layout.f_basis, n), n) for i in range(n)]
        vdot = sum(sp.diff(V, xs[i]) * f[i] for i in range(n))
        funcs.append((sp.lambdify(xs, V, "numpy"), sp.lambdify(xs, vdot, "numpy")))
    t_build = time.perf_counter() - t0

    def reference() -> np.ndarray:
        ref = np.zeros(len(rows))
        for r, (fv, fd) in enumerate(funcs):
            vv = np.broadcast_to(fv(*x), len(points))
            dd = np.broadcast_to(fd(*x), len(points))
            ref[r] = np.sum((vv <= 0) | (dd > 1e-9 * np.maximum(1.0, np.abs(dd))))
        return ref

    ref = reference()  # warm-up
    t_ref = median_time(reference, args.repeat)
    agree = float(np.mean(np.abs(fast - ref) <= 0.01 * len(points)))
    print(f"rows {len(rows)}, points per row {len(points)}, threads {args.threads}, median of {args.repeat} runs")
    print(f"C++ check:            {t_cpp:8.4f} s  {total_points / t_cpp:14.0f} points/s")
    print(f"sympy.lambdify+numpy: {t_ref:8.4f} s  {total_points / t_ref:14.0f} points/s (evaluation only)")
    print(f"  + lambdify/diff:    {t_build:8.4f} s  {total_points / (t_ref + t_build):14.0f} points/s (with set-up)")
    print(f"ratio (evaluation only): {t_ref / t_cpp:.1f}x   ratio (with set-up): {(t_ref + t_build) / t_cpp:.1f}x")
    print(f"rows with matching violation counts (within 1% of points): {agree:.2%} "
          "(differences: points where V' is 0 up to rounding; C++ uses a relative tolerance)")

if __name__ == "__main__":
    main()

"""The public Lyapunov benchmarks (BPoly, FBarr, FLyap, FSOSTOOL; Alfarano, Charton, Hayat,
arXiv 2410.08304): for each file, the fraction of systems certified by
  loop       the loop's search and certification machinery for one system, without a trained
             model (Problem in mode "one": random V starts -> C++ local search -> sampler ->
             exact SOS certification of the best few, then the SDP search of V if no GAS
             proof yet, first attempt only), V degree 4 then 6, repeated from
             fresh random starts while at least 20% of the time limit is left;
  baseline   direct SOS search with V unknown (baseline.py, findlyap style, degrees 2..6);
  sdp_search the loop's SDP search of V on its own (v_search.py: quadratic forms in pure powers,
             sparse V'), for transparency: the loop runs it inside finalize (--sdp-seconds);
  reference  the V shipped with each system, through the same exact check as `loopengine check`;
  proposer   "proposer first": the shipped pretrained proposer (--proposer, default
             pretrained:lyapunov) samples k V for the system (--k), each one that passes the
             sampler goes through the exact check, then the SDP search with the time left.
             Systems outside the proposer's range (n, degree, prompt length of tasks/lyapunov.toml)
             go straight to the SDP search, and are counted in the "proposer_fit" column.
"Certified" = globally asymptotically stable or globally stable (exact rational SOS proofs for
the system exactly as written in the file). Every method runs in a child process with a hard
per-system time limit (over-limit counts as not certified). Two times are recorded per system:
`<method>_s`, the wall time of the child (process start included), and `<method>_work_s`, the
method's own time measured inside the child. The child is forked from a parent that has already
imported the modules (cvxpy, torch) and loaded the proposer, so work_s is what a user pays per
system in one session, where those costs are paid once: the proposer-first speed comparison
(the "timing" section of the .md) reads work_s.

    nice -n 10 python benchmarks/lyapunov_meta.py [DATA_DIR] --per-file 25 --time-limit 60
    ... --files BPoly --first 25 --per-file 50 --methods sdp_search,loop   (a slice, some methods)

DATA_DIR defaults to ../shared/data/lyapunov_meta relative to the repository (read only).
Writes benchmarks/results/lyapunov_meta.json (every system) and .md (the table).
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FILES = ("BPoly", "FBarr", "FLyap", "FSOSTOOL")


def method_reference(n, f, v_ref, seed):
    from loopengine.problems.lyapunov.certificate import certify

    return certify(v_ref, f, n).status


def method_baseline(n, f, v_ref, seed, time_limit):
    from loopengine.problems.lyapunov.baseline import find_lyapunov

    return find_lyapunov(f, n, max_degree=6, time_limit=time_limit).status


def method_sdp_search(n, f, v_ref, seed, time_limit):
    """The loop's SDP search of V alone (v_search.py), each candidate through certify."""
    from loopengine.problems.lyapunov.certificate import PROVEN, certify
    from loopengine.problems.lyapunov.v_search import candidates

    start, status = time.perf_counter(), "none found"
    for v in candidates(f, n, time_limit=time_limit):
        status = certify(v, f, n).status
        if status in PROVEN or time.perf_counter() - start > time_limit:
            break
    return status


_LOADED: dict = {}  # what the parent loads once and every forked child inherits (warm_up)


def proposer_problem():
    """The main job's Lyapunov problem: its layout and prompt length are what the shipped
    proposer reads."""
    if "problem" not in _LOADED:
        from loopengine.config import load_task
        from loopengine.problems import make_problem
        from lyapunov_proposer import MAIN_TASK

        task, _ = load_task(MAIN_TASK, [])
        _LOADED["problem"] = task, make_problem("lyapunov", task.problem, MAIN_TASK, MAIN_TASK.parent)
    return _LOADED["problem"]


def proposer_model(source: str):
    if ("model", source) not in _LOADED:
        from lyapunov_proposer import load_model

        task, problem = proposer_problem()
        _LOADED["model", source] = load_model(source, problem, task)
    return _LOADED["model", source]


def warm_up(methods: list[str], proposer: str) -> None:
    """Import the solver stack, and load the proposer, in the parent before any child forks:
    a session pays these once, and the per-system times should not charge them to a method.
    One small certification runs too (cvxpy's first solve builds caches)."""
    from fractions import Fraction

    from loopengine.problems.lyapunov.certificate import certify

    certify({(2, 0): Fraction(1), (0, 2): Fraction(1)}, [{(1, 0): Fraction(-1)}, {(0, 1): Fraction(-1)}], 2)
    if "proposer" in methods:
        proposer_model(proposer)


def in_proposer_range(problem, f) -> bool:
    from loopengine.problems.lyapunov import tokens as T

    return problem._fits_layout(f) is None and len(T.system_tokens(f)) <= problem.settings.max_prompt_tokens


def method_proposer(n, f, v_ref, seed, time_limit, proposer="pretrained:lyapunov", k=16):
    """(status, whether the proposer could read the system): k proposals, then the SDP search."""
    from loopengine.problems.lyapunov.certificate import PROVEN, certify
    from loopengine.problems.lyapunov.systems import integer_scaled
    from lyapunov_proposer import propose

    start = time.perf_counter()
    task, problem = proposer_problem()
    fits = in_proposer_range(problem, f)
    if fits:
        model = proposer_model(proposer)
        prompt = problem.system_row(n, integer_scaled(f))[None]
        for v in propose(problem, model, prompt, k, 0.8, seed):
            status = certify(v, f, n).status
            if status in PROVEN:
                return status, "proposer"
            if time.perf_counter() - start > time_limit:
                return "time limit", "proposer"
    status = method_sdp_search(n, f, v_ref, seed, time_limit - (time.perf_counter() - start))
    return status, "sdp search" if fits else "sdp search (system outside the proposer's range)"


def method_loop(n, f, v_ref, seed, time_limit, degrees=(4, 6), sdp_seconds=10.0):
    import numpy as np

    from loopengine.problems import make_problem
    from loopengine.problems.lyapunov.certificate import PROVEN
    from loopengine.problems.lyapunov.falsify import local_search
    from loopengine.problems.lyapunov.polynomials import poly_text, system_degree

    start, status = time.perf_counter(), "none found"
    # V degrees in order (4 then 6 by default); while time is left, again from fresh random starts
    for attempt, v_degree in ((a, d) for a in range(100) for d in degrees):
        left = time_limit - (time.perf_counter() - start)
        if left <= 0.2 * time_limit:
            break
        seed += attempt * (v_degree == degrees[0])  # seeds 0, 1, 3, 6, ...: distinct, reproducible
        problem = make_problem("lyapunov", {
            "mode": "one", "f": [poly_text(eq, "**") for eq in f], "v_degree": v_degree,
            "f_degree": max(1, system_degree(f)), "max_terms": 12, "coef_bound": 50, "start_terms": 4,
            "certify_seconds": max(1.0, left * 0.6), "certify_per_target": 4,
            "sdp_search_seconds": sdp_seconds if attempt == 0 and v_degree == degrees[0] else 0.0}, "benchmark")
        pool = problem.initial_pool(np.random.default_rng(seed), 64)
        pool.objects = local_search(pool.objects, None, seed, 1, steps=1500)
        problem.evaluate(pool, 1)
        with tempfile.TemporaryDirectory() as tmp:
            status = problem.finalize(Path(tmp), pool).table.rows[0][3]
        if status in PROVEN:
            break
    return status


def _child(conn, name, args):
    start = time.perf_counter()
    try:
        value = METHODS[name](*args)
        conn.send(("ok", value, time.perf_counter() - start))
    except Exception as exc:  # a crash is a result to report, not a reason to stop the benchmark
        conn.send(("error", f"{type(exc).__name__}: {exc}"[:200], time.perf_counter() - start))


METHODS = {"reference": method_reference, "baseline": method_baseline, "sdp_search": method_sdp_search,
           "loop": method_loop, "proposer": method_proposer}


def run_limited(name, args, time_limit):
    """(status, wall seconds, note, work seconds) of one method on one system in a child process
    killed at the limit (work seconds None then); a method may return (status, note) to say which
    of its parts decided (proposer)."""
    ctx = mp.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(send, name, args))
    t0 = time.perf_counter()
    proc.start()
    status, note, work = "time limit", None, None
    if recv.poll(time_limit + 5):
        kind, value, work = recv.recv()
        if kind == "ok" and isinstance(value, tuple):
            value, note = value
        status = value if kind == "ok" else f"error ({value})"
    proc.join(1)
    if proc.is_alive():
        proc.kill()
        proc.join()
    return status, time.perf_counter() - t0, note, work


def write_results(args, methods, records, started, finished: bool) -> str:
    """The .json (every system) and .md (the table); called after every system, so a run
    stopped early leaves its partial results (meta.finished says which)."""
    from loopengine.problems.lyapunov.certificate import PROVEN

    summary = {}
    for fname in dict.fromkeys(r["file"] for r in records):
        rows = [r for r in records if r["file"] == fname]
        summary[fname] = {"systems": len(rows), **{m: sum(r[m] in PROVEN for r in rows) for m in methods},
                          **{m + "_mean_s": round(sum(r[m + "_s"] for r in rows) / max(1, len(rows)), 2)
                             for m in methods}}
    meta = {"first": args.first, "per_file": args.per_file, "time_limit_s": args.time_limit, "seed": args.seed,
            "loop_degrees": args.loop_degrees, "sdp_seconds": args.sdp_seconds, "finished": finished,
            "wall_s": round(time.time() - started, 1),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared)",
            "load_average_end": os.getloadavg()}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "summary": summary, "systems": records}, indent=1))
    head = "| file | systems | " + " | ".join(f"{m} certified" for m in methods) + " | " + \
           " | ".join(f"{m} s/system" for m in methods) + " |"
    lines = [head, "|" + "---|" * (2 + 2 * len(methods))]
    for fname, s in summary.items():
        lines.append(f"| {fname} | {s['systems']} | " + " | ".join(str(s[m]) for m in methods) + " | " +
                     " | ".join(str(s[m + '_mean_s']) for m in methods) + " |")
    span = f"systems {args.first}..{args.first + args.per_file - 1} of each file"
    text = (f"# Lyapunov benchmark files ({span}, {args.time_limit:.0f} s limit per system and method"
            f"{'' if finished else '; PARTIAL: the run was stopped before the end'})\n\n"
            + "\n".join(lines) + "\n\n" + proposer_timing(records, methods) + f"{json.dumps(meta)}\n")
    out.with_suffix(".md").write_text(text)
    return text


def proposer_timing(records: list[dict], methods: list[str]) -> str:
    """The proposer's speed against the SDP search alone, in work seconds (inside the child,
    modules and model already loaded), on the systems the proposer's own V proved and the SDP
    search proved too: medians, the median per-system ratio, and how many are 10x faster."""
    from statistics import median

    from loopengine.problems.lyapunov.certificate import PROVEN

    if not {"proposer", "sdp_search"} <= set(methods):
        return ""
    both = [r for r in records if r.get("proposer_by") == "proposer" and r["sdp_search"] in PROVEN
            and r.get("proposer_work_s") and r.get("sdp_search_work_s")]
    own = [r for r in records if r.get("proposer_by") == "proposer" and r["proposer"] in PROVEN]
    if not both:
        return f"Proposer's own V proved {len(own)} systems; none also proven by the SDP search alone.\n\n"
    ratios = [r["sdp_search_work_s"] / r["proposer_work_s"] for r in both]
    return (f"Timing (work seconds: inside the child, modules and proposer loaded once per session): "
            f"the proposer's own V proved {len(own)} systems; on the {len(both)} of them the SDP search alone "
            f"proved too, median {median(r['proposer_work_s'] for r in both):.3f} s (proposer first) against "
            f"{median(r['sdp_search_work_s'] for r in both):.3f} s (SDP search alone); median per-system ratio "
            f"{median(ratios):.1f}x; {sum(x >= 10 for x in ratios)} of {len(both)} systems at least 10x faster.\n\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", nargs="?", default=str(REPO.parent / "shared" / "data" / "lyapunov_meta"))
    ap.add_argument("--first", type=int, default=0, help="index of the first system of each file")
    ap.add_argument("--per-file", type=int, default=25, help="K systems of each file from --first (200 = all)")
    ap.add_argument("--time-limit", type=float, default=60.0, help="seconds per system and method")
    ap.add_argument("--methods", default="reference,baseline,sdp_search,loop")
    ap.add_argument("--files", default=",".join(FILES))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--loop-degrees", default="4,6", help="V degrees the loop tries, in order")
    ap.add_argument("--sdp-seconds", type=float, default=10.0, help="the loop's SDP search budget per system")
    ap.add_argument("--proposer", default="pretrained:lyapunov", help="proposer method: pretrained:NAME or a run")
    ap.add_argument("--k", type=int, default=16, help="proposer method: proposals per system")
    ap.add_argument("--proposer-range", action="store_true",
                    help="only the systems the proposer can read (outside it, 'proposer' runs the SDP search "
                         "alone, the same code as the sdp_search method)")
    ap.add_argument("--outside-proposer-range", action="store_true",
                    help="only the systems the proposer cannot read: there 'proposer first' is the SDP search "
                         "alone, so --methods sdp_search measures both arms at once")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "lyapunov_meta"))
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    from loopengine.problems.lyapunov.meta_format import read_line

    methods = args.methods.split(",")
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        ap.error(f"--methods: unknown {unknown}; expected some of {list(METHODS)}")
    warm_up(methods, args.proposer)
    data = Path(args.data)
    if args.proposer_range and args.outside_proposer_range:
        ap.error("--proposer-range and --outside-proposer-range exclude each other")
    range_problem = proposer_problem()[1] if args.proposer_range or args.outside_proposer_range else None
    records, started = [], time.time()
    for fname in args.files.split(","):
        lines = (data / fname).read_text().splitlines()[args.first: args.first + args.per_file]
        for i, line in enumerate(lines, start=args.first):
            n, f, v_ref = read_line(line)
            if range_problem is not None and in_proposer_range(range_problem, f) != args.proposer_range:
                continue
            rec = {"file": fname, "index": i, "n": n}
            for m in methods:
                extra = () if m == "reference" else (args.time_limit,)
                if m == "loop":
                    extra += (tuple(int(d) for d in args.loop_degrees.split(",")), args.sdp_seconds)
                if m == "proposer":
                    extra += (args.proposer, args.k)
                rec[m], rec[m + "_s"], note, rec[m + "_work_s"] = run_limited(m, (n, f, v_ref, args.seed, *extra),
                                                                               args.time_limit)
                if note is not None:
                    rec[m + "_by"] = note
            records.append(rec)
            print(json.dumps(rec), flush=True)
            write_results(args, methods, records, started, finished=False)
    print(write_results(args, methods, records, started, finished=True))


if __name__ == "__main__":
    main()

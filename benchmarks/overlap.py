"""Fine-tuning overlapped with the next generation's search, against the sequential loop.

    python benchmarks/overlap.py TASK --generations G [--repeats R] [--set KEY=VALUE ...] [--name NAME]

Runs the task's first G generations with `train.overlap = "on"` and with `"off"`, R times each,
alternating (so both see the same machine load), in this process after one untimed warm-up
run, and reports each run's wall time of generations, the ratio off / on, and the seconds the
overlap hid: the training's own seconds (`train_own`), how long the loop still waited for it
after the next generation's search (`train_wait`), and that search (`search_next`). It also
checks that both settings wrote the same candidates in every generation (they must: loop.py,
Loop.train_overlapped).

The default "auto" turns the overlap on only when the model is on a GPU: on a CPU the
training and the C++ kernels share the same cores, so there it is expected to gain little or
nothing; this script is how to see it on a given machine (benchmarks/gpu/run_all.sh runs it
on the GPU).

Writes benchmarks/results/overlap_<name>.md.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from loopengine.config import load_task
from loopengine.progress import RunProgress
from loopengine.rundir import archive
from loopengine.session import build_loop

RESULTS = Path(__file__).resolve().parent / "results"
SETTINGS = ("off", "on")


def run_once(task_path: Path, overrides: list[str], generations: int, overlap: str, keep: Path) -> dict[str, Any]:
    """G generations with train.overlap = `overlap` into `keep`/run; wall time of the
    generations and each generation's timings."""
    task, raw = load_task(task_path, [*overrides, f'train.overlap="{overlap}"', f"task.generations={generations}"])
    run_dir = keep / "run"
    loop = build_loop(task, task_path, task_path.parent, run_dir, quiet=True)
    archive.create_run(run_dir, raw, task_path.parent)
    timings = []
    t0 = time.perf_counter()
    try:
        with RunProgress(generations, quiet=True) as progress:
            for g in range(generations):
                timings.append(loop.generation(g, progress, next_runs=g + 1 < generations)["timings"])
    finally:
        loop.executor.close()
    return {"wall": time.perf_counter() - t0, "timings": timings, "device": str(loop.device), "run_dir": run_dir}


def same_candidates(a: Path, b: Path, generations: int) -> bool:
    return all(pq.read_table(a / f"gen_{g:04d}" / "candidates.parquet").equals(
        pq.read_table(b / f"gen_{g:04d}" / "candidates.parquet")) for g in range(generations))


def hidden(timings: list[dict[str, float]]) -> tuple[float, float, float]:
    """Summed over the overlapped generations: training seconds, seconds still waited for
    it, and the next generation's search done meanwhile."""
    rows = [t for t in timings if "search_next" in t]
    return (sum(t["train_own"] for t in rows), sum(t["train_wait"] for t in rows),
            sum(t["search_next"] for t in rows))


def walls(runs: list[dict]) -> str:
    return ", ".join(f"{r['wall']:.2f}" for r in runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("task", type=Path)
    ap.add_argument("--generations", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--name", default=None)
    ap.add_argument("--out", type=Path, default=RESULTS, help="folder for the results file")
    args = ap.parse_args()
    name = args.name or args.task.stem
    load_before = os.getloadavg()
    runs: dict[str, list[dict]] = {s: [] for s in SETTINGS}
    identical = True
    with tempfile.TemporaryDirectory() as tmp:
        # untimed: the first run in a process pays for imports, kernel loading and allocator warm-up
        run_once(args.task, args.set, min(2, args.generations), "on", Path(tmp) / "warm-up")
        for r in range(args.repeats):
            for s in SETTINGS:
                runs[s].append(run_once(args.task, args.set, args.generations, s, Path(tmp) / f"{s}{r}"))
                print(f"repeat {r} overlap {s}: {runs[s][-1]['wall']:.2f} s", flush=True)
            identical &= same_candidates(runs["off"][-1]["run_dir"], runs["on"][-1]["run_dir"], args.generations)
    load_after = os.getloadavg()
    med = {s: statistics.median(x["wall"] for x in runs[s]) for s in SETTINGS}
    train, wait, search = hidden(runs["on"][0]["timings"])
    lines = [
        f"# Overlapped fine-tuning against the sequential loop: {name}", "",
        f"{datetime.date.today()}: `python benchmarks/overlap.py {args.task} --generations {args.generations} "
        f"--repeats {args.repeats}{''.join(f' --set {s}' for s in args.set)}`; model on "
        f"{runs['on'][0]['device']}; {platform.machine()} with {os.cpu_count()} cores, load average "
        f"{' '.join(f'{x:.2f}' for x in load_before)} before, {' '.join(f'{x:.2f}' for x in load_after)} after.", "",
        "| train.overlap | wall time of the generations per repeat (s) | median (s) |",
        "|---|---|---|",
        *(f"| {s} | {walls(runs[s])} | {med[s]:.2f} |" for s in SETTINGS),
        "",
        f"Sequential over overlapped (median): **{med['off'] / med['on']:.2f}x**. "
        f"Same candidates in every generation: {'yes' if identical else 'NO'}.", "",
        f"First overlapped repeat, summed over its overlapped generations: training {train:.2f} s, "
        f"of which the loop still waited {wait:.2f} s after the next generation's search ({search:.2f} s).",
    ]
    text = "\n".join(lines) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"overlap_{name}.md"
    path.write_text(text)
    print(text)
    print(f"wrote {path}")
    if not identical:
        raise SystemExit("overlap changed the candidates: a bug (loop.py, Loop.train_overlapped)")


if __name__ == "__main__":
    main()

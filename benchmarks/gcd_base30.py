"""GCD in base 30 with a small model on the CPU: held-out accuracy against the base's ceiling.

A model trained on uniform operands learns the gcds whose primes all divide the base; in base
30 they carry 95.0% of the natural distribution (Charton, arXiv 2308.15594). This runs the
engine's own loop from tasks/gcd.toml (or --task) until a wall-clock budget is spent and
prints accuracy vs ceiling after each generation.

    python benchmarks/gcd_base30.py --minutes 30            # the issue's target budget
    python benchmarks/gcd_base30.py --minutes 5 --set train.batch_size=64
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from loopengine.config import load_task
from loopengine.progress import RunProgress
from loopengine.rundir import archive
from loopengine.session import build_loop

ROOT = Path(__file__).resolve().parents[1]


def run_loop(task_file: Path, overrides: list[str], generations: int, minutes: float | None = None,
             quiet: bool = True, on_generation=None) -> list[dict[str, Any]]:
    """Run up to `generations` generations of the loop (stopping once `minutes` have passed)
    in a scratch directory; returns each generation's metrics with the wall time so far."""
    task, raw = load_task(task_file, overrides + [f"task.generations={generations}"])
    out = Path(tempfile.mkdtemp(prefix="loopengine-bench-"))
    try:
        run_dir = out / task.task.name
        loop = build_loop(task, task_file, task_file.parent, run_dir, quiet)
        archive.create_run(run_dir, raw, task_file.parent)
        history, start = [], time.perf_counter()
        with RunProgress(generations, quiet=quiet) as progress:
            for g in range(generations):
                metrics = loop.generation(g, progress, next_runs=g + 1 < generations)
                progress.generation_done(metrics)
                metrics["wall"] = time.perf_counter() - start
                history.append(metrics)
                if on_generation:
                    on_generation(metrics)
                if minutes is not None and metrics["wall"] > 60 * minutes:
                    break
        loop.executor.close()
        return history
    finally:
        shutil.rmtree(out, ignore_errors=True)


def examples_seen(metrics: dict[str, Any], train) -> int:
    """Training examples up to and including this generation (first_steps, then steps each)."""
    g = metrics["generation"]
    return (train.first_steps + g * train.steps) * train.batch_size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", type=Path, default=ROOT / "tasks" / "gcd.toml")
    ap.add_argument("--minutes", type=float, default=30.0, help="wall-clock budget (checked after each generation)")
    ap.add_argument("--max-generations", type=int, default=1000,
                    help="also the length of a train.lr_final decay: set it to what fits the budget")
    ap.add_argument("--set", dest="overrides", action="append", default=[],
                    help="override a task key: section.key=value")
    args = ap.parse_args()

    def show(m: dict[str, Any]) -> None:
        mm = m["model"]
        ceiling = (f"ceiling {mm['ceiling']:.2%} ({mm['accuracy'] / mm['ceiling']:.1%} of it)  "
                   if "ceiling" in mm else "")
        print(f"gen {m['generation']:>3}  {m['wall'] / 60:5.1f} min  {examples_seen(m, task_train):>10,} examples  "
              f"{m['timings']['train']:.0f}s train  accuracy {mm['accuracy']:.2%}  {ceiling}"
              f"correct gcds {mm['correct_gcds']}  rule {mm['rule_agreement']:.1%}", flush=True)

    task_train = load_task(args.task, args.overrides)[0].train
    history = run_loop(args.task, args.overrides, args.max_generations, args.minutes, on_generation=show)
    best = max(history, key=lambda m: m["model"]["accuracy"])
    last = history[-1]["model"]
    versus = f" vs ceiling {last['ceiling']:.2%}" if "ceiling" in last else ""
    seen = examples_seen(history[-1], task_train)
    print(f"\nfinal: accuracy {last['accuracy']:.2%}{versus}, {last['correct_gcds']} correct gcds after "
          f"{history[-1]['wall'] / 60:.1f} min and {seen:,} training examples ({seen / history[-1]['wall']:.0f} "
          f"examples/s of wall time); best {best['model']['accuracy']:.2%} at generation {best['generation']}")
    print(f"learned gcds: {last['learned_gcds']}")
    print(f"rule divisors: {last['rule_divisors']}  (predictions following the rule: {last['rule_agreement']:.1%})")


if __name__ == "__main__":
    main()

"""The collapse guard, switched on and off: same task, same seeds, same budget.

Two self-training loops, each run twice per seed:
- C4-free graphs (unconditional): the model's samples go through local search and back into
  training. Guard on: verified, deduplicated, ranked, elite replay, temperature control.
  Guard off (`[selection] guard = false`, `sampling.min_unique_fraction = 0`): the first
  `keep` candidates as they come. Elites do not re-enter local search in either arm, so the
  model is the only memory the loop has.
- GCD (conditional): after generation 0 (trained on generated, correct examples) the model
  trains on its own answers to new prompts (`generator_fraction`, default 0: pure
  self-training). Guard on: only answers the verifier accepts. Guard off: whatever it said.

Collapse metrics are measured on the model's own samples (before local search).

    python benchmarks/collapse_ablation.py                    # ~3-5 minutes on 2 cores
    python benchmarks/collapse_ablation.py --seeds 0 1 --generations 8
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

from loopengine import archive  # noqa: E402
from loopengine.config import apply_overrides, validate_task  # noqa: E402
from loopengine.session import build_loop  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"

SMALL = {"model": {"layers": 2, "heads": 4, "width": 64}, "execution": {"threads": 1}}

C4 = {
    "task": {"name": "c4-ablation", "problem": "c4free"},
    "problem": {"n": 16},
    "loop": {"initial_pool": 600, "samples_per_generation": 400, "keep": 120, "elite_size": 60,
             "elite_reentry": 0},
    "sources": {"exclude": ["random"]},  # model samples only: the collapse under study is the model's
    "train": {"first_steps": 200, "steps": 80, "batch_size": 32, "lr": 1e-3},
    "sampling": {"temperature": 1.0, "batch_size": 200, "min_unique_fraction": 0.9,
                 "temperature_step": 0.2, "max_temperature": 2.0},
    "kernel": {"local_search": "default"},
    **SMALL,
}

GCD = {
    "task": {"name": "gcd-ablation", "problem": "gcd"},
    "problem": {"base": 30, "max_operand": 1000, "test_size": 1000, "classes": 30, "per_class": 20},
    "loop": {"initial_pool": 1000, "samples_per_generation": 500, "keep": 500, "elite_size": 0,
             "generator_fraction": 0.0},
    "train": {"first_steps": 300, "steps": 150, "batch_size": 64, "lr": 1e-3, "weight_decay": 0.0},
    "sampling": {"batch_size": 500},
    "selection": {"elite_fraction": 0.0},
    "kernel": {"local_search": "none"},
    **SMALL,
}

# what "off" means for each arm: every selection step and diversity control
ARMS = {"guard on": [], "guard off": ["selection.guard=false", "sampling.min_unique_fraction=0"]}

# metric key, label, problems it applies to
CURVES = [
    ("unique_fraction", "unique fraction (samples)", ("c4free",)),
    ("token_entropy", "token entropy (bits)", ("c4free", "gcd")),
    ("novelty", "novelty", ("c4free",)),
    ("sample_valid_fraction", "valid fraction (samples)", ("c4free", "gcd")),
    ("sample_best", "best score (samples)", ("c4free",)),
    ("best", "best score (after local search)", ("c4free",)),
    ("best_ever", "best ever", ("c4free",)),
    ("accuracy", "held-out accuracy", ("gcd",)),
    ("classes_produced", "gcd classes produced", ("gcd",)),
    ("class_tv", "class TV distance to truth", ("gcd",)),
]

RUN_KEYS = {"best_ever", "accuracy"}  # about the run or the trained model, not the samples


def value(m: dict[str, Any], key: str) -> Any:
    return m[key] if key in m else (m.get("model") or {}).get(key)


def run_arm(base: dict, overrides: list[str], seed: int, generations: int) -> list[dict[str, Any]]:
    data = copy.deepcopy(base)
    apply_overrides(data, overrides + [f"task.seed={seed}", f"task.generations={generations}"])
    task = validate_task(data, "collapse_ablation")
    scratch = Path(tempfile.mkdtemp(prefix="loopengine-collapse-"))
    try:
        run_dir = scratch / "run"
        loop = build_loop(task, "collapse_ablation", ROOT, run_dir, quiet=True)
        archive.create_run(run_dir, data, ROOT)
        loop.run(generations)
        return [json.loads((run_dir / f"gen_{g:04d}" / "metrics.json").read_text())
                for g in archive.complete_generations(run_dir)]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def mean(xs: list[Any]) -> float | None:
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else None


def curve(runs: list[list[dict]], key: str) -> list[float | None]:
    """Per-generation mean over seeds."""
    return [mean([value(r[g], key) for r in runs]) for g in range(min(len(r) for r in runs))]


def plot(results: dict[str, dict[str, list[list[dict]]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(prob, key, label) for prob in results for key, label, probs in CURVES if prob in probs]
    cols = 4
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False)
    for ax, (prob, key, label) in zip(axes.flat, panels):
        first = 0 if key in RUN_KEYS else 1  # generation 0 has seeds, not samples
        for arm, runs in results[prob].items():
            ys = curve(runs, key)[first:]
            ax.plot(range(first, first + len(ys)), [float("nan") if y is None else y for y in ys],
                    marker="o", label=arm)
        ax.set_title(f"{prob}: {label}", fontsize=9)
        ax.set_xlabel("generation")
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


TABLE = [  # column, metric, how to summarise the run (last generation, or mean over g >= 1)
    ("unique", "unique_fraction", "mean"),
    ("entropy", "token_entropy", "mean"),
    ("novelty", "novelty", "mean"),
    ("sample valid", "sample_valid_fraction", "last"),
    ("sample best", "sample_best", "last"),
    ("searched best", "best", "last"),
    ("best ever", "best_ever", "last"),
    ("classes", "classes_produced", "last"),
    ("class TV", "class_tv", "last"),
    ("accuracy", "accuracy", "last"),
]


def summarise(runs: list[list[dict]], key: str, how: str) -> float | None:
    ys = curve(runs, key)
    if how == "last":
        return ys[-1] if ys else None
    return mean(ys[1:])  # generation 0 holds seeds, not samples


def table(results: dict[str, dict[str, list[list[dict]]]]) -> list[str]:
    cols = [c for c, _, _ in TABLE]
    lines = ["| problem | arm | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]
    for prob, arms in results.items():
        for arm, runs in arms.items():
            cells = []
            for _, key, how in TABLE:
                v = summarise(runs, key, how)
                cells.append("-" if v is None else f"{v:.3g}")
            lines.append(f"| {prob} | {arm} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--generations", type=int, default=6)
    ap.add_argument("--problems", nargs="+", default=["c4free", "gcd"], choices=["c4free", "gcd"])
    ap.add_argument("--gcd-generator-fraction", type=float, default=GCD["loop"]["generator_fraction"],
                    help="share of GCD training examples from the generator after generation 0")
    ap.add_argument("--replot", action="store_true", help="redraw plot and table from the last run's JSON")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    GCD["loop"]["generator_fraction"] = args.gcd_generator_fraction
    bases = {"c4free": C4, "gcd": GCD}
    start = time.perf_counter()
    results: dict[str, dict[str, list[list[dict]]]] = (
        json.loads((OUT / "collapse_ablation.json").read_text()) if args.replot else {})
    for prob in [] if args.replot else args.problems:
        results[prob] = {}
        for arm, overrides in ARMS.items():
            results[prob][arm] = []
            for seed in args.seeds:
                t0 = time.perf_counter()
                results[prob][arm].append(run_arm(bases[prob], overrides, seed, args.generations))
                print(f"{prob:7s} {arm:9s} seed {seed}: {time.perf_counter() - t0:.0f}s", flush=True)
    (OUT / "collapse_ablation.json").write_text(json.dumps(results, default=str))
    plot(results, OUT / "collapse_ablation.png")
    lines = table(results)
    header = (f"seeds {args.seeds}, {args.generations} generations, gcd generator_fraction "
              f"{args.gcd_generator_fraction}; unique/entropy/novelty: mean over generations >= 1 of the "
              "model's samples; the rest: last generation, mean over seeds")
    (OUT / "collapse_ablation.md").write_text(header + "\n\n" + "\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"\n{header}\ntotal {time.perf_counter() - start:.0f}s; plot: {OUT / 'collapse_ablation.png'}")


if __name__ == "__main__":
    main()

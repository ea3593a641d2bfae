"""One-set against two-set training at the same example budget (Charton & Kempe, arXiv 2410.07041).

Both arms run the engine's loop with the same generations, steps and batch size, so they see
the same number of training examples. One-set: every example is freshly generated. Two-set:
each example comes, with probability p, from a fixed random set of S examples drawn once at
the start, otherwise fresh. Tasks: GCD (tasks/gcd.toml) and a*b mod 67 (tasks/modmul.toml).
Self-training is off (loop.generator_fraction = 1) so only the sampler differs.

    python benchmarks/two_set.py                                  # small CPU budget
    python benchmarks/two_set.py --generations 8 --steps 1000 --repeat-size 5000

Writes benchmarks/out/two_set.md (the table), two_set.json and two_set.png (accuracy against
examples seen), and prints the table.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from gcd_base30 import ROOT, run_loop  # noqa: E402  (benchmarks/ is the script's directory)

OUT = ROOT / "benchmarks" / "out"


def arm_overrides(args, task: str, repeat_size: int, repeat_prob: float) -> list[str]:
    per_task = ["problem.per_class=20"] if task == "gcd" else []  # cheaper per-class evaluation
    return [*per_task,
        f"train.first_steps={args.steps}", f"train.steps={args.steps}", f"train.batch_size={args.batch_size}",
        f"train.repeat_set_size={repeat_size}", f"train.repeat_prob={repeat_prob}",
        "loop.generator_fraction=1.0", "loop.samples_per_generation=100", "loop.elite_size=0",
        "selection.elite_fraction=0.0", f"task.seed={args.seed}",
        f"problem.test_size={args.test_size}", *args.overrides,
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--generations", type=int, default=3)
    ap.add_argument("--steps", type=int, default=400, help="optimizer steps per generation (both arms)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--repeat-size", type=int, default=1000, help="S: size of the repeated set")
    ap.add_argument("--repeat-prob", type=float, default=0.25, help="p: share of each batch from it")
    ap.add_argument("--test-size", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tasks", nargs="+", default=["gcd", "modmul"], choices=["gcd", "modmul"])
    ap.add_argument("--arms", nargs="+", default=["one-set", "two-set"], choices=["one-set", "two-set"],
                    help="run only some arms (e.g. one process per arm on a multi-core machine)")
    ap.add_argument("--out", type=Path, default=OUT, help="where the table, json and plot go")
    ap.add_argument("--name", default="two_set", help="file name stem of the outputs")
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="extra override for every run")
    ap.add_argument("--minutes", type=float, default=None,
                    help="wall-clock budget of the first arm of each task: it stops after the generation that "
                         "passes it (at most --generations), and the other arms then run as many generations, "
                         "so every arm still sees the same examples")
    args = ap.parse_args()
    if args.minutes is not None and any(o.startswith("train.lr_final") for o in args.overrides):
        ap.error("--minutes with train.lr_final: the decay would span --generations, not the generations run")
    args.out.mkdir(parents=True, exist_ok=True)

    arms = [a for a in [("one-set", 0, 0.0), ("two-set", args.repeat_size, args.repeat_prob)] if a[0] in args.arms]
    results = []
    for task in args.tasks:
        generations, minutes = args.generations, args.minutes
        for label, size, prob in arms:
            budget = generations * args.steps * args.batch_size
            limit = "" if minutes is None else f", at most {minutes} min"
            print(f"running {task} {label} (S={size}, p={prob}, {budget:,} examples{limit})...", flush=True)
            history = run_loop(ROOT / "tasks" / f"{task}.toml", arm_overrides(args, task, size, prob), generations,
                               minutes, on_generation=lambda m: print(f"  gen {m['generation']}  {m['wall'] / 60:.1f} "
                                                                      f"min  accuracy {m['model']['accuracy']:.2%}",
                                                                      flush=True))
            if minutes is not None:  # the first arm fixed the budget: the others run as many generations
                generations, minutes = len(history), None
                budget = generations * args.steps * args.batch_size
            curve = [((m["generation"] + 1) * args.steps * args.batch_size, m["model"]["accuracy"]) for m in history]
            last = history[-1]["model"]
            results.append({"task": task, "arm": label, "S": size, "p": prob, "examples": budget,
                            "accuracy": last["accuracy"], "correct_gcds": last.get("correct_gcds"),
                            "minutes": round(history[-1]["wall"] / 60, 2), "curve": curve})

    header = "| task | training | S | p | examples | accuracy | correct GCDs | minutes |"
    lines = [header, "|" + "---|" * 8]
    for r in results:
        gcds = "-" if r["correct_gcds"] is None else str(r["correct_gcds"])
        lines.append(f"| {r['task']} | {r['arm']} | {r['S']} | {r['p']} | {r['examples']:,} | "
                     f"{r['accuracy']:.2%} | {gcds} | {r['minutes']} |")
    table = "\n".join(lines)
    print("\n" + table)
    stem = args.out / args.name
    stem.with_suffix(".md").write_text(table + "\n")
    stem.with_suffix(".json").write_text(json.dumps({"args": {k: str(v) if isinstance(v, Path) else v
                                                              for k, v in vars(args).items()},
                                                     "results": results}, indent=2))

    fig, axes = plt.subplots(1, len(args.tasks), figsize=(5 * len(args.tasks), 3.6), squeeze=False)
    for ax, task in zip(axes[0], args.tasks):
        for r in (r for r in results if r["task"] == task):
            xs, ys = zip(*r["curve"])
            ax.plot(xs, ys, marker="o", label=f"{r['arm']} (S={r['S']}, p={r['p']})")
        ax.set_title(f"{task}: held-out accuracy")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x / 1000:.0f}k"))
        ax.set_xlabel("training examples seen")
        ax.set_ylabel("accuracy")
        ax.legend()
    fig.tight_layout()
    fig.savefig(stem.with_suffix(".png"), dpi=120)
    print(f"wrote {stem.with_suffix('.md')}, {stem.with_suffix('.png')}")


if __name__ == "__main__":
    main()

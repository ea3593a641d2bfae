"""GCD in base 30 with log-uniform operands and outcomes (tasks/gcd_loguniform.toml), trained
through the engine's loop for a fixed wall-clock budget, reporting every --every seconds.

    python benchmarks/gpu/gcd_timed.py --minutes 8                    # 4x512 model, bf16, on the GPU
    python benchmarks/gpu/gcd_timed.py --toy                          # seconds, on any machine

Each generation is sized to last about --every seconds: generation 0 trains --calibration
steps, and every later generation gets as many steps as the measured time per step leaves
after the previous generation's sampling, evaluation and checkpoint. After each one it prints
the uniform test accuracy (problem.test_size pairs, uniform operands: the natural
distribution) and the number of gcds <= 100 the model gets right on at least 90% of their
test pairs (Charton's "correct gcds"). The loop runs as it does for any task: samples,
verification, the archive and a checkpoint each generation (in a scratch directory), so the
time is the engine's, not a bare training loop's. The learning rate decays (cosine, as the
task sets lr_final) over the planned number of generations.
"""
from __future__ import annotations

import argparse
import math
import shutil
import tempfile
import time
from pathlib import Path

import torch
from common import ROOT, gpu_line, model_overrides, precision

from loopengine.config import load_task
from loopengine.progress import RunProgress
from loopengine.rundir import archive
from loopengine.session import build_loop


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", type=Path, default=ROOT / "tasks" / "gcd_loguniform.toml")
    ap.add_argument("--minutes", type=float, default=8.0, help="wall-clock budget, everything included")
    ap.add_argument("--every", type=float, default=60.0, help="seconds per generation (one report each)")
    ap.add_argument("--model", default="4x512x8", help="LAYERSxWIDTHxHEADS")
    ap.add_argument("--batch-size", type=int, default=512)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--precision", default="bf16", choices=["fp32", "tf32", "bf16"])
    ap.add_argument("--calibration", type=int, default=300, help="training steps of generation 0")
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="any other task key=value")
    ap.add_argument("--toy", action="store_true", help="a 1x32 model for about 20 s: checks the script")
    args = ap.parse_args()
    if args.toy:
        args.minutes, args.every, args.model, args.batch_size, args.calibration = 0.35, 6.0, "1x32x2", 64, 20
        args.precision = "fp32"
        args.overrides = ["problem.test_size=500", "problem.per_class=10", "loop.samples_per_generation=200",
                          "execution.threads=1", *args.overrides]

    budget = 60 * args.minutes
    planned = 1 + math.ceil(budget / args.every)
    # generator_fraction = 1: every training example is freshly generated, as in the paper; the
    # model's own verified answers (1000 per generation) would otherwise be replayed thousands
    # of times each at GPU step counts
    overrides = [*model_overrides(args.model), f"train.batch_size={args.batch_size}", f"train.lr={args.lr}",
                 "loop.generator_fraction=1.0", f"train.first_steps={args.calibration}",
                 f"task.generations={planned}", *args.overrides]
    task, raw = load_task(args.task, overrides)
    print(gpu_line())
    print(f"task {args.task.name} + {' '.join(overrides)}; precision {args.precision}; "
          f"budget {args.minutes} min, a report every {args.every:.0f} s")
    out = Path(tempfile.mkdtemp(prefix="loopengine-gcd-timed-"))
    try:
        run_dir = out / task.task.name
        loop = build_loop(task, args.task, args.task.parent, run_dir, quiet=True)
        print(f"device {loop.device}; model {sum(p.numel() for p in loop.model.parameters()):,} parameters")
        archive.create_run(run_dir, raw, args.task.parent)
        start, examples, last, previous_rate = time.perf_counter(), 0, None, 0.0
        with RunProgress(planned, quiet=True) as progress, precision(loop.device, args.precision):
            for g in range(planned):
                steps = task.train.first_steps if g == 0 else task.train.steps
                began = time.perf_counter()
                m = loop.generation(g, progress)
                elapsed = time.perf_counter() - start
                examples += steps * task.train.batch_size
                mm, t = m["model"], m["timings"]
                print(f"gen {g:>2}  {elapsed / 60:5.2f} min  {examples:>12,} examples  {steps:>6} steps  "
                      f"train {t['train']:5.1f} s ({steps * task.train.batch_size / t['train']:>8,.0f} ex/s)  "
                      f"other {t['total'] - t['train']:4.1f} s  uniform accuracy {mm['accuracy']:.2%}  "
                      f"correct gcds <= 100: {mm['correct_gcds']}", flush=True)
                last = (m, elapsed)
                # size the next generation from the time per step and this one's overhead; past
                # generation 1, the slower of the last two rates (generation 0 includes warm-up),
                # so a noisy fast generation does not overrun the budget
                rate = t["train"] / max(steps, 1)
                per_step = rate if g <= 1 else max(rate, previous_rate)
                previous_rate = rate
                overhead = time.perf_counter() - began - t["train"]
                room = min(args.every, budget - elapsed) - overhead
                if room < 0.25 * args.every or g == planned - 1:
                    break
                task.train.steps = max(1, int(room / per_step))
        m, elapsed = last
        mm = m["model"]
        print(f"\nfinal: uniform accuracy {mm['accuracy']:.2%}, {mm['correct_gcds']} correct gcds <= 100 after "
              f"{elapsed / 60:.2f} min and {examples:,} training examples ({examples / elapsed:,.0f} examples/s "
              f"of wall time, everything included)")
        print(f"learned gcds: {mm['learned_gcds']}")
        if torch.cuda.is_available():
            print(f"peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")
        loop.executor.close()
    finally:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()

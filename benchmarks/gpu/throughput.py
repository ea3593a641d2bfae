"""Training examples/s and sampling tokens/s on the GPU against the CPU, in one run, for the
default GCD model (2 layers x 128) and a 4 x 512 model, fp32, TF32 and bf16 autocast.

    python benchmarks/gpu/throughput.py                  # on a GPU machine
    python benchmarks/gpu/throughput.py --toy            # seconds, on any machine

Training rows are benchmarks/train_throughput.py's tensor path (C++ generated and encoded
GCD examples, answer-only last block, fused AdamW where torch has it), data preparation
inside the timed region; sampling rows time greedy decoding (the loop's `sample`, KV cache)
of fresh prompts by an untrained model and count the tokens it wrote (answer tokens and EOS).
The CPU rows use --cpu-threads threads (2: the project machine's figure) on this machine's
CPU; the ratio column divides by the CPU row of the same model. The committed 2-core figure
for the default model (benchmarks/results/train_throughput_quiet.txt: 3,453 examples/s,
batch 128, an AMD EPYC at load 0.1) is printed beside it for reference.
"""
from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch
from common import ROOT, gpu_line, model_overrides, precision

from loopengine.config import load_task
from loopengine.learn.model import Transformer, adamw_options, shape_for
from loopengine.learn.train import prompt_tokens, sample
from loopengine.problems import make_problem
from train_throughput import Variant, time_variant

COMMITTED_2CORE = {"2x128x4": 3453}  # examples/s, train_throughput_quiet.txt, tensor path batch 128


def sampling_rate(task, problem, device: torch.device, mode: str, prompts: int, batch: int) -> float:
    """Answer tokens written per second, greedy, best of two timed passes after a warm-up."""
    torch.manual_seed(0)
    model = Transformer(shape_for(task, problem)).to(device)
    rng = np.random.default_rng(0)
    tokens = prompt_tokens(problem, problem.target_prompts(rng, prompts), prompts)
    generator = torch.Generator(device=device).manual_seed(0)
    best = math.inf
    with precision(device, mode):
        sample(model, tokens[:batch], problem.codec.max_answer_tokens(), 0.0, batch, generator, device)
        for _ in range(2):
            start = time.perf_counter()
            answers = sample(model, tokens, problem.codec.max_answer_tokens(), 0.0, batch, generator, device)
            best = min(best, time.perf_counter() - start)
    return sum(len(a) + 1 for a in answers) / best


def print_row(spec: str, device: torch.device, mode: str, batch: int, rate: float, cpu_rate: float) -> None:
    print(f"{spec:<9}{device.type:<7}{mode:<10}{batch:>6}{rate:>12,.0f}{rate / cpu_rate:>8.1f}x", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default=str(ROOT / "tasks" / "gcd_loguniform.toml"))
    ap.add_argument("--models", nargs="+", default=["2x128x4", "4x512x8"], help="LAYERSxWIDTHxHEADS")
    ap.add_argument("--cpu-threads", type=int, default=2)
    ap.add_argument("--cpu-batch", type=int, default=128, help="the CPU row's batch (the preset's)")
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[128, 512, 2048], help="GPU rows")
    ap.add_argument("--precisions", nargs="+", default=["fp32", "tf32", "bf16"])
    ap.add_argument("--steps", type=int, default=30, help="optimizer steps per timed GPU run")
    ap.add_argument("--cpu-steps", type=int, default=5, help="optimizer steps per timed CPU run")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--sample-prompts", type=int, default=8000, help="GPU rows")
    ap.add_argument("--cpu-sample-prompts", type=int, default=1000, help="the CPU row (also its batch)")
    ap.add_argument("--sample-batches", type=int, nargs="+", default=[1000, 8000])
    ap.add_argument("--toy", action="store_true", help="tiny models and counts: checks the script, measures nothing")
    args = ap.parse_args()
    if args.toy:
        args.models, args.batch_sizes, args.precisions = ["1x32x2", "2x64x4"], [64], ["fp32", "bf16"]
        args.steps, args.cpu_steps, args.repeat, args.cpu_batch = 3, 2, 1, 64
        args.sample_prompts, args.sample_batches, args.cpu_sample_prompts = 200, [100], 100
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    print(gpu_line())
    print(f"task {Path(args.task).name}; CPU rows: {args.cpu_threads} threads; fused AdamW: {bool(adamw_options())}")
    if len(devices) == 1:
        print("no CUDA device: only the CPU rows are timed")

    print(f"\ntraining, examples/s ({args.steps} GPU / {args.cpu_steps} CPU steps per run, best of {args.repeat})")
    print(f"{'model':<9}{'device':<7}{'precision':<10}{'batch':>6}{'examples/s':>12}{'vs CPU':>9}")

    def train_rate(task, problem, device, mode, batch):
        v = Variant(f"{mode} {batch}", True, batch, fused_adam=bool(adamw_options()),
                    bf16=mode == "bf16", tf32=mode == "tf32")
        steps = args.cpu_steps if device.type == "cpu" else args.steps
        return time_variant(task, problem, device, v, steps, args.repeat)[0]

    gpu_train_rows = [(p, b) for p in args.precisions for b in args.batch_sizes]
    for spec in args.models:
        time_rows(args, spec, devices, ("fp32", args.cpu_batch), gpu_train_rows, train_rate)
        if spec in COMMITTED_2CORE:
            print(f"{spec:<9}(committed 2-core project figure, batch 128: {COMMITTED_2CORE[spec]:,} examples/s)")

    print(f"\nsampling, answer tokens/s (greedy, untrained model; {args.sample_prompts} prompts on the GPU, "
          f"{args.cpu_sample_prompts} on the CPU)")
    print(f"{'model':<9}{'device':<7}{'precision':<10}{'batch':>6}{'tokens/s':>12}{'vs CPU':>9}")

    def sample_rate(task, problem, device, mode, batch):
        prompts = args.cpu_sample_prompts if device.type == "cpu" else args.sample_prompts
        return sampling_rate(task, problem, device, mode, prompts, batch)

    gpu_sample_rows = [(p, b) for p in ("fp32", "bf16") if p in args.precisions for b in args.sample_batches]
    for spec in args.models:
        time_rows(args, spec, devices, ("fp32", args.cpu_sample_prompts), gpu_sample_rows, sample_rate)


def time_rows(args, spec: str, devices, cpu_row: tuple[str, int], gpu_rows: list[tuple[str, int]], rate_of) -> None:
    """One model's rows: the CPU row first (every later row's "vs CPU" is against it), then
    each (precision, batch) on the GPU; rate_of(task, problem, device, precision, batch)."""
    task, _ = load_task(args.task, model_overrides(spec))
    problem = make_problem(task.task.problem, task.problem, args.task)
    cpu_rate = None
    for device in devices:
        torch.set_num_threads(args.cpu_threads)  # the GPU rows' host side gets the same threads
        for mode, batch in [cpu_row] if device.type == "cpu" else gpu_rows:
            rate = rate_of(task, problem, device, mode, batch)
            cpu_rate = cpu_rate or rate
            print_row(spec, device, mode, batch, rate, cpu_rate)

if __name__ == "__main__":
    main()

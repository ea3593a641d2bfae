"""Training examples per second on the GCD task at the default model size, list path against
the tensor path, in one run, with the ratio.

    python benchmarks/train_throughput.py [--threads 2] [--steps 20] [--batch-sizes 128 512]

"list path" is the loop as it was: examples encoded to Python lists (encode_prompts/encode),
batches drawn by train.TwoSetSampler and collated by train.to_batch, AdamW without fused
kernels, batch 128 (tasks/gcd.toml). The other rows change one thing at a time, so each
factor shows: the tensor path (C++ tokens, loopengine/fastdata.py), larger batches, the
fused AdamW, torch.compile (--compile), bfloat16 autocast (--bf16). Every row includes its data preparation:
examples are generated
and encoded inside the timed region, as a generation of the loop does. Each row is timed
best-of-`--repeat` over `--steps` optimizer steps after one warm-up step. CUDA rows are
added when a GPU is present. Wall-clock: on a shared machine, compare rows of one run.
"""
from __future__ import annotations

import argparse
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from loopengine.config import load_task
from loopengine.learn.data import TokenMix, from_token_arrays
from loopengine.learn.model import N_SPECIAL, ModelShape, Transformer, adamw_options
from loopengine.learn.train import TwoSetSampler, from_pool, train_steps
from loopengine.problems import make_problem

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Variant:
    name: str
    tensor_path: bool
    batch_size: int
    fused_adam: bool = False
    compile: bool = False
    answer_only: bool = True
    bf16: bool = False  # torch.autocast to bfloat16 around the step (CPUs with avx512_bf16 / AMX, GPUs)
    tf32: bool = False  # float32 matmuls on TF32 tensor cores (torch.set_float32_matmul_precision("high"); GPUs)


def build(task, problem, device: torch.device, variant: Variant):
    m = task.model
    context = problem.max_prompt_tokens() + problem.codec.max_answer_tokens() + 3
    torch.manual_seed(0)
    model = Transformer(ModelShape(len(problem.codec.vocabulary()) + N_SPECIAL, context, m.layers, m.heads, m.width))
    model.to(device)
    kwargs = {"fused": True} if variant.fused_adam else {}
    optimizer = torch.optim.AdamW(model.parameters(), lr=task.train.lr, weight_decay=task.train.weight_decay, **kwargs)
    runner = torch.compile(model) if variant.compile else model
    return model, runner, optimizer


def sampler_for(problem, variant: Variant, rng: np.random.Generator, examples: int):
    """The data of one generation: `examples` generated rows, encoded the variant's way."""
    pool = problem.fresh_examples(rng, examples)
    if variant.tensor_path:
        return TokenMix(from_token_arrays(*problem.codec.encode_tokens(pool)), 1.0, None)
    rows = list(zip(problem.encode_prompts(pool.prompts), problem.codec.encode(pool)))
    return TwoSetSampler(from_pool(rows), [], 0.0)


def time_variant(task, problem, device, variant: Variant, steps: int, repeat: int) -> tuple[float, float]:
    """Best examples per wall second and per CPU second of this process over `repeat` timed
    runs of `steps` steps (data preparation included). On a shared machine the CPU-second
    rate is the steadier one: it does not count the time other programs held the cores."""
    model, runner, optimizer = build(task, problem, device, variant)
    rng = np.random.default_rng(0)
    precision = torch.autocast(device.type, dtype=torch.bfloat16, enabled=variant.bf16)
    matmul_before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high" if variant.tf32 else "highest")
    try:
        with precision:
            train_steps(runner, optimizer, sampler_for(problem, variant, rng, variant.batch_size), 1,
                        variant.batch_size, rng, device, answer_only=variant.answer_only)  # warm-up (and compilation)
        best_wall = best_cpu = math.inf
        for _ in range(repeat):
            if device.type == "cuda":
                torch.cuda.synchronize()
            wall, cpu = time.perf_counter(), time.process_time()
            sampler = sampler_for(problem, variant, rng, steps * variant.batch_size)
            with precision:
                train_steps(runner, optimizer, sampler, steps, variant.batch_size, rng, device,
                            answer_only=variant.answer_only)
            if device.type == "cuda":
                torch.cuda.synchronize()
            best_wall = min(best_wall, time.perf_counter() - wall)
            best_cpu = min(best_cpu, time.process_time() - cpu)
    finally:
        torch.set_float32_matmul_precision(matmul_before)
    examples = steps * variant.batch_size
    return examples / best_wall, examples / best_cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", type=Path, default=ROOT / "tasks" / "gcd.toml")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = all cores)")
    ap.add_argument("--steps", type=int, default=20, help="optimizer steps per timed run")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per row (best is kept)")
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[128, 512, 1024])
    ap.add_argument("--compile", action="store_true", help="also time torch.compile (slow to warm up on a CPU)")
    ap.add_argument("--bf16", action="store_true", help="also time bfloat16 autocast")
    args = ap.parse_args()
    threads = args.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    task, _ = load_task(args.task, [])
    m = task.model
    problem = make_problem(task.task.problem, task.problem, args.task)
    base = task.train.batch_size
    variants = [Variant(f"list path, batch {base} (before)", False, base, answer_only=False),
                Variant(f"tensor path, batch {base}, full forward", True, base, answer_only=False),
                Variant(f"tensor path, batch {base}", True, base)]
    variants += [Variant(f"tensor path, batch {b}", True, b) for b in args.batch_sizes if b != base]
    variants += [Variant(f"tensor path, batch {b}, fused AdamW", True, b, fused_adam=True) for b in args.batch_sizes]
    if args.compile:
        variants += [Variant(f"tensor path, batch {b}, fused AdamW, compiled", True, b, True, True)
                     for b in args.batch_sizes]
    if args.bf16:
        variants += [Variant(f"tensor path, batch {b}, fused AdamW, bf16", True, b, True, bf16=True)
                     for b in args.batch_sizes]
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    print(f"task {args.task.name}: model {m.layers} layers x width {m.width}, {m.heads} heads; "
          f"CPU threads {threads}; {args.steps} steps per run, best of {args.repeat}")
    print(f"matmul-bound estimate: {matmul_bound(task, problem, base):.0f} examples/CPU-s at batch {base}: the "
          f"multiply-adds of a full forward+backward, all at the rate of one "
          f"(batch*tokens x {m.width}) @ ({m.width} x {4 * m.width}) matmul")
    print(f"{'device':<7}{'variant':<44}{'examples/s':>11}{'vs before':>10}{'ex/CPU-s':>10}{'vs before':>10}")
    for device in devices:
        before = None
        for v in variants:
            if v.fused_adam and not adamw_options():
                continue
            rate, cpu_rate = time_variant(task, problem, device, v, args.steps, args.repeat)
            before = before or (rate, cpu_rate)
            print(f"{device.type:<7}{v.name:<44}{rate:>11.0f}{rate / before[0]:>9.2f}x"
                  f"{cpu_rate:>10.0f}{cpu_rate / before[1]:>9.2f}x", flush=True)


def matmul_bound(task, problem, batch_size: int, repeat: int = 20) -> float:
    """Examples/s if all the matmul work of a full-forward step ran as fast as one large
    matmul of the model's own shape: the most any data path can give at this model size and
    thread count (the answer-only forward does about a third less of that work)."""
    w, layers = task.model.width, task.model.layers
    tokens = problem.max_prompt_tokens() + 2 + 2  # BOS, SEP and a typical 2-token answer
    a, b = torch.randn(batch_size * tokens, w), torch.randn(w, 4 * w)
    a @ b
    start = time.process_time()  # CPU seconds, comparable with the ex/CPU-s column
    for _ in range(repeat):
        a @ b
    flops = 2 * a.shape[0] * w * 4 * w * repeat / (time.process_time() - start)
    per_token = 6 * (12 * w * w * layers + w * len(problem.codec.vocabulary()))  # forward + backward
    return flops / (per_token * tokens)


if __name__ == "__main__":
    main()

"""Fine-tuning with the repeated-example (two-set) sampler, and batched sampling.

Two-set training (Charton & Kempe, arXiv 2410.07041): at a fixed example budget, a small set
of examples seen often, mixed inside every batch with examples seen once, beats all-fresh data.
The same sampler replays the elite archive for unconditional problems.

`training_sampler` decides each generation's training mix (this generation's selected rows,
the problem's freshly generated examples, elites, the repeated set), so the loop only asks for
a sampler and runs the steps.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from loopengine.learn.data import TokenMix, TokenSet, from_examples, from_token_arrays, to_batch
from loopengine.learn.model import BOS, N_SPECIAL, SEP, Transformer
from loopengine.pool import Pool

if TYPE_CHECKING:
    from loopengine.config import Task
    from loopengine.problems.base import Problem

# One training example: (prompt token ids, answer token ids), problem ids (not engine ids).
Example = tuple[list[int], list[int]]
FreshSource = Callable[[np.random.Generator, int], list[Example]]


@dataclass
class TwoSetSampler:
    """Each batch element comes from `repeated` with probability `repeat_prob`, else from
    `fresh` (a callable that returns new examples: a generator or a draw from a pool)."""

    fresh: FreshSource
    repeated: list[Example]
    repeat_prob: float = 0.0

    def draw(self, rng: np.random.Generator, size: int) -> list[Example]:
        n_rep = int(rng.binomial(size, self.repeat_prob)) if self.repeated and self.repeat_prob > 0 else 0
        batch = [self.repeated[i] for i in rng.integers(0, len(self.repeated), n_rep)] if n_rep else []
        if size - n_rep:
            batch += self.fresh(rng, size - n_rep)
        # interleave so neither set sits at a fixed position in the batch
        order = rng.permutation(len(batch))
        return [batch[i] for i in order]

    def batch(self, rng: np.random.Generator, size: int, context: int,
              device: torch.device) -> tuple[torch.Tensor, torch.Tensor] | None:
        examples = self.draw(rng, size)
        return to_batch(examples, context, device) if examples else None


def from_pool(examples: list[Example]) -> FreshSource:
    """A fresh source that draws uniformly (with replacement) from a finite list."""

    def draw(rng: np.random.Generator, size: int) -> list[Example]:
        if not examples:
            return []
        return [examples[i] for i in rng.integers(0, len(examples), size)]

    return draw


def prompt_tokens(problem: Problem, prompts: np.ndarray | None, count: int) -> list[list[int]]:
    return [[] for _ in range(count)] if prompts is None else problem.encode_prompts(prompts)


def examples(problem: Problem, pool: Pool | None) -> list[Example]:
    """A pool as training examples: (prompt tokens, answer tokens) per row."""
    if pool is None or not len(pool):
        return []
    return list(zip(prompt_tokens(problem, pool.prompts, len(pool)), problem.codec.encode(pool)))


def token_set(problem: Problem, pool: Pool | None, context: int) -> TokenSet:
    """A pool's training rows as tensors: written by the codec's fast path when it has one
    (Codec.encode_tokens, e.g. the integer tasks' C++ encoder), else collated once from its
    token lists."""
    arrays = problem.codec.encode_tokens(pool) if pool is not None and len(pool) else None
    if arrays is not None:
        return from_token_arrays(*arrays)
    return from_examples(examples(problem, pool), context)


def training_sampler(problem: Problem, task: Task, first: bool, selected: Pool | None, elites: Pool | None,
                     repeated: dict, rng: np.random.Generator, budget: int, context: int,
                     ) -> tuple[TokenMix, dict]:
    """This generation's training mix, and the repeated set to keep for the next ones.

    Examples seen once are this generation's selected rows, mixed (for conditional problems
    with a generator) with newly generated known-answer examples, each used once while they
    last. Without two-set training, elites are replayed at `selection.elite_fraction` of each
    batch. With it, the repeated set (drawn once, in generation 0, from the problem's generator
    or the first selected rows, then kept for the whole run as plain tensors) takes
    `train.repeat_prob` of each batch, and elites are blended into the once-seen share at
    `selection.elite_fraction`. For the paper's pure two-set setup, set `elite_fraction = 0`."""
    t, s = task.train, task.selection
    selected_set = token_set(problem, selected, context)
    share = task.loop.generator_fraction if problem.conditional else 0.0
    generated = None
    if share > 0:
        generated = token_set(problem, problem.fresh_examples(rng, max(1, math.ceil(budget * share))), context)
    mix = TokenMix(generated, share, selected_set)
    elite_set = token_set(problem, elites, context)
    if t.repeat_set_size <= 0:
        mix.repeated, mix.repeat_prob = elite_set, (s.elite_fraction if len(elite_set) else 0.0)
        return mix, repeated
    if first or not repeated:
        source = problem.fresh_examples(rng, t.repeat_set_size) if problem.conditional else None
        rep = (token_set(problem, source, context) if source is not None
               else selected_set.take(torch.arange(min(t.repeat_set_size, len(selected_set)))))
        repeated = rep.to_dict()
    mix.repeated, mix.repeat_prob = TokenSet.from_dict(repeated), t.repeat_prob
    if len(elite_set) and s.elite_fraction > 0:
        mix.elites, mix.elite_share = elite_set, s.elite_fraction
    return mix, repeated


def generation_lr(lr: float, lr_final: float | None, g: int, generations: int) -> float:
    """The learning rate of generation g: lr throughout, or a cosine from lr (generation 0) to
    lr_final (the last generation)."""
    if lr_final is None or generations <= 1:
        return lr
    frac = min(g, generations - 1) / (generations - 1)
    return lr_final + (lr - lr_final) * 0.5 * (1.0 + math.cos(math.pi * frac))


def first_target(targets: torch.Tensor) -> int:
    """The first position of the batch that carries a loss (-100 marks the others)."""
    has = (targets != -100).any(dim=0)
    return int(has.to(torch.int8).argmax()) if bool(has.any()) else 0


def train_steps(
    model: Transformer,
    optimizer: torch.optim.Optimizer,
    sampler: TwoSetSampler | TokenMix,
    steps: int,
    batch_size: int,
    rng: np.random.Generator,
    device: torch.device,
    on_step: Callable[[int, torch.Tensor], None] | None = None,
    answer_only: bool = True,
    deadline: float | None = None,
) -> float:
    """Run `steps` optimizer steps, or fewer when time.perf_counter() passes `deadline` (at
    least one step runs); returns the mean loss of the last 10% of steps.
    answer_only: the model's last block computes only the rows from the batch's first
    target on (the loss is the same; False is the full forward, kept for benchmarks).
    on_step(step, loss) gets the step's loss as a 0-d tensor on `device`: reading it
    (float(loss)) waits for the GPU, so the loop itself never does, step by step."""
    model.train()
    host = torch.device("cpu")
    losses: list[torch.Tensor] = []
    for step in range(steps):
        # Batches are drawn and cut on the host, where first_target costs no device sync,
        # then copied to the device once.
        drawn = sampler.batch(rng, batch_size, model.shape.context, host)
        if drawn is None:
            break
        x, y = drawn
        first = first_target(y) if answer_only else 0
        x, y = x.to(device, non_blocking=True), y[:, first:].to(device, non_blocking=True)
        logits = model(x, keep_from=first)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), ignore_index=-100)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.detach())
        if on_step:
            on_step(step + 1, losses[-1])
        if deadline is not None:
            if device.type == "cuda":  # the clock means nothing while steps are still queued
                torch.cuda.synchronize(device)
            if time.perf_counter() > deadline:
                break
    tail = losses[-max(1, len(losses) // 10):]
    # one device-to-host copy per call; float64 mean as numpy takes it
    return float(np.mean(torch.stack(tail).double().cpu().numpy())) if tail else float("nan")


def sample(
    model: Transformer,
    prompts: list[list[int]],
    max_answer: int,
    temperature: float,
    batch_size: int,
    generator: torch.Generator,
    device: torch.device,
    constraint=None,
    begun: list[list[int]] | None = None,
) -> list[list[int]]:
    """Answers for each prompt (problem ids). Prompts are grouped by length so every batch
    shares one prefix length and needs no padding mask. `constraint`: the problem's decoding
    constraint (Problem.decoding_constraint), reset for every batch; None = unconstrained.
    `begun`: per prompt, the first answer tokens, given; the model writes the rest (e.g. it
    completes part of a known construction). Their answers start with them."""
    begun = begun if begun is not None else [[] for _ in prompts]
    answers: list[list[int] | None] = [None] * len(prompts)
    by_len: dict[tuple[int, int], list[int]] = {}
    for i, p in enumerate(prompts):
        by_len.setdefault((len(p), len(begun[i])), []).append(i)
    for (_, given), rows in sorted(by_len.items()):
        for start in range(0, len(rows), batch_size):
            chunk = rows[start:start + batch_size]
            prefix = torch.tensor(
                [[BOS] + [t + N_SPECIAL for t in prompts[i]] + [SEP] + [t + N_SPECIAL for t in begun[i]]
                 for i in chunk], dtype=torch.long, device=device
            )
            for i, ans in zip(chunk, model.generate(prefix, max_answer + 1 - given, temperature, generator,
                                                    constraint, begun=given)):
                answers[i] = ans
    return answers  # type: ignore[return-value]

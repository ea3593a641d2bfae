"""Training examples as token tensors, and the training-data mix drawn by index.

The list path (train.TwoSetSampler + to_batch below) builds every batch from Python lists,
one example at a time. Here the examples of a generation are collated once into padded
tensors (a TokenSet; codecs with the `encode_tokens` fast path, the integer tasks', write them
from C++ without a per-example Python step) and every training step only draws indices and
slices. TokenMix draws from the random generator exactly as the list path does, so for the
same examples and seed both paths give the same batches (tests/test_fastdata.py checks it).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from loopengine.learn.model import BOS, EOS, N_SPECIAL, PAD, SEP

IGNORE = -100  # cross-entropy target of positions that are not answer tokens


@dataclass
class TokenSet:
    """N training rows: ids (N, W) = [BOS] prompt [SEP] answer, right-padded with PAD;
    targets (N, W) = the next token at answer positions (answer, then EOS), IGNORE elsewhere;
    lengths (N,) = tokens used by each row, so a batch is trimmed to its longest row."""

    ids: torch.Tensor
    targets: torch.Tensor
    lengths: torch.Tensor

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def take(self, index: torch.Tensor) -> TokenSet:
        return TokenSet(self.ids[index], self.targets[index], self.lengths[index])

    def batch(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs, targets) cut to the longest row, as the list path's to_batch does."""
        width = int(self.lengths.max()) if len(self) else 0
        return self.ids[:, :width].to(device), self.targets[:, :width].to(device)

    @staticmethod
    def cat(sets: list[TokenSet]) -> TokenSet:
        width = max(s.ids.shape[1] for s in sets)
        pad = lambda t, v: torch.nn.functional.pad(t, (0, width - t.shape[1]), value=v)  # noqa: E731
        return TokenSet(torch.cat([pad(s.ids, PAD) for s in sets]), torch.cat([pad(s.targets, IGNORE) for s in sets]),
                        torch.cat([s.lengths for s in sets]))

    # plain tensors in a dict, so a checkpoint holding a TokenSet needs no class of ours to load
    def to_dict(self) -> dict[str, torch.Tensor]:
        return {"ids": self.ids, "targets": self.targets, "lengths": self.lengths}

    @staticmethod
    def from_dict(d: dict[str, torch.Tensor]) -> TokenSet:
        return TokenSet(d["ids"], d["targets"], d["lengths"])


def from_token_arrays(prompts: np.ndarray, answers: np.ndarray, answer_len: np.ndarray) -> TokenSet:
    """Fixed-width prompts (N, P) and answers (N, A) right-padded with -1 (problem ids, as
    written by _core.int_encode_tokens) -> a TokenSet, with tensor operations only."""
    p = torch.as_tensor(np.ascontiguousarray(prompts), dtype=torch.long)
    a = torch.as_tensor(np.ascontiguousarray(answers), dtype=torch.long)
    la = torch.as_tensor(np.ascontiguousarray(answer_len), dtype=torch.long)
    n, width_p = p.shape
    width_a = a.shape[1]
    real = a >= 0
    ids = torch.full((n, 2 + width_p + width_a), PAD, dtype=torch.long)
    ids[:, 0] = BOS
    ids[:, 1:1 + width_p] = p + N_SPECIAL
    ids[:, 1 + width_p] = SEP
    ids[:, 2 + width_p:] = torch.where(real, a + N_SPECIAL, PAD)
    targets = torch.full_like(ids, IGNORE)
    answer_targets = torch.full((n, width_a + 1), IGNORE, dtype=torch.long)
    answer_targets[:, :width_a] = torch.where(real, a + N_SPECIAL, IGNORE)
    answer_targets[torch.arange(n), la] = EOS
    targets[:, 1 + width_p:] = answer_targets
    return TokenSet(ids, targets, 2 + width_p + la)


def to_batch(examples: list[tuple[list[int], list[int]]], context: int,
             device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids and targets; targets are -100 (ignored) outside answer + EOS."""
    seqs, targets = [], []
    for prompt, answer in examples:
        ids = [BOS] + [t + N_SPECIAL for t in prompt] + [SEP] + [t + N_SPECIAL for t in answer] + [EOS]
        ids = ids[:context + 1]
        tgt = [-100] * (len(prompt) + 1) + [t + N_SPECIAL for t in answer] + [EOS]
        seqs.append(ids)
        targets.append(tgt[: len(ids) - 1])
    width = max(len(s) for s in seqs) - 1
    x = torch.full((len(seqs), width), PAD, dtype=torch.long)
    y = torch.full((len(seqs), width), -100, dtype=torch.long)
    for i, (s, t) in enumerate(zip(seqs, targets)):
        x[i, : len(s) - 1] = torch.tensor(s[:-1])
        y[i, : len(t)] = torch.tensor(t)
    return x.to(device), y.to(device)


def from_examples(examples: list[tuple[list[int], list[int]]], context: int) -> TokenSet:
    """Any problem's (prompt, answer) lists -> a TokenSet: one Python pass per generation
    (not per step), through the list path's own collation so both agree row for row."""
    if not examples:
        empty = torch.zeros((0, 1), dtype=torch.long)
        return TokenSet(empty, empty.clone(), torch.zeros(0, dtype=torch.long))
    ids, targets = to_batch(examples, context, torch.device("cpu"))
    lengths = (ids != PAD).sum(dim=1)
    return TokenSet(ids, targets, lengths)


@dataclass
class TokenMix:
    """The training-data mix of one generation, drawn by index.

    Each batch element comes from `repeated` with probability `repeat_prob` (two-set training,
    or elite replay); the rest is fresh: with probability `elite_share` a random elite (when
    two-set training holds the `repeated` slot), else with probability `share` the next unused
    row of `generated` (known-answer examples, each used once while they last), otherwise a
    random row of `selected` (this generation's verified candidates)."""

    generated: TokenSet | None
    share: float
    selected: TokenSet | None
    repeated: TokenSet | None = None
    repeat_prob: float = 0.0
    # with two-set training (repeated = the fixed set), elites take this share of the fresh rows
    elites: TokenSet | None = None
    elite_share: float = 0.0
    cursor: int = 0

    def __post_init__(self) -> None:
        if not self.selected or not len(self.selected):
            self.selected = None
            self.share = 1.0
        if not self.generated or not len(self.generated):
            self.generated, self.share = None, 0.0

    def _fresh(self, rng: np.random.Generator, size: int) -> list[tuple[str, torch.Tensor]]:
        index: list[tuple[str, torch.Tensor]] = []
        n_elite = int(rng.binomial(size, self.elite_share)) if self.elites is not None and self.elite_share > 0 else 0
        size -= n_elite
        if self.generated is not None:
            n_gen = int(rng.binomial(size, self.share))
            rows = (self.cursor + np.arange(n_gen)) % len(self.generated)
            self.cursor += n_gen
            index.append(("generated", torch.as_tensor(rows)))
            size -= n_gen
        if self.selected is not None:  # drawn even for size 0, as the list path does
            index.append(("selected", torch.as_tensor(rng.integers(0, len(self.selected), size))))
        if n_elite:
            index.append(("elites", torch.as_tensor(rng.integers(0, len(self.elites), n_elite))))
        return index

    def draw(self, rng: np.random.Generator, size: int) -> TokenSet | None:
        has_rep = self.repeated is not None and len(self.repeated) > 0 and self.repeat_prob > 0
        n_rep = int(rng.binomial(size, self.repeat_prob)) if has_rep else 0
        parts = [("repeated", torch.as_tensor(rng.integers(0, len(self.repeated), n_rep)))] if n_rep else []
        if size - n_rep:
            parts += self._fresh(rng, size - n_rep)
        sets = [getattr(self, name).take(index) for name, index in parts if len(index)]
        if not sets:
            return None
        batch = sets[0] if len(sets) == 1 else TokenSet.cat(sets)
        # interleave so neither set sits at a fixed position in the batch
        return batch.take(torch.as_tensor(rng.permutation(len(batch))))

    def batch(self, rng: np.random.Generator, size: int, context: int,
              device: torch.device) -> tuple[torch.Tensor, torch.Tensor] | None:
        drawn = self.draw(rng, size)
        return None if drawn is None else drawn.batch(device)

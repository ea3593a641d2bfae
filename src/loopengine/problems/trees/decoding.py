"""Constrained decoding for trees: every sample is a tree in canonical (breadth-first) form.

The model writes the parents p_1, ..., p_(n-1) of vertices 1..n-1. The kernel returns trees
labelled breadth-first from their centre (csrc/src/trees.cpp, canonical_labelling), so every
training row has 0 <= p_i < i and p_(i-1) <= p_i. The mask allows exactly those tokens, and
the end only after n-1 parents: a sample is always a tree, and always spelt the way the
training rows are. Every tree has such a spelling, so no tree is out of reach.
"""
from __future__ import annotations

import torch


class TreeDecoding:
    def __init__(self, n: int) -> None:
        self.n = n
        self.step = 0
        self.last: torch.Tensor | None = None

    def reset(self, batch: int, device: torch.device) -> None:
        self.step = 0
        self.last = torch.zeros(batch, dtype=torch.long, device=device)
        self.ids = torch.arange(max(self.n - 1, 1), device=device)

    def allowed(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(legal parent tokens (batch, n-1) bool, EOS allowed (batch,) bool)."""
        b = self.last.shape[0]
        vertex = self.step + 1  # the vertex whose parent comes next
        if vertex >= self.n:
            return (torch.zeros(b, len(self.ids), dtype=torch.bool, device=self.last.device),
                    torch.ones(b, dtype=torch.bool, device=self.last.device))
        legal = (self.ids[None, :] >= self.last[:, None]) & (self.ids[None, :] < vertex)
        return legal, torch.zeros(b, dtype=torch.bool, device=self.last.device)

    def update(self, tokens: torch.Tensor) -> None:
        """Record the parents just emitted (anything outside 0..n-2, e.g. a finished row's
        EOS, changes nothing)."""
        ok = (tokens >= 0) & (tokens < len(self.ids))
        self.last = torch.where(ok, torch.maximum(self.last, tokens), self.last)
        self.step += 1

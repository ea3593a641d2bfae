"""Constrained decoding for C4-free graphs: every sample is C4-free and maximal as sampled.

At each step the model may only emit an edge that is new and closes no 4-cycle, and may end
(EOS) only when no such edge is left. Adding uv to a C4-free graph closes a 4-cycle iff a
path u-a-b-v exists, i.e. (A^3)[u, v] > 0 for non-adjacent u, v (a walk of length 3 between
non-adjacent vertices cannot repeat a vertex), so the mask is one batched A^3 per step.
"""
from __future__ import annotations

import numpy as np
import torch


class C4Decoding:
    """The problem's decoding constraint (see Problem.decoding_constraint): tokens are edge
    ids in pair order (0, 1), (0, 2), ..., (n-2, n-1)."""

    def __init__(self, n: int) -> None:
        self.n = n
        iu, ju = np.triu_indices(n, k=1)
        self._iu, self._ju = torch.from_numpy(iu), torch.from_numpy(ju)
        self.adj: torch.Tensor | None = None

    def reset(self, batch: int, device: torch.device) -> None:
        """Start `batch` empty graphs."""
        self.iu, self.ju = self._iu.to(device), self._ju.to(device)
        self.adj = torch.zeros(batch, self.n, self.n, device=device)

    def allowed(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(legal edge tokens (batch, pairs) bool, EOS allowed (batch,) bool)."""
        a = self.adj
        blocked = (a @ a @ a > 0) | (a > 0)
        legal = ~blocked[:, self.iu, self.ju]
        return legal, ~legal.any(dim=1)

    def update(self, tokens: torch.Tensor) -> None:
        """Record the tokens just emitted (problem ids; anything outside 0..pairs-1, such as
        a finished row's EOS, changes nothing)."""
        ok = (tokens >= 0) & (tokens < len(self.iu))
        rows = torch.nonzero(ok).squeeze(1)
        edge = tokens[rows]
        u, v = self.iu[edge], self.ju[edge]
        self.adj[rows, u, v] = 1.0
        self.adj[rows, v, u] = 1.0

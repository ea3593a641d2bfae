"""Constrained decoding for C4-free graphs: every sample is C4-free as sampled.

Adding uv to a C4-free graph closes a 4-cycle iff a path u-a-b-v exists, i.e. (A^3)[u, v] > 0
for non-adjacent u, v (a walk of length 3 between non-adjacent vertices cannot repeat a
vertex), so the mask is a batched product of adjacency matrices per step.

Two encodings (C4FreeSettings.encoding):
- "edges": a token per edge. The model may emit any new edge that closes no 4-cycle and may
  end only when none is left, so every sample is also maximal. `sorted_order` additionally
  allows only edges after the last one in pair order (the order of the training sequences);
  measured worse at n = 40 (raw samples ~45 edges: when its preferred edge is blocked the
  model jumps far ahead and runs out of pairs; benchmarks/results/c4_decoding_and_encoding.md).
- "bits": a token per vertex pair in pair order, 1 = edge (PatternBoost's encoding). A 1
  that would close a 4-cycle is masked, so a blocked pair becomes a 0 and the model's next
  decision is still about the pair its position names: a sample never leaves the
  positions it trained on. EOS comes after the last pair.
"""
from __future__ import annotations

import numpy as np
import torch


class C4Decoding:
    """The problem's decoding constraint (see Problem.decoding_constraint) for edge tokens:
    edge ids in pair order (0, 1), (0, 2), ..., (n-2, n-1)."""

    def __init__(self, n: int, sorted_order: bool = False) -> None:
        self.n = n
        self.sorted_order = sorted_order
        iu, ju = np.triu_indices(n, k=1)
        self._iu, self._ju = torch.from_numpy(iu), torch.from_numpy(ju)
        self.adj: torch.Tensor | None = None
        self.last: torch.Tensor | None = None

    def reset(self, batch: int, device: torch.device) -> None:
        """Start `batch` empty graphs."""
        self.iu, self.ju = self._iu.to(device), self._ju.to(device)
        self.ids = torch.arange(len(self.iu), device=device)
        self.adj = torch.zeros(batch, self.n, self.n, device=device)
        self.last = torch.full((batch,), -1, dtype=torch.long, device=device)

    def allowed(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(legal edge tokens (batch, pairs) bool, EOS allowed (batch,) bool)."""
        a = self.adj
        blocked = (a @ a @ a > 0) | (a > 0)
        legal = ~blocked[:, self.iu, self.ju]
        if self.sorted_order:
            legal &= self.ids[None, :] > self.last[:, None]
        return legal, ~legal.any(dim=1)

    def update(self, tokens: torch.Tensor) -> None:
        """Record the tokens just emitted (problem ids; anything outside 0..pairs-1, such as
        a finished row's EOS, changes nothing)."""
        ok = (tokens >= 0) & (tokens < len(self.iu))
        rows = torch.nonzero(ok).squeeze(1)
        edge = tokens[rows]
        add_edges(self.adj, rows, self.iu[edge], self.ju[edge])
        self.last[rows] = torch.maximum(self.last[rows], edge)


class C4BitDecoding:
    """The decoding constraint for bit tokens (0 = no edge, 1 = edge), one per pair in pair
    order: 1 only where the pair closes no 4-cycle, EOS only after the last pair."""

    def __init__(self, n: int) -> None:
        self.n = n
        iu, ju = np.triu_indices(n, k=1)
        self.iu, self.ju = iu.tolist(), ju.tolist()
        self.adj: torch.Tensor | None = None
        self.step = 0

    def reset(self, batch: int, device: torch.device) -> None:
        self.adj = torch.zeros(batch, self.n, self.n, device=device)
        self.step = 0

    def allowed(self) -> tuple[torch.Tensor, torch.Tensor]:
        b = self.adj.shape[0]
        device = self.adj.device
        if self.step >= len(self.iu):
            return torch.zeros(b, 2, dtype=torch.bool, device=device), torch.ones(b, dtype=torch.bool, device=device)
        u, v = self.iu[self.step], self.ju[self.step]
        a = self.adj
        paths = torch.einsum("bi,bij,bj->b", a[:, u, :], a, a[:, :, v])  # walks u-x-y-v
        legal = torch.ones(b, 2, dtype=torch.bool, device=device)
        legal[:, 1] = paths == 0
        return legal, torch.zeros(b, dtype=torch.bool, device=device)

    def update(self, tokens: torch.Tensor) -> None:
        if self.step < len(self.iu):
            rows = torch.nonzero(tokens == 1).squeeze(1)
            add_edges(self.adj, rows, self.iu[self.step], self.ju[self.step])
        self.step += 1


def add_edges(adj: torch.Tensor, rows: torch.Tensor, u, v) -> None:
    adj[rows, u, v] = 1.0
    adj[rows, v, u] = 1.0

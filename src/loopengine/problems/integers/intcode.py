"""Integers as tokens: a sign token, then base-B digits, most significant first.

Shared by every integer-arithmetic problem so they all read and write numbers the same way.
Prompts use a fixed width (zero-padded) so every prompt of a task has the same length and
batches of prompts need no padding; answers use the shortest form, ended by the engine's EOS.
Token i of the vocabulary: 0 = "+", 1 = "-", 2 + d = digit d.
"""
from __future__ import annotations

import numpy as np

PLUS, MINUS, DIGIT0 = 0, 1, 2
# Marks an answer whose tokens do not spell an integer; no verifier ever accepts it.
MALFORMED = np.iinfo(np.int64).min


def digits_needed(value: int, base: int) -> int:
    """Digits of |value| in `base` (0 needs one digit)."""
    value, count = abs(int(value)), 1
    while value >= base:
        value //= base
        count += 1
    return count


class IntCodec:
    def __init__(self, base: int, max_digits: int) -> None:
        if base < 2:
            raise ValueError(f"base must be >= 2 (got {base})")
        self.base = base
        self.max_digits = max_digits

    def vocabulary(self) -> list[str]:
        return ["+", "-"] + [str(d) for d in range(self.base)]

    def _digit_matrix(self, values: np.ndarray, width: int) -> np.ndarray:
        """(N, width) digits of |values|, most significant first."""
        mag = np.abs(values.astype(np.int64)).astype(np.uint64)
        powers = np.uint64(self.base) ** np.arange(width - 1, -1, -1, dtype=np.uint64)
        return ((mag[:, None] // powers[None, :]) % np.uint64(self.base)).astype(np.int64)

    def encode_fixed(self, values: np.ndarray, width: int) -> np.ndarray:
        """(N, 1 + width) token ids, zero-padded to `width` digits."""
        values = np.asarray(values, dtype=np.int64).reshape(-1)
        signs = np.where(values < 0, MINUS, PLUS)
        return np.concatenate([signs[:, None], DIGIT0 + self._digit_matrix(values, width)], axis=1)

    def encode(self, values: np.ndarray) -> list[list[int]]:
        """Shortest encoding of each value (no leading zeros)."""
        fixed = self.encode_fixed(values, self.max_digits)
        rows = []
        for row in fixed.tolist():
            first = next((i for i in range(1, len(row) - 1) if row[i] != DIGIT0), len(row) - 1)
            rows.append([row[0]] + row[first:])
        return rows

    def decode(self, tokens: list[int]) -> int:
        """The integer spelled by `tokens`, or MALFORMED (never raises)."""
        if len(tokens) < 2 or len(tokens) > 1 + self.max_digits or tokens[0] not in (PLUS, MINUS):
            return MALFORMED
        value = 0
        for tok in tokens[1:]:
            digit = tok - DIGIT0
            if not 0 <= digit < self.base:
                return MALFORMED
            value = value * self.base + digit
        if value > np.iinfo(np.int64).max:
            return MALFORMED
        return -value if tokens[0] == MINUS else value

    def decode_many(self, rows: list[list[int]]) -> np.ndarray:
        return np.fromiter((self.decode(list(r)) for r in rows), dtype=np.int64, count=len(rows))

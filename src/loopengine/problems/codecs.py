"""Token codecs: how a problem's objects become the model's tokens, and its samples objects again.

A problem holds one codec (`Problem.codec`, set in its `__init__`) and the engine reaches the
vocabulary, encoding and decoding only through it. Built here, for any problem to use:
- `SubsetCodec`: objects are 0/1 indicator rows over a finite set (the edges of a graph on n
  vertices, the cells of a grid); tokens are the indices of the members present, sorted.
- `BitCodec`: the same objects, one 0/1 token per member of the set, in set order.
- `IntCodec`: integers as a sign token and base-B digits, most significant first.

Token ids are indices into `vocabulary()`; the engine adds its own PAD/BOS/SEP/EOS in front.
The vocabulary is fixed for a whole run, so checkpoints never drift.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from loopengine.pool import Pool

# Training rows as arrays, written without a Python step per row (Codec.encode_tokens):
# prompt ids (N, P), answer ids right-padded with -1 (N, A), answer lengths (N,).
TokenArrays = tuple[np.ndarray, np.ndarray, np.ndarray]


class Codec:
    """Objects <-> token ids, for one problem and its settings."""

    def vocabulary(self) -> list[str]:
        """The problem's tokens, fixed for the whole run."""
        raise NotImplementedError

    def max_answer_tokens(self) -> int:
        """Longest encoding of one object (the model samples at most this many tokens)."""
        raise NotImplementedError

    def encode(self, pool: Pool) -> list[list[int]]:
        """The token ids of each row's object (what the model trains on and the archive keeps)."""
        raise NotImplementedError

    def decode(self, tokens: list[list[int]], prompts: np.ndarray | None) -> Pool:
        """Token lists -> a Pool with one row per input. Rows that do not parse must still
        appear (e.g. as an empty object) and later evaluate as invalid; never raise."""
        raise NotImplementedError

    def encode_tokens(self, pool: Pool) -> TokenArrays | None:
        """Optional fast path for training: the prompt and answer tokens of every row as
        arrays (TokenArrays), e.g. written by C++ in one call. None (default): the engine
        collates the lists of `encode` (and the problem's `encode_prompts`) itself."""
        return None


Relabel = Callable[[np.ndarray], np.ndarray]


class IndicatorCodec(Codec):
    """What SubsetCodec and BitCodec share: objects are 0/1 indicator rows (uint8) over a
    finite set of `size` members. `relabel`, when given, maps a batch of objects to
    equivalent ones before encoding (e.g. graphs relabelled in an order the model learns more
    easily); decoding does not undo it, as the relabelled object is equivalent."""

    def __init__(self, size: int, max_tokens: int, relabel: Relabel | None) -> None:
        self.size = size
        self.max_tokens = max_tokens
        self.relabel = relabel

    def max_answer_tokens(self) -> int:
        return self.max_tokens

    def objects(self, pool: Pool) -> np.ndarray:
        """The rows to encode: the pool's objects, relabelled when the codec relabels."""
        return pool.objects if self.relabel is None else self.relabel(pool.objects)

    def empty(self, count: int) -> np.ndarray:
        return np.zeros((count, self.size), dtype=np.uint8)


class SubsetCodec(IndicatorCodec):
    """A token per member present, in increasing index order; the vocabulary names the
    members (`names`, one per member). `max_tokens` caps a sample's length (default: the
    whole set): a short cap makes sampling cheaper when good objects are small subsets."""

    def __init__(self, names: list[str], max_tokens: int | None = None, relabel: Relabel | None = None) -> None:
        self.names = list(names)
        super().__init__(len(self.names), len(self.names) if max_tokens is None else max_tokens, relabel)

    def vocabulary(self) -> list[str]:
        return list(self.names)

    def encode(self, pool: Pool) -> list[list[int]]:
        return [np.flatnonzero(row).tolist() for row in self.objects(pool)]

    def decode(self, tokens: list[list[int]], prompts: np.ndarray | None = None) -> Pool:
        objects = self.empty(len(tokens))
        for row, toks in enumerate(tokens):
            objects[row, [t for t in toks if 0 <= t < self.size]] = 1  # ids outside the set are dropped
        return Pool(objects=objects, origin=np.full(len(tokens), "sample", dtype=object))


class BitCodec(IndicatorCodec):
    """A token per member of the set, in set order: "1" = present, "0" = absent
    (PatternBoost's adjacency-bit encoding, for graphs)."""

    def __init__(self, size: int, relabel: Relabel | None = None) -> None:
        super().__init__(size, size, relabel)

    def vocabulary(self) -> list[str]:
        return ["0", "1"]

    def encode(self, pool: Pool) -> list[list[int]]:
        return [row.tolist() for row in self.objects(pool)]

    def decode(self, tokens: list[list[int]], prompts: np.ndarray | None = None) -> Pool:
        objects = self.empty(len(tokens))
        for row, toks in enumerate(tokens):  # a short sample leaves its missing members out
            bits = np.asarray(toks[: self.size], dtype=np.int64)
            objects[row, : len(bits)] = bits == 1
        return Pool(objects=objects, origin=np.full(len(tokens), "sample", dtype=object))


# ---- integers -------------------------------------------------------------------------------
# Shared by every integer-arithmetic problem so they all read and write numbers the same way.
# Prompts use a fixed width (zero-padded) so every prompt of a task has the same length and
# batches of prompts need no padding; answers use the shortest form, ended by the engine's EOS.
# Token i of the vocabulary: 0 = "+", 1 = "-", 2 + d = digit d.
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
    """Integers <-> tokens: a sign, then base-`base` digits, at most `max_digits` of them.
    (It encodes numbers, not pools: a problem's Codec uses it for its prompts and answers.)"""

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

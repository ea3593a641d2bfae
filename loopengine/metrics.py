"""Per-generation numbers: scores, validity, and the collapse metrics (diversity, novelty)."""
from __future__ import annotations

import math
from collections import Counter

import numpy as np


def token_entropy(token_lists: list[list[int]]) -> float:
    """Shannon entropy (bits) of the token distribution over all sequences."""
    counts = Counter(t for seq in token_lists for t in seq)
    total = sum(counts.values())
    if total == 0:
        return 0.0
    return -sum(c / total * math.log2(c / total) for c in counts.values())


def unique_fraction(keys: list[bytes]) -> float:
    return len(set(keys)) / len(keys) if keys else 0.0


def novelty(keys: list[bytes], seen: set[bytes]) -> float:
    """Share of distinct keys never seen in an earlier generation."""
    distinct = set(keys)
    return len(distinct - seen) / len(distinct) if distinct else 0.0


def score_summary(score: np.ndarray, valid: np.ndarray) -> dict[str, float | None]:
    s = np.asarray(score, dtype=np.float64)[np.asarray(valid, dtype=bool)]
    if len(s) == 0:
        return {"best": None, "median": None, "q10": None, "q90": None}
    q10, med, q90 = np.quantile(s, [0.1, 0.5, 0.9])
    return {"best": float(s.max()), "median": float(med), "q10": float(q10), "q90": float(q90)}

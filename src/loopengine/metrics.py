"""Per-generation numbers: scores, validity, and the collapse metrics.

Collapse shows first as lost diversity (fewer distinct samples, lower token entropy, nothing
new) and lost tails (answer classes the model stops producing; Dohmatob et al., arXiv
2402.07043), so each of those is measured on what the model itself sampled.
"""
from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Hashable, Iterable
from typing import Any

import numpy as np

from loopengine.pool import Pool
from loopengine.problems.base import Problem


def token_entropy(token_lists: list[list[int]]) -> float:
    """Shannon entropy (bits) of the token distribution pooled over all sequences."""
    counts = Counter(t for seq in token_lists for t in seq)
    total = sum(counts.values())
    if total == 0:
        return 0.0
    return -sum(c / total * math.log2(c / total) for c in counts.values())


def unique_fraction(keys: list[bytes]) -> float:
    return len(set(keys)) / len(keys) if keys else 0.0


def fingerprint(key: bytes) -> int:
    """64-bit digest of a canonical key. The set of keys seen so far lives in every
    checkpoint, so it holds these (8 bytes) rather than whole encodings."""
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little")


def novelty(keys: list[bytes], seen: set[int]) -> float:
    """Share of distinct keys whose fingerprint is not in `seen` (earlier generations)."""
    distinct = {fingerprint(k) for k in keys}
    return len(distinct - seen) / len(distinct) if distinct else 0.0


def score_summary(score: np.ndarray | None, valid: np.ndarray | None, prefix: str = "") -> dict[str, float | None]:
    """Best and quantiles of the verified rows' scores (None when nothing is verified)."""
    names = [prefix + n for n in ("best", "q10", "median", "q90")]
    if score is None or valid is None:
        return dict.fromkeys(names)
    s = np.asarray(score, dtype=np.float64)[np.asarray(valid, dtype=bool)]
    if len(s) == 0:
        return dict.fromkeys(names)
    q10, med, q90 = np.quantile(s, [0.1, 0.5, 0.9])
    return dict(zip(names, (float(s.max()), float(q10), float(med), float(q90))))


def class_coverage(produced: Iterable[Hashable | None], truth: Iterable[Hashable] | None) -> dict[str, Any]:
    """How many answer classes the model produces, against the classes of the true answers
    to the same prompts. None in `produced` marks an answer with no class (malformed).

    class_coverage: share of the true classes the model produced at least once;
    class_tv: total-variation distance between the produced and true class distributions
    (0 = same distribution, 1 = disjoint); top_class_share: share of the commonest class."""
    made = Counter(c for c in produced if c is not None)
    n_made = sum(made.values())
    out: dict[str, Any] = {
        "classes_produced": len(made),
        "top_class_share": max(made.values()) / n_made if n_made else None,
    }
    if truth is None:
        return out
    true = Counter(truth)
    n_true = sum(true.values())
    out["classes_true"] = len(true)
    out["class_coverage"] = len(set(made) & set(true)) / len(true) if true else None
    if n_made and n_true:
        tv = 0.5 * sum(abs(made[c] / n_made - true[c] / n_true) for c in set(made) | set(true))
        out["class_tv"] = tv
    return out


def collapse_metrics(problem: Problem, samples: Pool, seen: set[int]) -> tuple[dict[str, Any], set[int]]:
    """The collapse metrics of one generation's samples (evaluated), and the fingerprints to
    add to `seen` afterwards."""
    keys = problem.canonical_keys(samples) if len(samples) else []
    valid = np.zeros(0, dtype=bool) if samples.valid is None else np.asarray(samples.valid, dtype=bool)
    out: dict[str, Any] = {
        "unique_fraction": unique_fraction(keys),
        "novelty": novelty(keys, seen),
        "token_entropy": token_entropy(problem.codec.encode(samples)) if len(samples) else 0.0,
        "sample_valid_fraction": float(valid.mean()) if len(valid) else 0.0,
        **score_summary(samples.score, samples.valid, prefix="sample_"),
    }
    produced = problem.answer_class(samples) if problem.conditional and len(samples) else None
    if produced is not None:
        out.update(class_coverage(produced, problem.true_answer_class(samples)))
    return out, {fingerprint(k) for k in keys}


def judged_as_sampled(problem: Problem, raw: Pool, searched: Pool, threads: int) -> Pool:
    """The model's own samples, judged as sampled: rows local search left alone share the
    searched pool's verdict; only the rows it changed are verified again."""
    n = len(raw)
    changed = np.any(raw.objects.reshape(n, -1) != searched.objects.reshape(n, -1), axis=1)
    raw.score = np.asarray(searched.score, dtype=np.float64).copy()
    raw.valid = np.asarray(searched.valid, dtype=bool).copy()
    if changed.any():
        again = problem.evaluate(raw.take(np.flatnonzero(changed)), threads)
        raw.score[changed], raw.valid[changed] = again.score, again.valid
    return raw


def sample_metrics(problem: Problem, pool: Pool, raw: Pool | None, seen: set[int], threads: int) -> dict[str, Any]:
    """Collapse metrics, measured on what the model sampled before local search touched it
    (`raw`, the first rows of `pool`), or on the seeds when nothing was sampled. Updates `seen`:
    novelty counts as seen everything of earlier generations, samples and the searched or
    seeded candidates alike."""
    view = pool if raw is None else judged_as_sampled(problem, raw, pool.take(np.arange(len(raw))), threads)
    out, fingerprints = collapse_metrics(problem, view, seen)
    seen.update(fingerprints)
    if raw is not None:
        seen.update(fingerprint(k) for k in problem.canonical_keys(pool))
    return out

"""Start sources and the allocator: where each generation's local search starts, and how many
starts each source gets.

Every generation g >= 1 has one budget of starts (`loop.samples_per_generation`: rows sent
to local search). The sources that share it:
- "model":      the model's samples (absent when `model.enabled = false`: search alone);
- "random":     fresh random starts, `Problem.search_starts`;
- "curriculum": seeds from a smaller run, `Problem.curriculum_starts` (c4free `seed_from`);
- "elites":     the top `loop.elite_reentry` rows of the elite archive, cycled to fill the
                share and searched again with the kernel's `elite_params` (the perturbation).

The allocator gives each source a share from its yield over the last `sources.window`
generations: credited rows per start, where a row is credited when it entered the elite
archive or improved the best score (of its prompt, for a conditional problem), or, for a
rare-event problem (`Problem.hits`, e.g. the trees' counterexamples), is a hit the run had
not found before. A share never
drops below `sources.floor`, so a source that stopped paying is still measured and can earn
its way back.

The cost unit (`sources.cost`) is by default a start (one row sent to local search), not a
kernel-second. Within one generation every start of a source runs the same kernel with the
same parameters, so starts count kernel work; and they are deterministic, where seconds change
from one run (or one machine load) to the next: a split read from timings would break "same
seed, same archive" and bit-identical resume. But starts do not see what the model costs
outside the kernel (sampling, fine-tuning), so with `cost = "seconds"` each source pays its
wall-clock seconds instead: its part of the kernel time, plus, for the model, its sampling
and the fine-tuning that prepared it; and fine-tuning gets at most the model's share of the
generation's kernel time (`training_budget`). That is the setting for equal-wall-clock
comparisons; its runs are not reproducible. Everything the allocator reads (counts of starts,
credits and seconds, the per-prompt best scores) lives in `LoopState.sources`, saved in every
checkpoint.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from loopengine.config import SourcesSettings
from loopengine.metrics import fingerprint
from loopengine.pool import Pool
from loopengine.problems.base import Problem

MODEL, RANDOM, CURRICULUM, ELITES = "model", "random", "curriculum", "elites"
# Order of the rows in a generation's pool: the model's samples first (the collapse metrics
# read them as the pool's first rows), the elites last (searched with their own parameters).
ORDER = (MODEL, RANDOM, CURRICULUM, ELITES)
SEARCHED = "+search"  # origin suffix of a row local search changed ("model+search")


def has_search_starts(problem: Problem) -> bool:
    """Whether the problem can give random starts (every unconditional problem can; a
    conditional one only when it defines search_starts for its prompts)."""
    return not problem.conditional or type(problem).search_starts is not Problem.search_starts


def has_hits(problem: Problem) -> bool:
    """Whether the problem names hits (Problem.hits: a rare-event problem)."""
    return type(problem).hits is not Problem.hits


def source_of(origin: str) -> str:
    return str(origin).split("+", 1)[0]


def split(budget: int, shares: dict[str, float]) -> dict[str, int]:
    """`budget` starts in proportion to `shares` (largest remainder, ties in ORDER), every
    source at least one start while the budget allows."""
    names = [n for n in ORDER if n in shares]
    if not names:
        return {}
    total = sum(shares[n] for n in names)
    exact = {n: budget * shares[n] / total for n in names}
    counts = {n: int(exact[n]) for n in names}
    for n in sorted(names, key=lambda n: -(exact[n] - counts[n]))[: budget - sum(counts.values())]:
        counts[n] += 1
    for n in names:  # a share above the floor is never rounded down to nothing
        if counts[n] == 0 and budget >= len(names):
            donor = max(names, key=lambda m: counts[m])
            counts[donor] -= 1
            counts[n] = 1
    return counts


def equal_shares(names: list[str]) -> dict[str, float]:
    return {n: 1.0 / len(names) for n in names}


def window_totals(history: list[dict[str, list]], name: str) -> tuple[int, int, float]:
    """(starts, credited rows, seconds) of one source over the recorded window (seconds are
    recorded only with cost = "seconds": 0 otherwise)."""
    starts = sum(h[name][0] for h in history if name in h)
    credit = sum(h[name][1] for h in history if name in h)
    seconds = sum(h[name][2] for h in history if name in h and len(h[name]) > 2)
    return starts, credit, seconds


def allocate(names: list[str], history: list[dict[str, list[int]]], previous: dict[str, float],
             settings: SourcesSettings) -> dict[str, float]:
    """The shares of the next generation: floor + the rest in proportion to each source's
    credited rows per start over the window. With no credit in the window (nothing new was
    found) the previous shares stand, so a long plateau does not hand the budget back."""
    if not names:
        return {}
    kept = {n: previous[n] for n in names if n in previous}
    base = (kept if len(kept) == len(names) and sum(kept.values()) > 0 else equal_shares(names))
    base = {n: v / sum(base.values()) for n, v in base.items()}
    if not settings.adaptive or len(names) == 1:
        return equal_shares(names) if not settings.adaptive else base
    rates = {}
    for n in names:
        starts, credit, seconds = window_totals(history, n)
        cost = seconds if settings.cost == "seconds" else starts
        rates[n] = credit / cost if cost else 0.0
    total = sum(rates.values())
    if total == 0:
        return base
    floor = min(settings.floor, 1.0 / len(names))
    return {n: floor + (1.0 - floor * len(names)) * rates[n] / total for n in names}


def training_scale(share: float | None, names: list[str], settings: SourcesSettings) -> float:
    """Training costs what the model earns: fine-tuning steps are scaled by the model's share
    of the next generation over an equal share (at most 1), so a model held at its floor
    trains floor / equal as much. 1 when the rule is off or the model is the only source."""
    if not settings.train_by_share or share is None or len(names) < 2:
        return 1.0
    return min(1.0, share * len(names))


def training_budget(share: float | None, kernel_seconds: float) -> float | None:
    """cost = "seconds": the most seconds fine-tuning may take after a generation, the model's
    share of the next generation times this generation's kernel seconds. So the model's
    training is paid from its own share: held at the floor it costs about floor x the
    kernel's time, and its samples must earn more per second than the other sources' to grow."""
    return None if share is None else share * kernel_seconds


def source_seconds(origins: np.ndarray, timings: dict[str, float], extra: dict[str, float]) -> dict[str, float]:
    """Each source's wall-clock cost in one generation, from the generation's kernel timings:
    the model's samples have their own kernel call ("search_model"), the random and curriculum
    starts share one ("search_fresh", split by their rows), the elites have theirs
    ("search_elites"); `extra` adds what a source spent outside the kernel (the model's
    sampling and training)."""
    names = [source_of(o) for o in origins]
    fresh = [n for n in names if n not in (MODEL, ELITES)]
    out: dict[str, float] = {}
    for n in dict.fromkeys(names):
        if n == MODEL:
            out[n] = timings.get("search_model", 0.0)
        elif n == ELITES:
            out[n] = timings.get("search_elites", 0.0)
        else:
            out[n] = timings.get("search_fresh", 0.0) * fresh.count(n) / len(fresh)
    for n, sec in extra.items():
        if n in out:
            out[n] += sec
    return out


class Credit:
    """Which rows of an evaluated generation paid: entered the elite archive, or improved the
    best score (the run's best for an unconditional problem, the best for the row's prompt
    for a conditional one: a first verified answer to a target counts)."""

    def __init__(self, pool: Pool, entered: np.ndarray, best_before: float | None,
                 prompt_best: dict[int, float], new_hits: np.ndarray | None = None) -> None:
        n = len(pool)
        valid = np.zeros(n, dtype=bool) if pool.valid is None else np.asarray(pool.valid, dtype=bool)
        score = np.full(n, -np.inf) if pool.score is None else np.asarray(pool.score, dtype=np.float64)
        self.entered = np.zeros(n, dtype=bool)
        self.entered[np.asarray(entered, dtype=np.int64)] = True
        if pool.prompts is None:
            self.improved = valid & (score > (-np.inf if best_before is None else best_before))
        else:
            self.improved = np.zeros(n, dtype=bool)
            prompts = np.ascontiguousarray(pool.prompts)
            for i in np.flatnonzero(valid):
                key = fingerprint(prompts[i].tobytes())
                if score[i] > prompt_best.get(key, -np.inf):
                    prompt_best[key] = float(score[i])  # a later row of the same prompt must beat this one
                    self.improved[i] = True
        # rare-event problems (Problem.hits): a hit no earlier row of the run had
        self.new_hits = np.zeros(n, dtype=bool) if new_hits is None else np.asarray(new_hits, dtype=bool)
        self.paid = self.entered | self.improved | self.new_hits


def new_hits(hits: np.ndarray | None, keys, seen: set[int]) -> np.ndarray | None:
    """The hits (Problem.hits) whose canonical key no earlier row of the run had, the first of
    equal ones in pool order; `seen` (fingerprints) gains them. `keys()` gives the pool's
    canonical keys, computed only when there is a hit."""
    if hits is None:
        return None
    hits = np.asarray(hits, dtype=bool)
    out = np.zeros(len(hits), dtype=bool)
    if hits.any():
        all_keys = keys()
        for i in np.flatnonzero(hits):
            f = fingerprint(all_keys[i])
            if f not in seen:
                seen.add(f)
                out[i] = True
    return out


def new_state() -> dict[str, Any]:
    """The allocator's part of LoopState: shares of the coming generation, the last `window`
    generations' [starts, credited rows] per source, the best score per prompt, and the
    fingerprints of the hits found so far (rare-event problems)."""
    return {"shares": {}, "history": [], "prompt_best": {}, "hits": set()}


def record(state: dict[str, Any], pool: Pool, credit: Credit, names: list[str], shares: dict[str, float],
           settings: SourcesSettings, seconds: dict[str, float] | None = None) -> dict[str, dict[str, Any]]:
    """Book one generation's credits per source and move the window (the caller then sets the
    next shares with allocate). `seconds`: each source's wall-clock cost (source_seconds),
    booked with cost = "seconds" and reported either way. Returns this generation's
    per-source metrics."""
    origins = np.array([source_of(o) for o in pool.origin], dtype=object)
    seconds = seconds or {}
    row: dict[str, list] = {}
    out: dict[str, dict[str, Any]] = {}
    for n in names:
        mine = origins == n
        starts, paid = int(mine.sum()), int((credit.paid & mine).sum())
        sec = seconds.get(n)
        # seconds enter the checkpoint only when they steer the split: a "starts" run's
        # checkpoints stay free of timings
        row[n] = [starts, paid, round(sec or 0.0, 6)] if settings.cost == "seconds" else [starts, paid]
        out[n] = {"share": shares.get(n), "starts": starts, "yield": paid / starts if starts else None,
                  "entered_elites": int((credit.entered & mine).sum()),
                  "improved_best": int((credit.improved & mine).sum()),
                  "new_hits": int((credit.new_hits & mine).sum()),
                  "seconds": None if sec is None else round(sec, 3),
                  "yield_per_s": paid / sec if sec else None}
    if names:
        state["history"] = (state["history"] + [row])[-settings.window:]
    return out

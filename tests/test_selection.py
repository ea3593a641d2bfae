"""The collapse guard: what selection admits, the elite archive, the master switch and the
temperature rule."""
import numpy as np
import pytest
from pydantic import ValidationError

from loopengine.config import SamplingSettings, SelectionSettings
from loopengine.pool import Pool
from loopengine.problems.base import Problem
from loopengine.selection import EliteArchive, admissible, dedup_index, next_temperature, rank_index, training_set


class Toy(Problem):
    """Objects are single integers; exact-encoding keys (the base default)."""


def pool(values, valid, scores=None) -> Pool:
    values = np.asarray(values, dtype=np.int64)
    return Pool(objects=values[:, None],
                score=np.asarray(values if scores is None else scores, dtype=np.float64),
                valid=np.asarray(valid, dtype=bool))


def values(p: Pool | None) -> list[int]:
    return [] if p is None else p.objects[:, 0].tolist()


def random_pool(rng: np.random.Generator, n: int) -> Pool:
    return pool(rng.integers(0, 20, n), rng.random(n) < 0.5, rng.integers(0, 8, n))


def test_never_admits_invalid():
    rng = np.random.default_rng(0)
    for _ in range(50):
        p = random_pool(rng, 40)
        kept = admissible(p, Toy(None), SelectionSettings())
        assert kept.valid.all()
        # every admitted row is a verified row of the input
        admitted = set(zip(values(kept), kept.score.tolist()))
        assert admitted <= set(zip(values(p.take(np.flatnonzero(p.valid))), p.score[p.valid].tolist()))


def test_dedup_is_exact():
    rng = np.random.default_rng(1)
    for _ in range(50):
        p = random_pool(rng, 60)
        kept = admissible(p, Toy(None), SelectionSettings(rank=False))
        expected = list(dict.fromkeys(values(p.take(np.flatnonzero(p.valid)))))  # first occurrences, in order
        assert values(kept) == expected
    assert dedup_index([b"a", b"b", b"a", b"c", b"b"]).tolist() == [0, 1, 3]


def test_rank_is_best_first_and_stable():
    assert rank_index(np.array([1.0, 3.0, np.nan, 3.0, 2.0])).tolist() == [1, 3, 4, 0, 2]
    kept = admissible(pool([5, 9, 7, 9], [True] * 4), Toy(None), SelectionSettings())
    assert values(kept) == [9, 7, 5]


def test_guard_off_is_raw():
    p = pool([3, 3, 1, 8, 2], [False, True, True, False, True])
    settings = SelectionSettings(guard=False)
    got = (settings.verified_only, settings.dedup, settings.rank, settings.elite_fraction)
    assert got == (False, False, False, 0.0)
    kept = admissible(p, Toy(None), settings)
    assert values(kept) == [3, 3, 1, 8, 2]
    assert kept.valid.tolist() == p.valid.tolist()
    elites = EliteArchive(4)
    elites.update(p, Toy(None))
    fresh, replay = training_set(kept, elites, 3, settings, Toy(None))
    assert values(fresh) == [3, 3, 1]
    assert replay is None


def test_guard_off_conflicts_with_explicit_steps():
    with pytest.raises(ValidationError, match="guard = false"):
        SelectionSettings(guard=False, dedup=True)
    SelectionSettings(guard=False, dedup=False)  # consistent: allowed


def test_elite_archive_only_verified_and_monotone():
    rng = np.random.default_rng(2)
    archive, best = EliteArchive(5), -np.inf
    all_valid: set[int] = set()
    for _ in range(40):
        p = random_pool(rng, 15)
        all_valid |= set(values(p.take(np.flatnonzero(p.valid))))
        archive.update(p, Toy(None))
        if archive.best_score() is None:
            continue
        assert archive.best_score() >= best
        best = archive.best_score()
        assert len(archive) <= 5
        assert archive.pool.valid.all()
        assert set(values(archive.pool)) <= all_valid
        assert len(set(values(archive.pool))) == len(archive)  # distinct
        assert (np.diff(archive.pool.score) <= 0).all()  # best first


def test_training_set_mixes_generation_and_elites_without_repeats():
    toy = Toy(None)
    elites = EliteArchive(3)
    elites.update(pool([10, 11, 12], [True] * 3), toy)
    gen = admissible(pool([12, 4, 11, 6, 5, 3], [True] * 6), toy, SelectionSettings())
    fresh, replay = training_set(gen, elites, 6, SelectionSettings(elite_fraction=0.5), toy)
    assert values(replay) == [12, 11, 10]
    assert values(fresh) == [6, 5, 4]  # the generation's best not already replayed
    # fewer elites than the share asks for: the generation fills the rest
    fresh, replay = training_set(gen, elites, 8, SelectionSettings(elite_fraction=1.0), toy)
    assert len(values(replay)) == 3
    assert values(fresh) == [6, 5, 4, 3]


def test_temperature_rises_below_threshold_and_is_capped():
    s = SamplingSettings(temperature=1.0, min_unique_fraction=0.5, temperature_step=0.25, max_temperature=1.6)
    t, path = 1.0, []
    for _ in range(5):
        t = next_temperature(t, 0.2, s)
        path.append(t)
    assert path == [1.25, 1.5, 1.6, 1.6, 1.6]
    assert next_temperature(1.25, 0.5, s) == 1.25  # at the threshold: diverse enough
    assert next_temperature(1.25, 0.9, s) == 1.25
    off = SamplingSettings(min_unique_fraction=0.0)
    assert next_temperature(1.0, 0.0, off) == 1.0
    with pytest.raises(ValidationError, match="max_temperature"):
        SamplingSettings(temperature=3.0, max_temperature=2.0, min_unique_fraction=0.5)

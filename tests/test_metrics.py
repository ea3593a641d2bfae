"""Collapse metrics on hand-made pools, and their recording in a real run's metrics.json."""
import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from loopengine.cli import app
from loopengine.config import SamplingSettings
from loopengine.metrics import (
    class_coverage,
    collapse_metrics,
    fingerprint,
    novelty,
    score_summary,
    token_entropy,
    unique_fraction,
)
from loopengine.pool import Pool
from loopengine.problems.base import ConditionalProblem
from loopengine.problems.codecs import Codec
from loopengine.selection import next_temperature


class DigitCodec(Codec):
    def encode(self, pool):
        return pool.objects.tolist()


class Digits(ConditionalProblem):
    """Objects are rows of digits; tokens are the digits; class = first digit; the true
    class of a row is its prompt."""

    codec = DigitCodec()

    def answer_class(self, pool):
        return [int(r[0]) for r in pool.objects]

    def true_answer_class(self, pool):
        return pool.prompts[:, 0].tolist()


def test_token_entropy_known_values():
    assert token_entropy([[0, 1], [2, 3]]) == pytest.approx(2.0)  # four equally likely tokens
    assert token_entropy([[5, 5, 5]]) == 0.0
    assert token_entropy([[0, 0, 0], [1]]) == pytest.approx(-(0.75 * math.log2(0.75) + 0.25 * math.log2(0.25)))
    assert token_entropy([]) == 0.0


def test_unique_fraction_and_novelty():
    assert unique_fraction([b"a", b"a", b"b", b"c"]) == 0.75
    assert unique_fraction([]) == 0.0
    seen = {fingerprint(b"a"), fingerprint(b"x")}
    # distinct keys a, b, c, d: b, c, d are new
    assert novelty([b"a", b"b", b"b", b"c", b"d"], seen) == 0.75
    assert novelty([b"a", b"x"], seen) == 0.0
    assert fingerprint(b"a") == fingerprint(b"a") != fingerprint(b"b")


def test_score_summary_uses_verified_rows_only():
    s = score_summary(np.array([100.0, 1, 2, 3, 4, 5]), np.array([False, True, True, True, True, True]))
    assert s == {"best": 5.0, "q10": pytest.approx(1.4), "median": 3.0, "q90": pytest.approx(4.6)}
    assert score_summary(np.array([1.0]), np.array([False]))["best"] is None
    expected = {"sample_best", "sample_q10", "sample_median", "sample_q90"}
    assert set(score_summary(None, None, prefix="sample_")) == expected


def test_class_coverage_against_truth():
    out = class_coverage([1, 1, 1, None, 2], [1, 2, 3, 1, 4])
    assert out["classes_produced"] == 2
    assert out["classes_true"] == 4
    assert out["class_coverage"] == 0.5
    assert out["top_class_share"] == 0.75
    # produced 1: 3/4, 2: 1/4; true 1: 2/5, 2, 3, 4: 1/5 each
    assert out["class_tv"] == pytest.approx(0.5 * (abs(0.75 - 0.4) + abs(0.25 - 0.2) + 0.2 + 0.2))
    same = class_coverage([1, 2, 2], [2, 1, 2])
    assert same["class_coverage"] == 1.0
    assert same["class_tv"] == 0.0
    assert "classes_true" not in class_coverage([1], None)


def test_collapse_metrics_on_a_hand_made_pool():
    objects = np.array([[1, 2], [1, 2], [3, 4], [5, 5]], dtype=np.int64)
    pool = Pool(objects=objects, prompts=np.array([[1], [1], [3], [7]]),
                score=np.array([2.0, 2.0, 7.0, 9.0]), valid=np.array([True, True, True, False]))
    problem = Digits(None)
    keys = problem.canonical_keys(pool)
    seen = {fingerprint(keys[0])}
    out, new = collapse_metrics(problem, pool, seen)
    assert out["unique_fraction"] == 0.75
    assert out["novelty"] == pytest.approx(2 / 3)
    # tokens 1,2,1,2,3,4,5,5: counts 2,2,1,1,2 over 8
    assert out["token_entropy"] == pytest.approx(-(3 * 0.25 * math.log2(0.25) + 2 * 0.125 * math.log2(0.125)))
    assert out["sample_valid_fraction"] == 0.75
    assert out["sample_best"] == 7.0
    assert out["classes_produced"] == 3
    assert out["classes_true"] == 3
    assert out["class_coverage"] == pytest.approx(2 / 3)
    assert new == {fingerprint(k) for k in keys}


# nearly greedy sampling repeats itself, so diversity control heats it up; any repeated
# sample (min_unique_fraction = 1) raises the temperature, up to the cap
TEMPERATURE_OVERRIDES = ["train.first_steps=30", "sampling.temperature=0.02", "sampling.batch_size=24",
                         "sampling.min_unique_fraction=1.0", "sampling.temperature_step=0.01",
                         "sampling.max_temperature=0.035", "kernel.elite_params={}"]


def test_temperature_is_raised_capped_and_recorded(tiny_task, tmp_path):
    overrides = [arg for item in TEMPERATURE_OVERRIDES for arg in ("--set", item)]
    result = CliRunner().invoke(app, ["run", str(tiny_task), "--out", str(tmp_path / "runs"), "--quiet", *overrides])
    assert result.exit_code == 0, result.output
    gens = [json.loads((tmp_path / "runs" / "tiny-3" / f"gen_{g:04d}" / "metrics.json").read_text()) for g in range(3)]
    settings = SamplingSettings(temperature=0.02, batch_size=24, min_unique_fraction=1.0,
                                temperature_step=0.01, max_temperature=0.035)
    assert gens[0]["temperature"] == gens[0]["next_temperature"] == 0.02  # no samples at g = 0
    for prev, m in zip(gens, gens[1:]):
        assert m["temperature"] == prev["next_temperature"]  # the recorded temperature is the one used
        assert m["next_temperature"] == next_temperature(m["temperature"], m["unique_fraction"], settings)
        for key in ("unique_fraction", "novelty", "token_entropy", "sample_valid_fraction", "valid_fraction"):
            assert 0.0 <= m[key] <= (1.0 if key != "token_entropy" else math.log2(28))
        assert m["next_temperature"] <= 0.035  # capped
    # this seed repeats samples in both generations: 0.02 -> 0.03 -> 0.035 (the cap)
    assert [m["unique_fraction"] < 1.0 for m in gens[1:]] == [True, True]
    assert [m["next_temperature"] for m in gens[1:]] == pytest.approx([0.03, 0.035])

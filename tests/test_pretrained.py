"""Shipped pretrained models (`model.init_from = "pretrained:NAME"`) and the credit each
Lyapunov certificate gives to the source that proposed its V."""
from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest
import torch

from loopengine.config import load_task
from loopengine.errors import ConfigError
from loopengine.learn import pretrained
from loopengine.learn.model import Transformer, shape_for
from loopengine.learn.transfer import warm_start
from loopengine.pool import Pool
from loopengine.problems import make_problem
from loopengine.problems.lyapunov.certificate import GAS

ONE = {"mode": "one", "f": ["-x0 + x1", "-x0 - x1"]}


@pytest.fixture
def shipped(tmp_path, monkeypatch):
    """A model saved as package data would be, in a temporary package folder."""
    monkeypatch.setattr(pretrained, "DIRECTORY", tmp_path)
    return tmp_path


def tiny_model(tmp_path, problem):
    task_file = tmp_path / "t.toml"
    task_file.write_text('[task]\nname = "t"\nproblem = "lyapunov"\n[problem]\nmode = "one"\n'
                         'f = ["-x0 + x1", "-x0 - x1"]\n[model]\nlayers = 1\nheads = 2\nwidth = 16\n')
    task, _ = load_task(task_file, [])
    torch.manual_seed(0)
    return task_file, Transformer(shape_for(task, problem))


def test_a_shipped_model_starts_a_run_weight_for_weight(shipped, tmp_path):
    problem = make_problem("lyapunov", ONE, "t", tmp_path)
    task_file, trained = tiny_model(tmp_path, problem)
    shape = {"layers": 1, "heads": 2, "width": 16}
    path = pretrained.save("toy", trained.state_dict(), problem.codec.vocabulary(), shape, {"curve": []})
    assert path.is_file()
    assert path.with_suffix(".json").is_file()
    assert pretrained.available() == ["toy"]
    torch.manual_seed(1)
    fresh = Transformer(trained.shape)
    said = warm_start(fresh, "pretrained:toy", problem.codec.vocabulary(), task_file)
    assert "pretrained:toy" in said
    assert "new" in said
    for name, weight in fresh.state_dict().items():  # float16 on disk: equal to half precision
        assert torch.allclose(weight, trained.state_dict()[name].half().float()), name


def test_the_shipped_proposer_says_how_it_was_made():
    """lyapunov.json: the task files of every training stage and a curve whose examples grow
    across them (a continued run counts from where the earlier stage ended)."""
    from loopengine.learn import pretrained

    record = pretrained.record("lyapunov")
    stages = [record]
    while stages[-1].get("continues"):
        stages.append(stages[-1]["continues"])
    examples = [row["examples"] for stage in reversed(stages) for row in stage["curve"]]
    assert examples == sorted(examples)
    assert len(set(examples)) == len(examples)
    assert all("[task]" in stage["task"] for stage in stages)


def test_an_unknown_or_misfitting_shipped_model_is_a_config_error(shipped, tmp_path):
    problem = make_problem("lyapunov", ONE, "t", tmp_path)
    task_file, model = tiny_model(tmp_path, problem)
    with pytest.raises(ConfigError, match="model.init_from.*a shipped model, one of: none"):
        warm_start(model, "pretrained:nope", problem.codec.vocabulary(), task_file)
    other = Transformer(model.shape.__class__(**{**model.shape.__dict__, "width": 32}))
    pretrained.save("wide", other.state_dict(), problem.codec.vocabulary(), {"width": 32}, {})
    with pytest.raises(ConfigError, match="model.init_from.*not the same model.width"):
        warm_start(model, "pretrained:wide", problem.codec.vocabulary(), task_file)


def test_each_certificate_names_the_source_of_its_v(tmp_path):
    """A V the model sampled is credited to the model ("model"); a V found by finalize's SDP
    search to the SDP search; the summary counts proven V by source."""
    p = make_problem("lyapunov", ONE, "t", tmp_path)
    v = {(2, 0): Fraction(1), (0, 2): Fraction(1)}  # V' = -2 x0^2 - 2 x1^2: GAS
    pool = Pool(objects=p.rows(p.targets[0][1][None], [v]), origin=np.array(["model"], dtype=object))
    p.evaluate(pool)
    summary = p.finalize(tmp_path, pool)
    cert = json.loads(next((tmp_path / "certificates").glob("*.json")).read_text())
    assert cert["status"] == GAS
    assert cert["source"] == "model"
    assert summary.fields["proven_by"] == {"model": 1}

    q = make_problem("lyapunov", {"mode": "one", "f": ["x1", "-x0 - x1"]}, "t", tmp_path / "b")
    stable_only = {(2, 0): Fraction(1), (0, 2): Fraction(1)}  # only "globally stable": the SDP search goes on
    pool = Pool(objects=q.rows(q.targets[0][1][None], [stable_only]), origin=np.array(["random+search"], dtype=object))
    q.evaluate(pool)
    summary = q.finalize(tmp_path / "b", pool)
    assert summary.fields["proven_by"] == {"sdp search": 1}


def test_found_candidates_survive_a_checkpoint_with_their_source(tmp_path):
    p = make_problem("lyapunov", ONE, "t", tmp_path)
    pool = Pool(objects=p.rows(p.targets[0][1][None], [{(2, 0): Fraction(1), (0, 2): Fraction(1)}]),
                origin=np.array(["model"], dtype=object))
    p.evaluate(pool)
    q = make_problem("lyapunov", ONE, "t", tmp_path)
    q.load_state_dict(p.state_dict())
    assert [e[3] for e in q.found[0]] == ["model"]
    old_format = {"found": {0: [(e[0], e[2]) for e in p.found[0]]}}  # before sources were kept
    q.load_state_dict(old_format)
    assert [e[3] for e in q.found[0]] == ["unknown"]


def test_proposals_are_kept_and_certified_before_higher_scoring_searched_candidates(tmp_path):
    """Proposer first: the model's V as sampled is remembered beside better-scoring searched
    ones and certified first, so the source that proposed a proven V gets the credit."""
    p = make_problem("lyapunov", {**ONE, "certify_per_target": 1}, "t", tmp_path)
    proposal = {(2, 0): Fraction(1), (0, 2): Fraction(1), (4, 0): Fraction(1), (0, 4): Fraction(1)}  # proven
    searched = {(2, 0): Fraction(1), (0, 2): Fraction(1)}  # proven too, and scores higher (fewer terms)
    pool = Pool(objects=p.rows(np.repeat(p.targets[0][1][None], 2, axis=0), [proposal, searched]),
                origin=np.array(["model", "model+search"], dtype=object))
    p.evaluate(pool)
    assert pool.score[1] > pool.score[0]
    assert [e[3] for e in p.found[0]] == ["model", "model+search"]  # one of each kind kept, proposals first
    summary = p.finalize(tmp_path, pool)
    assert summary.fields["proven_by"] == {"model": 1}

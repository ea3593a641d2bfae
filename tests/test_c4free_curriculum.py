"""Size curriculum (problem.seed_from) and stopping at the best known value."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from loopengine import _core
from loopengine.cli import app
from loopengine.errors import ConfigError
from loopengine.problems.c4free.problem import C4Free, C4FreeSettings, c4_free_mask
from test_c4free import is_maximal

runner = CliRunner()


def run(task: Path, out: Path, *extra) -> Path:
    result = runner.invoke(app, ["run", str(task), "--out", str(out), "--quiet", *extra])
    assert result.exit_code == 0, result.output
    return out / "tiny-3"


def test_seeding_n_plus_one_from_a_run_at_n_gives_valid_graphs(tiny_task, tmp_path):
    source = run(tiny_task, tmp_path / "runs", "--generations", "1")  # n = 8
    problem = C4Free(C4FreeSettings(n=9, seed_from=str(source), seed_count=5))
    pool = problem.initial_pool(np.random.default_rng(0), 12)
    assert pool.objects.shape == (12, 36)
    assert c4_free_mask(pool.objects, 9).all()
    # the new vertex (8) starts isolated, and the graphs are the run's best at n = 8
    iu, ju = np.triu_indices(9, k=1)
    assert not pool.objects[:, ju == 8].any()
    assert pool.objects.sum(axis=1).max() == 11  # ex(8; C4), which the tiny run reaches
    searched = _core.c4_local_search(pool.objects, 1, 1, rounds=20)
    assert c4_free_mask(searched, 9).all()
    assert is_maximal(searched, 9).all()
    assert (searched.sum(axis=1) >= pool.objects.sum(axis=1)).all()


def test_seed_from_errors_name_the_key(tiny_task, tmp_path):
    with pytest.raises(ConfigError, match="problem.seed_from.*candidates.parquet"):
        C4Free(C4FreeSettings(n=9, seed_from=str(tmp_path / "nowhere"))).initial_pool(np.random.default_rng(0), 3)
    source = run(tiny_task, tmp_path / "runs", "--generations", "1")
    with pytest.raises(ConfigError, match="fewer vertices than n = 8"):
        C4Free(C4FreeSettings(n=8, seed_from=str(source))).initial_pool(np.random.default_rng(0), 3)


def test_a_curriculum_run_runs(tiny_task, tmp_path):
    source = run(tiny_task, tmp_path / "small", "--generations", "1")
    run_dir = run(tiny_task, tmp_path / "big", "--generations", "2", "--set", "problem.n=9",
                  "--set", f"problem.seed_from='{source}'")
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["best_ever"] >= 11  # at least the seed graphs (ex(9; C4) = 13)
    # after generation 0 the curriculum seeds are one start source among the others
    metrics = json.loads((run_dir / "gen_0001" / "metrics.json").read_text())
    assert set(metrics["sources"]) == {"model", "random", "curriculum", "elites"}
    assert metrics["sources"]["curriculum"]["starts"] >= 1
    # and the random source is random, not the curriculum again: its starts have edges at vertex 8
    problem = C4Free(C4FreeSettings(n=9, seed_from=str(source)))
    random_starts = problem.search_starts(np.random.default_rng(0), 50, None)
    iu, ju = np.triu_indices(9, k=1)
    assert random_starts.objects[:, ju == 8].any()


def test_stop_at_best_known_stops_and_says_when(tiny_task, tmp_path):
    run_dir = run(tiny_task, tmp_path / "runs", "--generations", "3", "--set", "loop.stop_at_best_known=true",
                  "--set", "execution.torch_threads=1", "--set", "execution.kernel_threads=2")
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["best_ever"] == 11
    assert summary["best_known_reached_at_generation"] == 0
    assert summary["generations"] == 1
    # the run ends there, so no model is trained that would never sample
    metrics = json.loads((run_dir / "gen_0000" / "metrics.json").read_text())
    assert metrics["train_steps"] == 0
    assert metrics["train_loss"] is None


def test_a_model_trained_at_n_starts_the_model_at_n_plus_one(tiny_task, tmp_path):
    from loopengine.config import load_task
    from loopengine.learn.model import N_SPECIAL, Transformer, shape_for
    from loopengine.learn.transfer import warm_start
    from loopengine.rundir import archive
    from loopengine.rundir.checkpoint import decode

    source = run(tiny_task, tmp_path / "small", "--generations", "1")  # n = 8, trained in generation 0
    trained = decode(archive.load_checkpoint(source, 0))["model"]
    task, _ = load_task(tiny_task, ["problem.n=9"])
    big = C4Free(C4FreeSettings(n=9))
    model = Transformer(shape_for(task, big))
    fresh = {k: v.clone() for k, v in model.state_dict().items()}
    said = warm_start(model, source, big.codec.vocabulary(), tiny_task)
    assert "28 of 36 tokens carried over, 8 new" in said
    small_ids = {name: i + N_SPECIAL for i, name in enumerate(C4Free(C4FreeSettings(n=8)).codec.vocabulary())}
    now = model.state_dict()
    for i, name in enumerate(big.codec.vocabulary()):  # edge "i-j" keeps its rows although its id moved
        row = i + N_SPECIAL
        expected = trained["tok.weight"][small_ids[name]] if name in small_ids else fresh["tok.weight"][row]
        assert torch.equal(now["tok.weight"][row], expected), name
        expected = trained["head.weight"][small_ids[name]] if name in small_ids else fresh["head.weight"][row]
        assert torch.equal(now["head.weight"][row], expected), name
    rows = len(trained["pos.weight"])
    assert rows < len(now["pos.weight"])  # a longer answer at n = 9: the new positions stay fresh
    assert torch.equal(now["pos.weight"][:rows], trained["pos.weight"])
    assert torch.equal(now["pos.weight"][rows:], fresh["pos.weight"][rows:])
    assert torch.equal(now["blocks.0.qkv.weight"], trained["blocks.0.qkv.weight"])
    # and the loop runs from it
    run_dir = run(tiny_task, tmp_path / "big", "--generations", "2", "--set", "problem.n=9",
                  "--set", f"model.init_from='{source}'")
    assert json.loads((run_dir / "summary.json").read_text())["generations"] == 2


def test_init_from_errors_name_the_key(tiny_task, tmp_path):
    result = runner.invoke(app, ["run", str(tiny_task), "--out", str(tmp_path / "x"), "--quiet",
                                 "--set", f"model.init_from='{tmp_path / 'nowhere'}'"])
    assert result.exit_code == 2
    assert "model.init_from" in result.output
    assert "complete generation" in result.output
    assert not (tmp_path / "x").exists()  # refused before anything is written
    source = run(tiny_task, tmp_path / "small", "--generations", "1")
    result = runner.invoke(app, ["run", str(tiny_task), "--out", str(tmp_path / "y"), "--quiet",
                                 "--set", "model.width=32", "--set", f"model.init_from='{source}'"])
    assert result.exit_code == 2
    assert "model.init_from" in result.output
    assert "model.width" in result.output
    assert not (tmp_path / "y").exists()

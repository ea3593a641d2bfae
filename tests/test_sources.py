"""Start sources and the allocator (sources.py): deterministic shares that respect the floor and
follow the yield; the loop's per-source metrics; resume identity with adaptive shares; search
alone for the Lyapunov family (random V for the targets, then the kernel)."""
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from loopengine import sources as S
from loopengine.cli import app
from loopengine.config import SourcesSettings
from loopengine.pool import Pool
from loopengine.rundir.archive import complete_generations

runner = CliRunner()
NAMES = ["model", "random", "elites"]


def history(*gens):
    """Generations of {source: [starts, credited]}."""
    return [dict(g) for g in gens]


def test_same_inputs_same_shares():
    h = history({"model": [10, 1], "random": [10, 3], "elites": [10, 0]})
    a = S.allocate(NAMES, h, {}, SourcesSettings())
    b = S.allocate(list(NAMES), [dict(x) for x in h], {}, SourcesSettings())
    assert a == b
    assert sum(a.values()) == pytest.approx(1.0)
    assert S.split(100, a) == S.split(100, b)


def test_share_shifts_toward_the_source_that_yields_and_never_below_the_floor():
    settings = SourcesSettings(floor=0.1)
    shares = S.allocate(NAMES, history({"model": [50, 0], "random": [50, 5], "elites": [50, 0]}), {}, settings)
    assert shares["random"] == pytest.approx(0.8)
    assert shares["model"] == pytest.approx(0.1)
    assert shares["elites"] == pytest.approx(0.1)
    counts = S.split(200, shares)
    assert counts == {"model": 20, "random": 160, "elites": 20}
    # yield per start, not per row: the same credits from a quarter of the starts weigh four times as much
    shares = S.allocate(NAMES, history({"model": [10, 2], "random": [40, 2], "elites": [50, 0]}), {}, settings)
    assert shares["model"] > shares["random"] > shares["elites"] == pytest.approx(0.1)
    # a floor larger than an equal share is capped at the equal share
    flat = S.allocate(NAMES, history({"model": [9, 0], "random": [9, 9], "elites": [9, 0]}), {},
                      SourcesSettings(floor=0.5))
    assert all(v == pytest.approx(1 / 3) for v in flat.values())


def test_window_forgets_and_a_plateau_keeps_the_last_shares():
    settings = SourcesSettings(window=2)
    state = S.new_state()
    pool = Pool(objects=np.zeros((6, 1)), origin=np.array(["model", "model", "random", "random+search",
                                                             "elites", "elites+search"], dtype=object))
    pool.score, pool.valid = np.array([1.0, 0, 0, 5, 0, 0]), np.ones(6, dtype=bool)
    credit = S.Credit(pool, np.array([3]), best_before=2.0, prompt_best={})
    out = S.record(state, pool, credit, NAMES, S.equal_shares(NAMES), settings)
    assert out["random"] == {"share": pytest.approx(1 / 3), "starts": 2, "yield": 0.5, "entered_elites": 1,
                             "improved_best": 1, "new_hits": 0, "seconds": None, "yield_per_s": None}
    assert out["model"]["yield"] == 0.0
    shares = S.allocate(NAMES, state["history"], {}, settings)
    assert shares["random"] == pytest.approx(0.8)
    # two generations without any credit: the window holds none, and the shares stand
    nothing = S.Credit(pool, np.zeros(0, dtype=np.int64), best_before=9.0, prompt_best={})
    for _ in range(2):
        S.record(state, pool, nothing, NAMES, shares, settings)
    assert len(state["history"]) == 2
    assert S.allocate(NAMES, state["history"], shares, settings) == pytest.approx(shares)
    # not adaptive: equal shares whatever the yields
    assert S.allocate(NAMES, history({"random": [1, 1]}), shares, SourcesSettings(adaptive=False)) == \
        pytest.approx(S.equal_shares(NAMES))


def test_conditional_credit_is_per_prompt():
    """A first verified answer to a prompt pays; a worse one for the same prompt does not."""
    prompts = np.array([[1], [1], [2], [2]])
    pool = Pool(objects=np.zeros((4, 1)), prompts=prompts,
                origin=np.array(["model", "random", "random", "model"], dtype=object))
    pool.score, pool.valid = np.array([-3.0, -2.0, -1.0, -5.0]), np.array([True, True, True, False])
    best: dict[int, float] = {}
    credit = S.Credit(pool, np.zeros(0, dtype=np.int64), None, best)
    assert credit.improved.tolist() == [True, True, True, False]
    again = S.Credit(pool, np.zeros(0, dtype=np.int64), None, best)
    assert not again.paid.any()


def test_split_gives_every_source_a_start_and_spends_the_budget():
    counts = S.split(10, {"model": 0.98, "random": 0.01, "elites": 0.01})
    assert sum(counts.values()) == 10
    assert min(counts.values()) == 1
    assert S.split(7, {"random": 1.0}) == {"random": 7}


def test_training_shrinks_with_the_models_share():
    settings = SourcesSettings(floor=0.1)
    assert S.training_scale(0.1, NAMES, settings) == pytest.approx(0.3)
    assert S.training_scale(0.6, NAMES, settings) == 1.0
    assert S.training_scale(0.1, ["model"], settings) == 1.0
    assert S.training_scale(0.1, NAMES, SourcesSettings(train_by_share=False)) == 1.0


def test_seconds_cost_charges_what_a_source_spent():
    """cost = "seconds": the same credits from the same starts weigh by the seconds they took,
    and the model pays for its sampling and training on top of its part of the kernel."""
    h = history({"model": [10, 2, 30.0], "random": [10, 2, 10.0], "elites": [10, 0, 5.0]})
    by_seconds = S.allocate(NAMES, h, {}, SourcesSettings(cost="seconds"))
    by_starts = S.allocate(NAMES, h, {}, SourcesSettings())
    assert by_starts["model"] == pytest.approx(by_starts["random"])
    assert by_seconds["random"] > by_seconds["model"] > by_seconds["elites"] == pytest.approx(0.1)
    # rate: 2/10 against 2/30 per second, the rest (0.7) split 3:1
    assert by_seconds["random"] == pytest.approx(0.1 + 0.7 * 0.75)
    origins = np.array(["model", "model+search", "random", "curriculum+search", "random", "random", "elites"],
                       dtype=object)
    timings = {"search_model": 4.0, "search_fresh": 12.0, "search_elites": 5.0}
    seconds = S.source_seconds(origins, timings, extra={"model": 3.0, "curriculum": 1})
    # random and curriculum split their shared call by rows (3:1); the curriculum's extra second is added
    assert seconds == pytest.approx({"model": 4.0 + 3.0, "random": 9.0, "curriculum": 3.0 + 1, "elites": 5.0})
    assert S.training_budget(0.25, 40.0) == pytest.approx(10.0)
    assert S.training_budget(None, 40.0) is None


def test_seconds_cost_in_a_run(tiny_task, tmp_path):
    """A run with cost = "seconds" books every source's seconds in the allocator's window (the
    checkpoint) and in metrics.json; a "starts" run keeps timings out of its checkpoints."""
    from loopengine.rundir.archive import load_checkpoint
    from loopengine.rundir.checkpoint import decode

    for cost in ("seconds", "starts"):
        result = runner.invoke(app, ["run", str(tiny_task), "--out", str(tmp_path / cost), "--quiet",
                                     "--set", f'sources.cost="{cost}"'])
        assert result.exit_code == 0, result.output
        run_dir = tmp_path / cost / "tiny-3"
        m = json.loads((run_dir / "gen_0002" / "metrics.json").read_text())
        assert all(v["seconds"] is not None and v["seconds"] >= 0 for v in m["sources"].values())
        assert 1 <= m["train_steps"] <= 4
        rows = decode(load_checkpoint(run_dir, 2))["loop_state"].sources["history"][-1]
        assert {len(v) for v in rows.values()} == ({3} if cost == "seconds" else {2})
        shown = runner.invoke(app, ["show", str(run_dir)], env={"COLUMNS": "100"})
        assert f"credited rows per {cost[:-1]})" in shown.output


def test_training_stops_at_its_deadline():
    """A deadline already passed: one step, however many were asked for."""
    import time

    import torch

    from loopengine.learn.model import N_SPECIAL, ModelShape, Transformer
    from loopengine.learn.train import TwoSetSampler, from_pool, train_steps

    model = Transformer(ModelShape(vocab=N_SPECIAL + 4, context=8, layers=1, heads=1, width=8))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    steps = []
    sampler = TwoSetSampler(from_pool([([0, 1], [2, 3])]), [])
    train_steps(model, optimizer, sampler, 50, 2, np.random.default_rng(0), torch.device("cpu"),
                on_step=lambda step, loss: steps.append(step), deadline=time.perf_counter())
    assert steps == [1]


def test_loop_writes_shares_and_yields(tiny_task, tmp_path):
    result = runner.invoke(app, ["run", str(tiny_task), "--out", str(tmp_path), "--quiet"])
    assert result.exit_code == 0, result.output
    run_dir = tmp_path / "tiny-3"
    metrics = [json.loads((run_dir / f"gen_{g:04d}" / "metrics.json").read_text()) for g in range(3)]
    assert metrics[0]["sources"] == {}
    for m in metrics[1:]:
        src = m["sources"]
        assert set(src) == {"model", "random", "elites"}
        assert sum(s["starts"] for s in src.values()) == m["candidates"] == 24
        assert sum(s["share"] for s in src.values()) == pytest.approx(1.0)
        assert all(s["share"] >= 0.1 - 1e-12 for s in src.values())
        assert src["model"]["starts"] == m["samples"]
    # the shares of generation 2 are those generation 1 set for it
    assert {k: v["share"] for k, v in metrics[2]["sources"].items()} == pytest.approx(metrics[1]["next_shares"])
    # show prints them per generation (share / yield), report plots them
    shown = runner.invoke(app, ["show", str(run_dir)], env={"COLUMNS": "100"})
    assert shown.exit_code == 0, shown.output
    assert "Start sources" in shown.output
    share = metrics[1]["sources"]["model"]["share"]
    assert f"{100 * share:.1f}% / " in shown.output
    reported = runner.invoke(app, ["report", str(run_dir)])
    assert reported.exit_code == 0, reported.output
    assert (run_dir / "report" / "sources.png").is_file()


def test_model_at_its_floor_trains_less(tiny_task, tmp_path):
    """Fine-tuning steps follow the model's share of the next generation over an equal share
    (train.steps = 4 here): recorded per generation as train_steps."""
    task = tmp_path / "floor.toml"
    # window 1, floor 0.05: after generation 1, whichever source found something holds the rest
    task.write_text(tiny_task.read_text() + "\n[sources]\nfloor = 0.05\nwindow = 1\n")
    result = runner.invoke(app, ["run", str(task), "--out", str(tmp_path / "r"), "--quiet"])
    assert result.exit_code == 0, result.output
    run_dir = tmp_path / "r" / "tiny-3"
    for g in (1, 2):
        m = json.loads((run_dir / f"gen_{g:04d}" / "metrics.json").read_text())
        share = m["next_shares"]["model"]
        expected = 4 if share * 3 >= 1 else max(1, round(4 * share * 3))
        assert m["train_steps"] == expected


@pytest.mark.slow
def test_search_alone_for_the_lyapunov_family(tmp_path):
    """Random V for the target systems, then the kernel: the main job's search-only baseline."""
    from test_lyapunov_problem import TINY_FAMILY

    (tmp_path / "systems.txt").write_text("linear: -x0 + x1; -x0 - x1\n")
    task = tmp_path / "t.toml"
    task.write_text(TINY_FAMILY.replace("certify_seconds = 600", "certify_seconds = 20"))
    result = runner.invoke(app, ["run", str(task), "--out", str(tmp_path / "runs"), "--quiet",
                                 "--generations", "2", "--set", "model.enabled=false"])
    assert result.exit_code == 0, result.output
    run_dir = tmp_path / "runs" / "lyfam-5"
    assert complete_generations(run_dir) == [0, 1]
    m = json.loads((run_dir / "gen_0001" / "metrics.json").read_text())
    assert set(m["sources"]) == {"random"}
    assert m["sources"]["random"]["starts"] == 16
    assert m["samples"] == 0
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["targets"] == 2
    assert summary["certified"] >= 1  # the linear target has V = x0^2 + x1^2 within the search's reach


def test_excluded_sources_stay_out_and_search_alone_keeps_a_source(tiny_task, tmp_path):
    result = runner.invoke(app, ["run", str(tiny_task), "--out", str(tmp_path / "a"), "--quiet", "--generations", "2",
                                 "--set", 'sources.exclude=["random"]'])
    assert result.exit_code == 0, result.output
    m = json.loads((tmp_path / "a" / "tiny-3" / "gen_0001" / "metrics.json").read_text())
    assert set(m["sources"]) == {"model", "elites"}
    result = runner.invoke(app, ["run", str(tiny_task), "--out", str(tmp_path / "b"), "--quiet",
                                 "--set", "model.enabled=false", "--set", 'sources.exclude=["random"]'])
    assert result.exit_code == 2
    assert "sources.exclude" in result.output
    assert not (tmp_path / "b").exists()


def test_source_shares_plot(tmp_path):
    from loopengine.inspection.plots import plot_source_shares

    def gen(g, model, random):
        return {"generation": g, "sources": {"model": {"share": model[0], "yield": model[1]},
                                             "random": {"share": random[0], "yield": random[1]}}}

    gens = [{"generation": 0, "sources": {}}, gen(1, (0.5, 0.0), (0.5, 0.2)), gen(2, (0.1, None), (0.9, 0.1))]
    path = plot_source_shares(gens, tmp_path / "shares.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plot_source_shares([{"generation": 0, "sources": {}}], tmp_path / "none.png") is None

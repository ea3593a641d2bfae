"""The generation loop end to end on a tiny C4-free task: it completes, writes complete
generations only, and a resumed (or killed and resumed) run equals an uninterrupted one."""
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from typer.testing import CliRunner

from loopengine.cli import app
from loopengine.problems.c4free.problem import c4_free_mask
from loopengine.rundir.archive import complete_generations

runner = CliRunner()


def run(task: Path, out: Path, *extra) -> Path:
    result = runner.invoke(app, ["run", str(task), "--out", str(out), "--quiet", *extra])
    assert result.exit_code == 0, result.output
    return out / "tiny-3"


def same_archive(a: Path, b: Path) -> None:
    gens = complete_generations(a)
    assert gens == complete_generations(b)
    assert gens
    for g in gens:
        ta = pq.read_table(a / f"gen_{g:04d}" / "candidates.parquet")
        tb = pq.read_table(b / f"gen_{g:04d}" / "candidates.parquet")
        assert ta.equals(tb), f"generation {g} differs"
    wa = torch.load(a / f"gen_{gens[-1]:04d}" / "model.pt", weights_only=True)["model"]
    wb = torch.load(b / f"gen_{gens[-1]:04d}" / "model.pt", weights_only=True)["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert (a / "best.g6").read_text() == (b / "best.g6").read_text()


def test_run_completes_and_archive_is_complete(tiny_task, tmp_path):
    run_dir = run(tiny_task, tmp_path / "runs", "--generations", "2")
    assert complete_generations(run_dir) == [0, 1]
    for g in (0, 1):
        gen = run_dir / f"gen_{g:04d}"
        table = pq.read_table(gen / "candidates.parquet").to_pandas()
        metrics = json.loads((gen / "metrics.json").read_text())
        assert len(table) == metrics["candidates"] > 0
        assert set(table.columns) >= {"object", "tokens", "graph6", "score", "valid", "origin", "generation"}
        objects = np.stack(table["object"].to_numpy())
        # the archive's validity column agrees with the independent verifier
        assert (c4_free_mask(objects, 8) == table["valid"].to_numpy()).all()
        assert metrics["best_known"] == 11
    origins = set(pq.read_table(run_dir / "gen_0001" / "candidates.parquet")["origin"].to_pylist())
    # every row is labelled with its start source, "+search" when local search changed it
    assert {o.removesuffix("+search") for o in origins} == {"model", "random", "elites"}
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["best_ever"] <= 11
    assert (run_dir / "task.toml").is_file()
    assert not list(run_dir.glob(".gen_*"))


def test_learning_rate_decays_over_the_generations(tiny_task, tmp_path):
    """train.lr_final: a cosine from lr (generation 0) to lr_final (the last generation),
    recorded per generation and set in the optimizer the checkpoint saves."""
    run_dir = run(tiny_task, tmp_path / "runs", "--set", "train.lr=0.001", "--set", "train.lr_final=0.00001")
    lrs = [json.loads((run_dir / f"gen_{g:04d}" / "metrics.json").read_text())["train_lr"] for g in range(3)]
    assert np.allclose(lrs, [1e-3, (1e-3 + 1e-5) / 2, 1e-5])
    saved = torch.load(run_dir / "gen_0002" / "model.pt", weights_only=True)["optimizer"]
    assert np.isclose(saved["param_groups"][0]["lr"], 1e-5)
    constant = run(tiny_task, tmp_path / "constant", "--generations", "2", "--set", "train.lr=0.001")
    assert json.loads((constant / "gen_0001" / "metrics.json").read_text())["train_lr"] == 1e-3


def test_same_seed_same_archive(tiny_task, tmp_path):
    same_archive(run(tiny_task, tmp_path / "a"), run(tiny_task, tmp_path / "b"))


def test_resume_equals_uninterrupted(tiny_task, tmp_path):
    full = run(tiny_task, tmp_path / "full")
    part = run(tiny_task, tmp_path / "part", "--generations", "1")
    result = runner.invoke(app, ["resume", str(part), "--generations", "3", "--quiet"])
    assert result.exit_code == 0, result.output
    same_archive(full, part)


def test_overlapped_training_gives_the_same_archive(tiny_task, tmp_path):
    """train.overlap = "on" (on a CPU here; "auto" picks it on a GPU): the next generation's
    random starts and elites are searched while the model fine-tunes, and the archive is the
    one the sequential loop writes; a run resumed mid-way equals both."""
    on = run(tiny_task, tmp_path / "on", "--set", 'train.overlap="on"')
    off = run(tiny_task, tmp_path / "off", "--set", 'train.overlap="off"')
    same_archive(on, off)
    timings = [json.loads((on / f"gen_{g:04d}" / "metrics.json").read_text())["timings"] for g in range(3)]
    # generations 0 and 1 searched their successor's other sources while training; the last has none
    for t in timings[:2]:
        # the phase's wall time holds the next generation's search and the wait for the training
        assert t["train"] >= t["search_next"] + t["train_wait"] > 0
        assert t["train_own"] > 0
    assert "search_next" not in timings[2]
    sequential = json.loads((off / "gen_0001" / "metrics.json").read_text())["timings"]
    assert "search_next" not in sequential
    assert "train_wait" not in sequential
    part = run(tiny_task, tmp_path / "part", "--generations", "1", "--set", 'train.overlap="on"')
    result = runner.invoke(app, ["resume", str(part), "--generations", "3", "--quiet"])
    assert result.exit_code == 0, result.output
    same_archive(on, part)


def test_overlap_auto_needs_a_gpu_or_free_cores(monkeypatch):
    """train.overlap = "auto": on with the model on a GPU, or when kernel and torch threads fit
    the cores (0 = every core); "on" and "off" are what they say."""
    from loopengine.session import overlaps_training

    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert overlaps_training("auto", cpu, 1, 1)
    assert not overlaps_training("auto", cpu, 2, 1)
    assert not overlaps_training("auto", cpu, 0, 1)
    assert overlaps_training("auto", gpu, 0, 0)
    assert overlaps_training("on", cpu, 0, 0)
    assert not overlaps_training("off", gpu, 1, 1)


def test_overlapped_training_stops_when_the_search_fails(tiny_task, tmp_path, monkeypatch):
    """A kernel error in the next generation's search, run during the overlap, ends the run
    with that error once the training generation is finished and written, as the sequential
    loop would (its generation 1 is written before generation 2's search starts)."""
    from loopengine.loop import Loop

    calls = []
    real = Loop.other_sources

    def failing(self, g):
        calls.append(g)
        if g == 2:
            raise RuntimeError("kernel crashed")
        return real(self, g)

    monkeypatch.setattr(Loop, "other_sources", failing)
    result = runner.invoke(app, ["run", str(tiny_task), "--out", str(tmp_path / "r"), "--quiet",
                                 "--set", 'train.overlap="on"'])
    assert result.exit_code != 0
    assert "kernel crashed" in repr(result.exception) + result.output
    assert complete_generations(tmp_path / "r" / "tiny-3") == [0, 1]
    assert calls == [1, 2]
    assert not [t for t in threading.enumerate() if t.name.startswith("loopengine-train")]  # joined


@pytest.mark.slow
def test_resume_equals_uninterrupted_with_the_allocator_mid_window(tiny_task, tmp_path):
    """The allocator's window and shares travel in the checkpoint: resumed after generation 2
    (a window of two generations recorded), the shares, the starts and the archive match."""
    task = tmp_path / "adaptive.toml"
    task.write_text(tiny_task.read_text().replace("generations = 3", "generations = 4")
                    + "\n[sources]\nfloor = 0.05\nwindow = 2\n")
    full = run(task, tmp_path / "full")
    part = run(task, tmp_path / "part", "--generations", "2")
    result = runner.invoke(app, ["resume", str(part), "--generations", "4", "--quiet"])
    assert result.exit_code == 0, result.output
    same_archive(full, part)
    for g in (1, 2, 3):
        a, b = (json.loads((d / f"gen_{g:04d}" / "metrics.json").read_text()) for d in (full, part))
        # everything but the seconds each source took (a clock reading, reported, not used by
        # the default cost = "starts")
        untimed = lambda m: {n: {k: v for k, v in s.items() if k not in ("seconds", "yield_per_s")}  # noqa: E731
                             for n, s in m["sources"].items()}
        assert untimed(a) == untimed(b)
        assert all(set(s) >= {"seconds", "yield_per_s"} for s in a["sources"].values())
        assert a["next_shares"] == b["next_shares"]


def test_existing_run_is_not_overwritten(tiny_task, tmp_path):
    run(tiny_task, tmp_path / "r", "--generations", "1")
    result = runner.invoke(app, ["run", str(tiny_task), "--out", str(tmp_path / "r"), "--quiet"])
    assert result.exit_code == 2
    assert "resume" in result.output


@pytest.mark.slow
def test_sigkill_loses_no_complete_generation(tiny_task, tmp_path):
    slow = tmp_path / "slow.toml"
    # more training per generation so the kill lands mid-generation
    slow.write_text(tiny_task.read_text().replace("steps = 4", "steps = 400")
                    .replace("generations = 3", "generations = 4"))
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "loopengine.cli", "run", str(slow), "--out", str(out), "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run_dir = out / "tiny-3"
    deadline = time.time() + 120
    while time.time() < deadline and len(complete_generations(run_dir)) < 2:
        time.sleep(0.05)
    # the kill must land on a live run, mid-way: had it finished, there would be nothing to test
    assert proc.poll() is None, "the run ended before it could be killed"
    done_before_kill = complete_generations(run_dir)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    done = complete_generations(run_dir)
    assert 2 <= len(done) < 4
    assert done[: len(done_before_kill)] == done_before_kill
    for g in done:  # every complete generation is readable
        pq.read_table(run_dir / f"gen_{g:04d}" / "candidates.parquet")
        json.loads((run_dir / f"gen_{g:04d}" / "metrics.json").read_text())
    result = runner.invoke(app, ["resume", str(run_dir), "--quiet"])
    assert result.exit_code == 0, result.output
    assert complete_generations(run_dir) == [0, 1, 2, 3]
    assert not list(run_dir.glob(".gen_*"))
    reference = run(slow, tmp_path / "ref")
    same_archive(reference, run_dir)

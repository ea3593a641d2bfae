"""A run directory is data (docs/trust.md): checkpoints load weights-only, so a pickle payload
in model.pt never runs; code a received task.toml names is listed and only imported with
--trust; one writer per run directory; bad settings fail before anything is written."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import pytest
import tomli_w
import torch
from typer.testing import CliRunner

from loopengine.cli import app
from loopengine.config import load_task
from loopengine.errors import ConfigError
from loopengine.kernels.params import check_kernel_params
from loopengine.kernels.resolve import resolve_kernel
from loopengine.loop import LoopState
from loopengine.pool import Pool
from loopengine.rundir import checkpoint as ck
from loopengine.rundir.archive import complete_generations
from loopengine.selection import EliteArchive

runner = CliRunner()


def output(result) -> str:
    return result.output  # stdout and stderr as the user sees them


@pytest.fixture(scope="module")
def base_run(tmp_path_factory) -> Path:
    """One finished one-generation run; tests work on copies of it."""
    tmp = tmp_path_factory.mktemp("base")
    task = tmp / "tiny.toml"
    from conftest import TINY_C4

    task.write_text(TINY_C4)
    result = runner.invoke(app, ["run", str(task), "--out", str(tmp / "runs"), "--quiet", "--generations", "1"])
    assert result.exit_code == 0, output(result)
    return tmp / "runs" / "tiny-3"


@pytest.fixture
def run_copy(base_run, tmp_path) -> Path:
    copy = tmp_path / "received" / "tiny-3"
    shutil.copytree(base_run, copy)
    return copy


class Payload:
    """Unpickling this calls open(marker, "w"): a file appears if the pickle is executed."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


# ---- checkpoints ----------------------------------------------------------------------------
def test_codec_round_trip_is_exact_and_weights_only(tmp_path):
    pool = Pool(objects=np.arange(12, dtype=np.uint8).reshape(4, 3), score=np.array([1.5, np.nan, -2.0, 0.0]),
                valid=np.array([True, False, True, True]), extra={"graph6": ["a", "b", "c", "d"]})
    elites = EliteArchive(3, pool)
    state = LoopState(next_generation=2, temperature=1.1, elites=elites, seen={0, 2**64 - 1, 12345},
                      repeated=[([1, 2], [3]), ([], [4, 5])], elapsed=3.25)
    value = {"loop_state": state, "rng": (3, tuple(range(5)), None), "problem": {7: [(0.5, np.ones(3))]},
             "scalar": np.float64(0.1), "raw": b"\x00\xff", "tagged": {ck.TAG: "not a tag"},
             "tensor": torch.arange(3)}
    path = tmp_path / "c.pt"
    torch.save(ck.encode(value), path)
    back = ck.decode(torch.load(path, weights_only=True))
    s = back["loop_state"]
    assert isinstance(s, LoopState)
    assert isinstance(s.elites, EliteArchive)
    assert isinstance(s.elites.pool, Pool)
    assert s.seen == state.seen
    assert s.repeated == state.repeated
    assert s.elapsed == 3.25
    assert s.next_generation == 2
    p = s.elites.pool
    assert p.objects.dtype == np.uint8
    assert np.array_equal(p.objects, pool.objects)
    assert np.array_equal(p.score, pool.score, equal_nan=True)
    assert p.valid.tolist() == pool.valid.tolist()
    assert p.origin.dtype == object
    assert p.origin.tolist() == pool.origin.tolist()
    assert p.extra == pool.extra
    assert back["rng"] == value["rng"]
    assert back["raw"] == b"\x00\xff"
    assert back["tagged"] == {ck.TAG: "not a tag"}
    assert back["scalar"] == np.float64(0.1)
    assert type(back["scalar"]) is np.float64
    assert np.array_equal(back["problem"][7][0][1], np.ones(3))
    assert torch.equal(back["tensor"], torch.arange(3))
    with pytest.raises(TypeError, match="checkpoint cannot hold"):
        ck.encode({"x": object()})
    with pytest.raises(ck.CheckpointFormatError, match="unknown type"):
        ck.decode({ck.TAG: "dataclass", "type": "Popen", "fields": {}})


def test_pickle_payload_in_model_pt_never_runs(run_copy, tmp_path):
    marker = tmp_path / "pwned"
    # the payload is live: loading it the unsafe way does create a file
    live = tmp_path / "live.pt"
    torch.save({"model": Payload(tmp_path / "proof")}, live)
    torch.load(live, weights_only=False)
    assert (tmp_path / "proof").exists()

    torch.save({"model": Payload(marker)}, run_copy / "gen_0000" / "model.pt")
    result = runner.invoke(app, ["resume", str(run_copy), "--generations", "2", "--quiet"])
    text = output(result)
    assert result.exit_code == 2, text
    assert "refusing to load" in text
    assert "model.pt" in text
    assert "Traceback" not in text
    assert not marker.exists()
    assert complete_generations(run_copy) == [0]  # nothing was written
    result = runner.invoke(app, ["show", str(run_copy)])
    assert result.exit_code == 0, output(result)
    assert not marker.exists()


def test_old_format_run_shows_but_does_not_resume(run_copy):
    fmt = run_copy / "format.json"
    fmt.write_text(json.dumps({**json.loads(fmt.read_text()), "archive_format": 1}))
    result = runner.invoke(app, ["resume", str(run_copy), "--quiet"])
    assert result.exit_code == 2
    assert "archive format 1" in output(result)
    assert "not resumed" in output(result)
    assert runner.invoke(app, ["show", str(run_copy)]).exit_code == 0


# ---- code named by a received task.toml -----------------------------------------------------
def test_resume_lists_named_code_and_needs_trust(run_copy, tmp_path):
    sender = tmp_path / "sender"
    sender.mkdir()
    marker = tmp_path / "imported"
    (sender / "evil.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    task = tomllib.loads((run_copy / "task.toml").read_text())
    task["task"]["problem"] = "evil.py:Evil"
    task["kernel"]["local_search"] = "evil.cpp"
    (run_copy / "task.toml").write_text(tomli_w.dumps(task))
    fmt = run_copy / "format.json"
    fmt.write_text(json.dumps({**json.loads(fmt.read_text()), "task_dir": str(sender)}))

    result = runner.invoke(app, ["resume", str(run_copy), "--quiet"])
    text = output(result)
    assert result.exit_code == 2, text
    assert f"problem file {sender / 'evil.py'} (Python, imported)" in text
    assert f"kernel {sender / 'evil.cpp'} (C++, compiled and loaded)" in text
    assert "--trust" in text
    assert not marker.exists()

    result = runner.invoke(app, ["show", str(run_copy)], env={"COLUMNS": "400"})
    assert result.exit_code == 0, output(result)
    assert str(sender / "evil.py") in result.output
    assert str(sender / "evil.cpp") in result.output
    assert not marker.exists()
    shown = json.loads(runner.invoke(app, ["show", str(run_copy), "--json"]).output)
    assert len(shown["code"]) == 2
    assert not marker.exists()

    result = runner.invoke(app, ["resume", str(run_copy), "--quiet", "--trust"])
    assert marker.exists()  # with --trust the named code is imported (it defines no Evil: exit 2)
    assert result.exit_code == 2
    assert "defines no 'Evil'" in output(result)


# ---- one writer per run directory ------------------------------------------------------------
@pytest.mark.slow
def test_second_run_and_resume_on_a_live_run_are_refused(tiny_task, tmp_path):
    slow = tmp_path / "slow.toml"
    slow.write_text(tiny_task.read_text().replace("first_steps = 6", "first_steps = 1000000"))
    out = tmp_path / "runs"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "loopengine.cli", "run", str(slow), "--out", str(out), "--quiet"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run_dir = out / "tiny-3"
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not ((run_dir / "format.json").is_file()
                                               and (run_dir / ".lock").is_file()
                                               and (run_dir / ".lock").read_text().strip()):
            assert proc.poll() is None, "the first run ended early"
            time.sleep(0.05)
        live_tmp = run_dir / ".gen_0000.tmp-999999"  # as if the live run were writing it
        live_tmp.mkdir()
        before = sorted(p.name for p in run_dir.iterdir())

        second = runner.invoke(app, ["run", str(slow), "--out", str(out), "--quiet"])
        assert second.exit_code == 2
        assert f"in use by process {proc.pid}" in output(second)
        assert "run refused" in output(second)
        resumed = runner.invoke(app, ["resume", str(run_dir), "--quiet"])
        assert resumed.exit_code == 2
        assert f"in use by process {proc.pid}" in output(resumed)
        assert "resume refused" in output(resumed)
        assert "Traceback" not in output(second) + output(resumed)
        assert sorted(p.name for p in run_dir.iterdir()) == before
        assert live_tmp.is_dir()
        assert proc.poll() is None  # the live run carries on
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


# ---- settings checked before anything is written ----------------------------------------------
def run_with(tiny_task, out, *sets):
    args = ["run", str(tiny_task), "--out", str(out), "--quiet"]
    for item in sets:
        args += ["--set", item]
    return runner.invoke(app, args)


@pytest.mark.parametrize(("setting", "key", "expected"), [
    ("kernel.params.kick=-1", "kernel.params.kick", "must be >= 0"),
    ("kernel.elite_params.kik=1", "kernel.elite_params.kik",
     "unknown parameter of kernel 'c4free' (it accepts: kick, rounds, round_kick, tabu, accept_worse)"),
    ("kernel.params.rounds='three'", "kernel.params.rounds", "expected a number"),
    ("loop.initial_pool=1e12", "loop.initial_pool", "less than or equal to 10000000"),
    ("loop.keep=100000000", "loop.keep", "less than or equal to 10000000"),
    ("task.name=" + "x" * 5000, "task.name", "at most 100 characters"),
])
def test_bad_settings_are_one_line_before_anything_is_written(tiny_task, tmp_path, setting, key, expected):
    result = run_with(tiny_task, tmp_path / "out", setting)
    text = output(result)
    assert result.exit_code == 2, text
    assert f"{tiny_task}: {key}: " in text, text
    assert expected in text, text
    assert len(text.strip().splitlines()) == 1
    assert len(text) < 400
    assert "Traceback" not in text
    assert not (tmp_path / "out").exists()


def test_python_kernel_params_follow_its_signature(tmp_path):
    (tmp_path / "k.py").write_text(
        "from typing import Annotated\nfrom pydantic import Field\n"
        "def k(objects, prompts, seed, threads, kick: Annotated[int, Field(ge=0)] = 0, rate=0.5):\n"
        "    return objects\n"
        "def open_ended(objects, prompts, seed, threads, **params):\n    return objects\n")
    kernel = resolve_kernel("k.py:k", None, "t.toml", tmp_path)
    check_kernel_params(kernel, {"params": {"kick": 2, "rate": 1}}, "t.toml")  # int for a float: fine
    cases = [({"kick": -1}, "kernel.params.kick", "greater than or equal to 0"),
             ({"kick": 1.5}, "kernel.params.kick", "valid integer"),
             ({"kick": "1"}, "kernel.params.kick", "valid integer"),
             ({"kik": 1}, "kernel.params.kik", "unknown parameter of kernel 'k.py:k' (it accepts: kick, rate)"),
             ({"rate": "fast"}, "kernel.params.rate", "valid number")]
    for params, key, expected in cases:
        with pytest.raises(ConfigError) as err:
            check_kernel_params(kernel, {"params": params}, "t.toml")
        assert err.value.key == key, (params, str(err.value))
        assert expected in str(err.value), (params, str(err.value))
    check_kernel_params(resolve_kernel("k.py:open_ended", None, "t.toml", tmp_path),
                        {"params": {"anything": "goes"}}, "t.toml")


@pytest.mark.parametrize(("params", "key", "expected"), [
    ({"steps": -5}, "kernel.params.steps", "greater than or equal to 0"),
    ({"per_scale": 0}, "kernel.params.per_scale", "greater than or equal to 1"),
    ({"coef_bound": -1.0}, "kernel.params.coef_bound", "greater than or equal to 0"),
    ({"tol": 0.0}, "kernel.params.tol", "greater than 0"),
])
def test_builtin_lyapunov_kernel_params_are_range_checked(params, key, expected):
    kernel = resolve_kernel("lyapunov", None, "t.toml")
    check_kernel_params(kernel, {"params": {"steps": 10, "per_scale": 2, "tol": 1e-6}}, "t.toml")
    with pytest.raises(ConfigError) as err:
        check_kernel_params(kernel, {"params": params}, "t.toml")
    assert err.value.key == key, str(err.value)
    assert expected in str(err.value), str(err.value)


def test_limits_in_the_task_file_name_the_file(tiny_task):
    with pytest.raises(ConfigError) as err:
        load_task(tiny_task, ["loop.samples_per_generation=1e12"])
    assert err.value.file == tiny_task
    assert err.value.key == "loop.samples_per_generation"

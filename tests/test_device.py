"""Choosing the model's device (LOOPENGINE_DEVICE) and checkpoints that do not depend on it:
the CPU half of tests/test_cuda.py, so machines without a GPU check the same logic."""
import pytest
import torch
from typer.testing import CliRunner

from archives import checkpoint_tensors, resume, run, same_candidates
from loopengine.cli import app
from loopengine.errors import ConfigError
from loopengine.learn.model import DEVICE_ENV, pick_device
from loopengine.rundir.archive import complete_generations

runner = CliRunner()


def test_default_device_is_the_gpu_when_there_is_one(monkeypatch):
    monkeypatch.delenv(DEVICE_ENV, raising=False)
    assert pick_device().type == ("cuda" if torch.cuda.is_available() else "cpu")
    monkeypatch.setenv(DEVICE_ENV, "auto")
    assert pick_device().type == ("cuda" if torch.cuda.is_available() else "cpu")
    monkeypatch.setenv(DEVICE_ENV, " CPU ")
    assert pick_device() == torch.device("cpu")


@pytest.mark.parametrize("value", ["tpu", "gpu", "cuda:-1", "mps"])
def test_unknown_device_is_a_config_error_naming_the_variable(monkeypatch, value):
    monkeypatch.setenv(DEVICE_ENV, value)
    with pytest.raises(ConfigError, match=f"{DEVICE_ENV}: cpu, cuda, cuda:N or auto"):
        pick_device()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_forcing_cuda_without_a_gpu_is_one_line_and_exit_2(tiny_task_any, tmp_path, monkeypatch):
    monkeypatch.setenv(DEVICE_ENV, "cuda")
    result = runner.invoke(app, ["run", str(tiny_task_any), "--out", str(tmp_path), "--quiet"])
    assert result.exit_code == 2, result.output
    assert f"{DEVICE_ENV}: cuda asks for a GPU, and torch sees 0" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "tiny-3").exists()  # nothing half-written


def test_forced_cpu_checkpoint_holds_host_tensors_and_resumes_exactly(tiny_task_any, tmp_path, monkeypatch):
    """LOOPENGINE_DEVICE=cpu (on a GPU machine too): every tensor of a checkpoint is a CPU
    tensor, a checkpoint carrying GPU RNG states that do not match this machine's GPUs (as one
    written on another machine does) still resumes, and the resumed run equals an
    uninterrupted one."""
    monkeypatch.setenv(DEVICE_ENV, "cpu")
    full = run(tiny_task_any, tmp_path / "full")
    part = run(tiny_task_any, tmp_path / "part", "--generations", "1")
    path = part / "gen_0000" / "model.pt"
    raw = torch.load(path, weights_only=True)  # no map_location: tensors come back where they were saved
    tensors = list(checkpoint_tensors(raw))
    assert tensors
    assert {t.device.type for t in tensors} == {"cpu"}
    # as if written on a machine with more GPUs than this one has
    raw["rng"]["cuda"] = [torch.zeros(16, dtype=torch.uint8)] * (torch.cuda.device_count() + 2)
    torch.save(raw, path)
    resume(part, 3)
    assert complete_generations(part) == [0, 1, 2]
    same_candidates(full, part)

"""Helpers shared by tests/test_device.py and tests/test_cuda.py: run a task through the CLI,
compare two run directories, list a checkpoint's tensors. Imports nothing problem-specific,
so they load on machines without pynauty."""
from pathlib import Path

import torch
from typer.testing import CliRunner

from loopengine.cli import app
from loopengine.rundir.archive import complete_generations

runner = CliRunner()


def run(task: Path, out: Path, *extra: str) -> Path:
    result = runner.invoke(app, ["run", str(task), "--out", str(out), "--quiet", *extra])
    assert result.exit_code == 0, result.output
    return out / "tiny-3"


def resume(run_dir: Path, generations: int) -> None:
    result = runner.invoke(app, ["resume", str(run_dir), "--generations", str(generations), "--quiet"])
    assert result.exit_code == 0, result.output


def same_candidates(a: Path, b: Path) -> None:
    """Byte-identical candidates.parquet in every generation, equal weights in the last."""
    gens = complete_generations(a)
    assert gens
    assert gens == complete_generations(b)
    for g in gens:
        name = f"gen_{g:04d}/candidates.parquet"
        assert (a / name).read_bytes() == (b / name).read_bytes(), f"generation {g}'s candidates differ"
    last = f"gen_{gens[-1]:04d}/model.pt"
    wa = torch.load(a / last, weights_only=True)["model"]
    wb = torch.load(b / last, weights_only=True)["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def checkpoint_tensors(value):
    """Every tensor inside a raw checkpoint (nested dicts, lists, tuples)."""
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from checkpoint_tensors(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from checkpoint_tensors(v)

"""`resume` on a damaged run directory checks what it builds on before it writes anything:
damage it cannot repair (a generation before the last, a file where a generation belongs)
is one line naming the file, exit 2, nothing written; a damaged last generation is redone
from the one before, said on stderr, and comes out identical to the original."""
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch
from typer.testing import CliRunner

from conftest import TINY_C4
from loopengine.cli import app
from loopengine.rundir.archive import complete_generations

runner = CliRunner()


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished three-generation tiny run, never modified (tests damage copies of it)."""
    base = tmp_path_factory.mktemp("finished")
    (base / "tiny.toml").write_text(TINY_C4)
    result = runner.invoke(app, ["run", str(base / "tiny.toml"), "--out", str(base / "runs"), "--quiet"])
    assert result.exit_code == 0, result.output
    return base / "runs" / "tiny-3"


@pytest.fixture
def damaged(finished, tmp_path) -> Path:
    run_dir = tmp_path / "tiny-3"
    shutil.copytree(finished, run_dir)
    return run_dir


def files(run_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in sorted(run_dir.rglob("*")) if p.is_file()}


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def resume(run_dir: Path, *extra: str):
    return runner.invoke(app, ["resume", str(run_dir), "--quiet", *extra])


def delete_every_metrics(run_dir: Path) -> None:
    for path in run_dir.glob("gen_*/metrics.json"):
        path.unlink()


@pytest.mark.parametrize(("damage", "named"), [
    (delete_every_metrics, "gen_0000/metrics.json is missing"),
    (lambda d: truncate(d / "gen_0001" / "candidates.parquet"), "gen_0001/candidates.parquet is not a readable"),
    (lambda d: shutil.rmtree(d / "gen_0001"), "gen_0001 is missing"),
    (lambda d: (d / "gen_0003").write_text("notes\n"), "gen_0003 is a file where a generation directory belongs"),
], ids=["every-metrics-deleted", "earlier-parquet-truncated", "earlier-generation-deleted", "generation-path-a-file"])
def test_damage_resume_cannot_repair_is_refused_before_anything_is_written(damaged, damage, named):
    damage(damaged)
    before = files(damaged)
    result = resume(damaged, "--generations", "6")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert f"{damaged}/{named}" in result.output
    assert files(damaged) == before, "a refused resume writes nothing"
    assert not list(damaged.glob(".gen_*")), "no generation stranded in a temporary directory"


@pytest.mark.parametrize(("damage", "named"), [
    (lambda d: truncate(d / "gen_0002" / "candidates.parquet"), "candidates.parquet is not a readable parquet file"),
    (lambda d: (d / "gen_0002" / "metrics.json").write_text("garbage\n"), "metrics.json is not a JSON object"),
    (lambda d: (d / "gen_0002" / "metrics.json").unlink(), "metrics.json is missing"),
    (lambda d: truncate(d / "gen_0002" / "model.pt"), "model.pt is not a readable checkpoint"),
], ids=["parquet-truncated", "metrics-garbage", "metrics-deleted", "checkpoint-truncated"])
def test_damaged_last_generation_is_redone_and_said(finished, damaged, damage, named):
    damage(damaged)
    result = resume(damaged)  # the run had reached task.generations: only the redo is left to do
    assert result.exit_code == 0, result.output
    assert f"{damaged}/gen_0002/{named}" in result.output
    assert "generation 2 will be redone from generation 1" in result.output
    assert complete_generations(damaged) == [0, 1, 2]
    for g in range(3):  # a generation is a function of the checkpoint before it: the redo equals the original
        name = f"gen_{g:04d}/candidates.parquet"
        assert pq.read_table(damaged / name).equals(pq.read_table(finished / name)), name
    redone = torch.load(damaged / "gen_0002" / "model.pt", weights_only=True)["model"]
    original = torch.load(finished / "gen_0002" / "model.pt", weights_only=True)["model"]
    assert all(torch.equal(redone[k], original[k]) for k in original)
    assert not list(damaged.glob(".gen_*"))
    for command in (["export", str(damaged)], ["show", str(damaged), "--json"]):  # they failed on the damage
        after = runner.invoke(app, command)
        assert after.exit_code == 0, after.output


def test_damaged_only_generation_is_refused(finished, tmp_path):
    run_dir = tmp_path / "tiny-3"
    shutil.copytree(finished, run_dir, ignore=shutil.ignore_patterns("gen_0001", "gen_0002"))
    (run_dir / "gen_0000" / "metrics.json").write_text("[]\n")
    result = resume(run_dir)
    assert result.exit_code == 2, result.output
    assert "gen_0000/metrics.json is not a JSON object" in result.output
    assert "the run's only generation" in result.output
    assert complete_generations(run_dir) == [0]


def test_run_into_a_directory_with_a_file_named_like_a_generation_is_refused(tmp_path):
    (tmp_path / "tiny.toml").write_text(TINY_C4)
    run_dir = tmp_path / "runs" / "tiny-3"
    run_dir.mkdir(parents=True)
    (run_dir / "gen_0000").write_text("notes\n")
    result = runner.invoke(app, ["run", str(tmp_path / "tiny.toml"), "--out", str(tmp_path / "runs"), "--quiet"])
    assert result.exit_code == 2, result.output
    assert f"{run_dir}/gen_0000 is a file where a generation directory belongs" in result.output
    assert sorted(p.name for p in run_dir.iterdir()) == ["gen_0000"]


def test_old_checkpoints_deleted_to_save_space_still_resume(damaged):
    """docs/archive.md: model.pt is only needed to resume (the last one); old ones may go."""
    for g in (0, 1):
        (damaged / f"gen_{g:04d}" / "model.pt").unlink()
    result = resume(damaged, "--generations", "4")
    assert result.exit_code == 0, result.output
    assert complete_generations(damaged) == [0, 1, 2, 3]


def test_damaged_last_generation_without_a_checkpoint_before_it_is_refused(damaged):
    (damaged / "gen_0001" / "model.pt").unlink()
    (damaged / "gen_0002" / "metrics.json").unlink()
    before = files(damaged)
    result = resume(damaged)
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert f"{damaged}/gen_0002/metrics.json is missing" in result.output
    assert f"{damaged}/gen_0001/model.pt is missing" in result.output
    assert files(damaged) == before

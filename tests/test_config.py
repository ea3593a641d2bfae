"""Every kind of task-file mistake: one message naming the file, the key and what was
expected, exit code 2, and nothing written."""
from pathlib import Path

import pytest
from typer.testing import CliRunner

from loopengine.cli import app
from loopengine.config import load_task, parse_override
from loopengine.errors import ConfigError

runner = CliRunner()


def run_cli(args):
    return runner.invoke(app, [str(a) for a in args])


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "task.toml"
    path.write_text(text)
    return path


BASE = '[task]\nname = "t"\nproblem = "c4free"\n'


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        (BASE + "[model]\nlayerz = 2\n", "model.layerz", "unknown key"),
        (BASE + '[model]\nlayers = "two"\n', "model.layers", "integer"),
        (BASE + "[model]\nlayers = 0\n", "model.layers", "greater than or equal to 1"),
        (BASE + "[problem]\nn = 129\n", "problem.n", "less than or equal to 128"),
        (BASE + "[problem]\nm = 3\n", "problem.m", "unknown key"),
        ('[task]\nproblem = "c4free"\n', "task.name", "required key is missing"),
        ('[task]\nname = "t"\nproblem = "nosuch"\n', "task.problem", "built-in problem"),
        ('[task]\nname = "t"\nproblem = "missing_file.py:P"\n', "task.problem", "not found"),
        (BASE + '[kernel]\nlocal_search = "nosuch"\n', "kernel.local_search", "built-in kernel"),
        (BASE + "[model]\nwidth = 30\nheads = 4\n", "model", "multiple of model.heads"),
        (BASE + "[loop\n", None, "not valid TOML"),
    ],
)
def test_bad_task_file_gives_one_clear_error(tmp_path, text, key, expected):
    task = write(tmp_path, text)
    out = tmp_path / "runs"
    result = run_cli(["run", task, "--out", out])
    assert result.exit_code == 2, result.output
    message = result.output
    assert str(task) in message.replace("\n", "")
    if key:
        assert key in message
    assert expected in message.replace("\n", " ")
    assert "Traceback" not in message
    assert not out.exists(), "nothing may be written for a bad task"


def test_missing_task_file(tmp_path):
    result = run_cli(["run", tmp_path / "nope.toml"])
    assert result.exit_code == 2
    assert "task file not found" in result.output


def test_set_override_is_typed_and_validated(tmp_path):
    task = write(tmp_path, BASE)
    settings, raw = load_task(task, ["model.layers=3", "task.out=\"x\"", "problem.n=12"])
    assert settings.model.layers == 3
    assert raw["problem"]["n"] == 12
    assert settings.task.out == "x"
    with pytest.raises(ConfigError, match="model.layers"):
        load_task(task, ["model.layers=-1"])
    with pytest.raises(ConfigError, match="key.path=value"):
        parse_override("novalue")


def test_bad_set_through_cli(tmp_path):
    task = write(tmp_path, BASE)
    result = run_cli(["run", task, "--set", "train.lr=-1", "--out", tmp_path / "o"])
    assert result.exit_code == 2
    assert "train.lr" in result.output
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(("how", "out"), [("--out", "somefile.txt/runs"), ("--out", "somefile.txt"),
                                          ("task.out", "somefile.txt/runs")])
def test_out_under_a_plain_file(tmp_path, monkeypatch, how, out):
    """task.out / --out where a plain file stands in the way: one line naming task.out and the
    file, exit 2, and nothing written beside the file."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "somefile.txt").write_text("notes\n")
    if how == "--out":
        task, args = write(tmp_path, BASE), ["--out", out]
    else:
        task, args = write(tmp_path, BASE.replace("[task]\n", f'[task]\nout = "{out}"\n')), []
    result = run_cli(["run", task, "--generations", "1", *args])
    message = result.output
    assert result.exit_code == 2, message
    assert "Traceback" not in message
    assert len(message.strip().splitlines()) == 1
    assert "task.out" in message
    assert "somefile.txt is a file, not a directory" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["somefile.txt", "task.toml"]
    assert (tmp_path / "somefile.txt").read_text() == "notes\n"

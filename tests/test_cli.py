"""The command line itself: --version, and help that shows flags as flags."""
import tomllib
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import loopengine
from loopengine.cli import app

runner = CliRunner()


def command_paths(group, prefix=()):
    """Every command and group of the CLI, as argument lists: [], ["run"], ["kernels", "list"]..."""
    yield list(prefix)
    for name, command in getattr(group, "commands", {}).items():
        yield from command_paths(command, (*prefix, name))


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"loopengine {loopengine.__version__}\n"
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    assert loopengine.__version__ == tomllib.loads(pyproject.read_text())["project"]["version"]


@pytest.mark.parametrize("path", list(command_paths(typer.main.get_command(app))), ids=" ".join)
def test_help_shows_flags_without_a_value(path):
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "--help" in result.output
    assert "<bool>" not in result.output, result.output


def test_flags_take_no_value():
    text = runner.invoke(app, ["show", "--help"]).output
    assert "--json" in text
    assert "--no-json" not in text
    assert "--no-quiet" not in runner.invoke(app, ["run", "--help"]).output

"""The task file has one source of truth, the settings models: every key is described there,
`loopengine config` prints them as a task file that loads back into the defaults, and
docs/task_reference.toml is that output, regenerated."""
import importlib
import tomllib
from pathlib import Path

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from loopengine.cli import app
from loopengine.config import Task, TaskSection
from loopengine.problems import BUILTIN_PROBLEMS, load_problem_class


def engine_sections() -> dict[str, type[BaseModel]]:
    return {name: field.annotation for name, field in Task.model_fields.items()
            if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)}


def test_engine_sections_are_found():
    # guards the helper above: a section it missed would go unchecked by every test below
    assert set(engine_sections()) == set(Task.model_fields) - {"problem"}


@pytest.mark.parametrize("section", sorted(Task.model_fields))
def test_every_section_is_described(section):
    assert (Task.model_fields[section].description or "").strip(), f"Task.{section} has no description"


@pytest.mark.parametrize("section", sorted(set(Task.model_fields) - {"problem"}))
def test_every_engine_key_is_described(section):
    model = engine_sections()[section]
    missing = [key for key, field in model.model_fields.items() if not (field.description or "").strip()]
    assert not missing, f"[{section}] keys without a description: {missing}"


@pytest.mark.parametrize("problem", sorted(BUILTIN_PROBLEMS))
def test_every_problem_key_is_described(problem):
    settings = load_problem_class(problem).Settings
    assert settings.model_fields, f"{problem} has no settings"
    missing = [key for key, field in settings.model_fields.items() if not (field.description or "").strip()]
    assert not missing, f"[problem] keys of {problem} without a description: {missing}"


@pytest.mark.parametrize("problem", sorted(BUILTIN_PROBLEMS))
def test_every_problem_is_described(problem):
    module, name = BUILTIN_PROBLEMS[problem].split(":")
    cls = getattr(importlib.import_module(module), name)
    assert (cls.__dict__.get("__doc__") or "").strip(), f"{name} has no docstring of its own"


# ---- `loopengine config` prints them as a task file ------------------------------------------

runner = CliRunner()
DOCS = Path(__file__).resolve().parents[1] / "docs" / "task_reference.toml"
REGENERATE = "loopengine config --all > docs/task_reference.toml"


def config(*args: str) -> str:
    result = runner.invoke(app, ["config", *args])
    assert result.exit_code == 0, result.output
    return result.output


def has_default(field) -> bool:
    return not field.is_required() and field.get_default(call_default_factory=True) is not None


def check_table(table: dict, expected: BaseModel, text: str, where: str) -> None:
    """Every key with a default is written out at its default (required keys with an example
    value), and every key unset by default is shown commented out."""
    fields = type(expected).model_fields
    written = {key for key, field in fields.items() if has_default(field) or field.is_required()}
    assert set(table) == written, f"{where}: printed {sorted(table)}, expected {sorted(written)}"
    assert type(expected).model_validate(table) == expected, where
    for key in set(fields) - written:
        assert f"\n# {key} = ...\n" in text, f"{where}.{key} (unset by default) is not shown commented out"


@pytest.mark.parametrize("problem", [None, *sorted(BUILTIN_PROBLEMS)])
def test_config_prints_a_task_file_of_defaults(problem):
    text = config(*(["--problem", problem] if problem else []))
    data = tomllib.loads(text)
    task = Task.model_validate(data)
    # required keys get an example: the problem asked for, else the one the model names
    assert task.task.problem == (problem or TaskSection.model_fields["problem"].examples[0])
    check_table(data["task"], TaskSection(name=task.task.name, problem=task.task.problem), text, "task")
    for section, model in engine_sections().items():
        if section != "task":
            check_table(data[section], model(), text, section)
    if problem is None:
        assert "problem" not in data
    else:
        check_table(data["problem"], load_problem_class(problem).Settings(), text, f"problem ({problem})")
    assert all(len(line) <= 100 for line in text.splitlines()), "keep the reference readable at 100 columns"
    assert "(1 to 48)\nlayers = 2\n" in text  # bounds beside the description, above the key


def test_config_all_is_the_committed_reference():
    assert DOCS.read_text(encoding="utf-8") == config("--all"), (
        f"docs/task_reference.toml is out of date with the settings models; regenerate it: {REGENERATE}")


def test_config_all_lists_every_problem_as_valid_tables():
    engine, *blocks = config("--all").split("\n\n\n")
    assert Task.model_validate(tomllib.loads(engine)) == Task.model_validate(tomllib.loads(config()))
    assert len(blocks) == len(BUILTIN_PROBLEMS)
    for name, block in zip(BUILTIN_PROBLEMS, blocks, strict=True):
        assert f'[problem]  # task.problem = "{name}"\n' in block
        check_table(tomllib.loads(block)["problem"], load_problem_class(name).Settings(), block, name)


USER_PROBLEM = '''
from pydantic import Field
from loopengine.problems import Problem, ProblemSettings

class MySettings(ProblemSettings):
    size: int = Field(7, ge=3, description="how big")

class Mine(Problem):
    """My own objects."""
    name = "mine"
    Settings = MySettings
'''


def test_config_of_a_user_problem_file(tmp_path):
    (tmp_path / "mine.py").write_text(USER_PROBLEM)
    text = config("--problem", f"{tmp_path / 'mine.py'}:Mine")
    assert "# mine: My own objects.\n[problem]\n\n# how big (>= 3)\nsize = 7\n" in text
    assert tomllib.loads(text)["task"]["name"] == "mine"


@pytest.mark.parametrize(("args", "expected"), [
    (["--problem", "nosuch"], "--problem: expected a built-in problem"),
    (["--problem", "nofile.py:P"], "--problem: problem file nofile.py not found"),
    (["--problem", "gcd", "--all"], "not both"),
])
def test_config_bad_arguments(args, expected):
    result = runner.invoke(app, ["config", *args])
    assert result.exit_code == 2
    assert expected in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output

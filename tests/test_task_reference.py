"""The task file has one source of truth, the settings models: every key is described there,
`loopengine config` prints them as a task file that loads back into the defaults, and
docs/task_reference.toml is that output, regenerated."""
import importlib

import pytest
from pydantic import BaseModel

from loopengine.config import Task
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

"""Problem registry: built-in names, or a user's `path/to/file.py:ClassName`."""
from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

from pydantic import ValidationError

from loopengine.config import raise_validation
from loopengine.errors import ConfigError
from loopengine.pool import Pool
from loopengine.problems.base import ConditionalProblem, Problem, ProblemSettings, Summary, SummaryTable
from loopengine.problems.codecs import Codec

# name -> "module:Class"; imported lazily so a problem's heavy imports cost nothing elsewhere.
BUILTIN_PROBLEMS: dict[str, str] = {
    "c4free": "loopengine.problems.c4free.problem:C4Free",
    "lyapunov": "loopengine.problems.lyapunov.problem:Lyapunov",
    "gcd": "loopengine.problems.integers.problem:GCD",
    "modmul": "loopengine.problems.integers.problem:ModMul",
    "modadd": "loopengine.problems.integers.problem:ModAdd",
    "trees": "loopengine.problems.trees.problem:Trees",
}

__all__ = ["BUILTIN_PROBLEMS", "Codec", "ConditionalProblem", "Pool", "Problem", "ProblemSettings", "Summary",
           "SummaryTable", "load_problem_class", "make_problem"]


def _import_from_file(path: Path, class_name: str, source: Path | str):
    if not path.is_file():
        raise ConfigError(source, "task.problem", f"problem file {path} not found")
    module_name = f"loopengine_user_problem_{abs(hash(path.resolve()))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # a user's file: show what broke, not our stack
        raise ConfigError(source, "task.problem", f"importing {path} failed: {type(exc).__name__}: {exc}") from None
    if not hasattr(module, class_name):
        raise ConfigError(source, "task.problem", f"{path} defines no {class_name!r}")
    return getattr(module, class_name)


def load_problem_class(spec: str, source: Path | str = "task", task_dir: Path | None = None) -> type[Problem]:
    if spec in BUILTIN_PROBLEMS:
        module, name = BUILTIN_PROBLEMS[spec].split(":")
        cls = getattr(importlib.import_module(module), name)
    elif ":" in spec:
        file_part, name = spec.rsplit(":", 1)
        path = Path(file_part)
        if not path.is_absolute() and task_dir is not None:
            path = task_dir / path
        if file_part.endswith(".py"):
            cls = _import_from_file(path, name, source)
        else:
            try:
                cls = getattr(importlib.import_module(file_part), name, None)
            except ImportError as exc:
                raise ConfigError(source, "task.problem", f"cannot import {file_part}: {exc}") from None
    else:
        known = ", ".join(sorted(BUILTIN_PROBLEMS))
        raise ConfigError(source, "task.problem",
                          f"expected a built-in problem ({known}) or path/to/file.py:ClassName (got {spec!r})")
    if not (isinstance(cls, type) and issubclass(cls, Problem)):
        raise ConfigError(source, "task.problem", f"{spec!r} is not a subclass of loopengine.problems.Problem")
    return cls


def make_problem(spec: str, settings: dict, source: Path | str = "task", task_dir: Path | None = None) -> Problem:
    cls = load_problem_class(spec, source, task_dir)
    try:
        parsed = cls.Settings.model_validate(settings)
    except ValidationError as exc:
        raise_validation(source, exc, prefix="problem")
    try:
        problem = cls(parsed, task_dir)
    except ValueError as exc:  # a problem's own consistency checks on its settings
        raise ConfigError(source, "problem", str(exc)) from None
    except ConfigError as exc:  # raised by the problem without knowing the task file: name it
        if exc.file is not None:
            raise
        raise ConfigError(source, exc.key, exc.expected) from None
    if not isinstance(getattr(problem, "codec", None), Codec):
        raise ConfigError(source, "task.problem", f"{spec!r} sets no codec: its __init__ must set self.codec "
                          "(e.g. a SubsetCodec from loopengine.problems.codecs)")
    return problem

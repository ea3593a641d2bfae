"""Which code a run directory's task.toml would make loopengine import or compile.

A task file you write and run is yours: the problem file and kernel it names are code you
chose. A run directory you received is data: its task.toml may name a .py or .cpp file (or
a Python module) that `resume` would import or compile, and so run. `resume` therefore
lists that code and runs it only with --trust; `show` lists it and never imports it.
See docs/trust.md.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from loopengine.kernels.resolve import is_cpp_file
from loopengine.problems import BUILTIN_PROBLEMS


def _where(spec: str, task_dir: Path) -> str:
    path = Path(spec)
    return str(path if path.is_absolute() else (task_dir / path))


def named_code(task: dict[str, Any], task_dir: Path) -> list[str]:
    """The user code a task (as a raw TOML dict) names, described for a person, e.g.
    "problem file /x/problem.py (Python, imported)". Empty for built-ins only."""
    out = []
    problem = str((task.get("task") or {}).get("problem", ""))
    if problem and problem not in BUILTIN_PROBLEMS and ":" in problem:
        module = problem.rsplit(":", 1)[0]
        out.append(f"problem file {_where(module, task_dir)} (Python, imported)" if module.endswith(".py")
                   else f"problem module {module} (Python, imported)")
    kernel = (task.get("kernel") or {}).get("local_search", "default")
    kernel = kernel if isinstance(kernel, str) else ""
    if is_cpp_file(kernel):
        out.append(f"kernel {_where(kernel, task_dir)} (C++, compiled and loaded)")
    elif ":" in kernel:
        module = kernel.rsplit(":", 1)[0]
        out.append(f"kernel file {_where(module, task_dir)} (Python, imported)" if module.endswith(".py")
                   else f"kernel module {module} (Python, imported)")
    return out

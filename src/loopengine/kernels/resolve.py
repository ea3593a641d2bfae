"""Local-search kernels: the built-ins, and how a task file names one.

A kernel is fn(objects, prompts, seed, threads, **params) -> objects, same shape and dtype.
`[kernel] local_search` in a task file is "default" (the problem's own), "none", a built-in
name, a C++ file (compiled on first use, see kernel_build.py) or `module:function` for a
Python callable, so switching between a prototype and a fast kernel is one line.

Built-in kernels are declared by the problems that bring them (`Problem.kernels`, name ->
"module:attribute"), so this module knows no problem's code. The attribute is a Python
function with the kernel signature, or a kernel compiled into loopengine._core in the
public form of kernel.hpp. Built-ins run in the engine's process; a user's kernel (a C++
file or a Python function of theirs) carries an `origin` from which a worker process can
load it again, and the local backend runs it there (see isolation.py), so a crash or a hang
in it cannot take the run down.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from loopengine.errors import ConfigError, KernelError

KernelFn = Callable[..., np.ndarray]


@dataclass
class Kernel:
    name: str
    fn: KernelFn
    # how another process loads this kernel again: ("cpp", path) or ("python", spec, task_dir);
    # None for built-ins, which stay in-process
    origin: tuple | None = None

    @property
    def user_code(self) -> bool:
        return self.origin is not None

    def __call__(self, objects: np.ndarray, prompts: np.ndarray | None, seed: int, threads: int,
                 params: dict[str, Any]) -> np.ndarray:
        try:
            out = self.fn(objects, prompts, seed, threads, **params)
        except Exception as exc:
            raise KernelError(f"kernel {self.name!r} raised {type(exc).__name__}: {exc}") from exc
        out = np.asarray(out)
        if out.shape != objects.shape:
            raise KernelError(
                f"kernel {self.name!r} returned shape {out.shape}; expected {objects.shape} (same as its input)"
            )
        if out.dtype != objects.dtype:
            out = out.astype(objects.dtype)
        return np.ascontiguousarray(out)


def builtin_kernels() -> dict[str, str]:
    """Every built-in kernel (name -> "module:attribute"), as the built-in problems declare them."""
    from loopengine.problems import BUILTIN_PROBLEMS, load_problem_class

    out: dict[str, str] = {}
    for name in BUILTIN_PROBLEMS:
        out.update(load_problem_class(name).kernels)
    return out


def load_builtin(name: str, target: str) -> Kernel:
    module_name, attr = target.split(":")
    fn = getattr(importlib.import_module(module_name), attr)
    if inspect.ismodule(fn):  # a kernel compiled into loopengine._core in the kernel.hpp form
        from loopengine.kernels.build import CppKernel

        fn = CppKernel(fn, attr)
    return Kernel(name, fn)


def _import_file(path: Path, task_dir: Path | None):
    if not path.is_absolute() and task_dir is not None:
        path = task_dir / path
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found")
    name = f"loopengine_user_kernel_{path.stem}_{hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # registered first: pickling by value (Ray) looks it up
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
    return sys.modules[name]


def _import_callable(spec: str, source, task_dir: Path | None = None) -> KernelFn:
    module_name, func = spec.rsplit(":", 1)
    try:
        if module_name.endswith(".py"):  # path/to/file.py:function, like a user problem
            module = _import_file(Path(module_name), task_dir)
        else:
            module = importlib.import_module(module_name)
        fn = getattr(module, func)
    except Exception as exc:  # a user's file: say what broke, not our stack
        raise ConfigError(source, "kernel.local_search",
                          f"cannot load Python kernel {spec!r}: {type(exc).__name__}: {exc}") from None
    if not callable(fn):
        raise ConfigError(source, "kernel.local_search", f"{spec!r} is not callable")
    try:
        inspect.signature(fn).bind(None, None, 0, 0)
    except TypeError:
        raise ConfigError(source, "kernel.local_search",
                          f"Python kernel {spec!r} must accept (objects, prompts, seed, threads, **params)") from None
    except ValueError:  # no introspectable signature (some builtins): judged when called
        pass
    return fn


def cpp_path(spec: str, task_dir: Path | None) -> Path:
    path = Path(spec)
    return task_dir / path if not path.is_absolute() and task_dir is not None else path


def load_user_kernel(origin: tuple, source="task") -> Kernel:
    """A user's kernel from its origin (also how an isolated worker process loads it)."""
    if origin[0] == "cpp":
        from loopengine.kernels.build import load_cpp_kernel

        path = Path(origin[1])
        return Kernel(path.name, load_cpp_kernel(path, source), origin)
    spec, task_dir = origin[1], origin[2]
    return Kernel(spec, _import_callable(spec, source, None if task_dir is None else Path(task_dir)), origin)


def is_cpp_file(spec: str) -> bool:
    return spec.endswith((".cpp", ".cc", ".cxx"))


def resolve_kernel(spec: str, default: str | None, source="task", task_dir: Path | None = None,
                   own: dict[str, str] | None = None) -> Kernel | None:
    """The kernel a task file names. `own`: the kernels the task's problem declares (looked up
    first, so the usual case imports no other problem)."""
    if spec == "none" or (spec == "default" and default is None):
        return None
    if spec == "default":
        spec = default
    if own and spec in own:
        return load_builtin(spec, own[spec])
    if is_cpp_file(spec):
        return load_user_kernel(("cpp", str(cpp_path(spec, task_dir).resolve())), source)
    if ":" in spec:
        return load_user_kernel(("python", spec, None if task_dir is None else str(task_dir.resolve())), source)
    builtins = builtin_kernels()
    if spec in builtins:
        return load_builtin(spec, builtins[spec])
    known = ", ".join(sorted({*builtins, *(own or {})}))
    raise ConfigError(source, "kernel.local_search",
                      f'expected "default", "none", a built-in kernel ({known}), a .cpp file or '
                      f'module:function (got {spec!r})')

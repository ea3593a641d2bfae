"""Local-search kernels: the built-ins, and how a task file names one.

A kernel is fn(objects, prompts, seed, threads, **params) -> objects, same shape and dtype.
`[kernel] local_search` in a task file is "default" (the problem's own), "none", a built-in
name, a C++ file (compiled on first use, see kernel_build.py) or `module:function` for a
Python callable, so switching between a prototype and a fast kernel is one line.
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


def _c4free(objects, prompts, seed, threads, kick=0, rounds=0, round_kick=2, tabu=0, accept_worse=0.0):
    from loopengine import _core

    return _core.c4_local_search(objects, seed, threads, int(kick), int(rounds), int(round_kick), int(tabu),
                                 float(accept_worse))


# name -> callable with the kernel signature
BUILTIN_KERNELS: dict[str, KernelFn] = {
    "c4free": _c4free,
    "lyapunov": lambda objects, prompts, seed, threads, **params: importlib.import_module(
        "loopengine.problems.lyapunov.falsify").local_search(objects, prompts, seed, threads, **params),
}


@dataclass
class Kernel:
    name: str
    fn: KernelFn

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


def resolve_kernel(spec: str, default: str | None, source="task", task_dir: Path | None = None) -> Kernel | None:
    if spec == "none" or (spec == "default" and default is None):
        return None
    if spec == "default":
        spec = default
    if spec in BUILTIN_KERNELS:
        return Kernel(spec, BUILTIN_KERNELS[spec])
    if spec.endswith((".cpp", ".cc", ".cxx")):
        from loopengine.kernel_build import load_cpp_kernel

        path = Path(spec)
        if not path.is_absolute() and task_dir is not None:
            path = task_dir / path
        return Kernel(path.name, load_cpp_kernel(path, source))
    if ":" in spec:
        return Kernel(spec, _import_callable(spec, source, task_dir))
    known = ", ".join(sorted(BUILTIN_KERNELS))
    raise ConfigError(source, "kernel.local_search",
                      f'expected "default", "none", a built-in kernel ({known}), a .cpp file or module:function (got {spec!r})')

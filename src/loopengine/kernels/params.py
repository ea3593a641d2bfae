"""`[kernel] params` / `elite_params` checked against what the kernel itself declares, before a
run writes anything, with errors naming the task file and `kernel.params.<name>`.

Each kernel's schema comes from its own declaration, so no table here knows any problem:
- a C++ kernel (a user file, or a built-in compiled into _core in the kernel.hpp form)
  declares its parameters in LOOPENGINE_KERNEL(fn, {name, default[, minimum]}, ...): only
  those names, numbers only, and not below a declared minimum;
- a Python kernel declares them in its signature, after (objects, prompts, seed, threads):
  the names (any name when it takes **params), the type of each from its annotation or
  else its default, and bounds when annotated so, e.g. `kick: Annotated[int, Field(ge=0)] = 0`.
  The signature becomes a pydantic model, validated strictly ("3" is not an int).
"""
from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, ValidationError, create_model

from loopengine.config import describe_error
from loopengine.errors import ConfigError
from loopengine.kernels.resolve import Kernel

_NUMBER = (int, float, bool)


def _check_cpp(kernel_name: str, info: dict[str, Any], params: dict[str, Any], where) -> None:
    declared = dict(info.get("params", {}))
    minimum = dict(info.get("minimum", {}))
    for name, value in params.items():
        if name not in declared:
            known = ", ".join(declared) or "none"
            where(name, f"unknown parameter of kernel {kernel_name!r} (it accepts: {known})")
        if type(value) not in _NUMBER:
            where(name, f"expected a number (got {value!r})")
        if name in minimum and value < minimum[name]:
            where(name, f"must be >= {minimum[name]:g} (got {value!r})")


def _python_model(fn):
    try:
        sig = inspect.signature(fn, eval_str=True)
    except (TypeError, ValueError, NameError):  # no introspectable signature: judged when called
        return None
    fields, open_ended = {}, False
    for p in list(sig.parameters.values())[4:]:
        if p.kind is p.VAR_KEYWORD:
            open_ended = True
        elif p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            default = ... if p.default is p.empty else p.default
            annotation = p.annotation
            if annotation is p.empty:
                annotation = type(default) if type(default) in (*_NUMBER, str) else Any
            fields[p.name] = (annotation, default)
    config = ConfigDict(extra="allow" if open_ended else "forbid", strict=True, arbitrary_types_allowed=True)
    return create_model("KernelParams", __config__=config, **fields)


def _reporter(source: Path | str, table: str):
    """where(name, expected) raises the one-line ConfigError for key kernel.<table>.<name>."""

    def where(name: str, expected: str) -> None:
        raise ConfigError(source, f"kernel.{table}.{name}", expected)

    return where


def check_kernel_params(kernel: Kernel | None, tables: dict[str, dict[str, Any]], source: Path | str) -> None:
    """tables: {"params": {...}, "elite_params": {...}} as in the task file."""
    if kernel is None:
        return
    from loopengine.kernels.build import CppKernel

    for table, params in tables.items():
        where = _reporter(source, table)
        if isinstance(kernel.fn, CppKernel):
            _check_cpp(kernel.name, kernel.fn.info, params, where)
            continue
        model = _python_model(kernel.fn)
        if model is None:
            continue
        try:
            model.model_validate(params)
        except ValidationError as exc:
            first = exc.errors()[0]
            name = ".".join(str(p) for p in first["loc"])
            if first["type"] == "extra_forbidden":
                known = ", ".join(model.model_fields) or "none"
                where(name, f"unknown parameter of kernel {kernel.name!r} (it accepts: {known})")
            if first["type"] == "missing":
                where(name, f"required by kernel {kernel.name!r}")
            where(name, describe_error(first))

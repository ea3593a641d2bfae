"""User C++ kernels: compile on first use, cache, load, and call like a built-in.

A user kernel is one C++ file written against loopengine/kernel.hpp (see that header and
docs/new_problem.md). Builds live in the cache directory ($LOOPENGINE_CACHE, else
$XDG_CACHE_HOME/loopengine/kernels, else ~/.cache/loopengine/kernels), one directory per
build, named by a key that hashes everything the binary depends on:

- the file's content and, followed recursively, every file it includes with #include "..."
  (so an edited helper header next to the kernel is never served stale),
- every header of loopengine's own include directory,
- the compiler (its path and `--version` banner) and the flags,
- the Python ABI (cache tag, extension suffix) and the pybind11 version.

Any change gives a new key, hence a fresh build: a stale binary is never loaded. Two
processes building the same key at once are safe: each compiles in its own temporary
directory and renames it into place; the loser of the race discards its copy and loads the
winner's (identical) one.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from loopengine.errors import ConfigError
from loopengine.errors import KernelError

CXX_FLAGS = ["-O3", "-std=c++17", "-shared", "-fPIC", "-fvisibility=hidden", "-DNDEBUG", "-pthread"]
# compiler output kept in an error message (the first errors are the useful ones)
MAX_ERROR_LINES = 60
_QUOTED_INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"', re.MULTILINE)
_loaded: dict[str, Any] = {}  # key -> imported module, so a process loads each build once


def cache_dir() -> Path:
    if os.environ.get("LOOPENGINE_CACHE"):
        return Path(os.environ["LOOPENGINE_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "loopengine" / "kernels"


def compiler() -> str:
    cxx = os.environ.get("CXX", "c++")
    found = shutil.which(shlex.split(cxx)[0]) if cxx.strip() else None
    if found is None:
        raise KernelError(f"no C++ compiler found (tried {cxx!r}); install g++ or clang++, or set CXX")
    return found


@lru_cache(maxsize=None)
def _compiler_banner(cxx: str) -> str:
    try:
        return subprocess.run([cxx, "--version"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise KernelError(f"the C++ compiler {cxx} does not run: {exc}") from None


def engine_include_dir() -> Path:
    from loopengine import include_dir

    try:
        return include_dir()
    except FileNotFoundError as exc:
        raise KernelError(str(exc)) from None


def _include_dirs() -> list[Path]:
    import pybind11

    python_inc = sysconfig.get_paths()["include"]
    return [engine_include_dir(), Path(pybind11.get_include()), Path(python_inc)]


def _local_includes(source: Path, search: list[Path]) -> list[Path]:
    """Files reached through #include "..." from `source` (itself first), depth-first."""
    seen: dict[Path, None] = {}
    todo = [source.resolve()]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen[path] = None
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        for name in _QUOTED_INCLUDE.findall(text):
            for base in (path.parent, *search):
                candidate = (base / name).resolve()
                if candidate.is_file():
                    todo.append(candidate)
                    break
    return list(seen)


def build_key(source: Path) -> str:
    import pybind11

    cxx = compiler()
    h = hashlib.sha256()

    def add(label: str, data: bytes) -> None:
        h.update(f"{label}:{len(data)}:".encode())
        h.update(data)

    engine = engine_include_dir()
    for path in _local_includes(source, [engine]) + sorted(engine.rglob("*.h*")):
        add("file", path.read_bytes())
    add("compiler", f"{cxx}\n{_compiler_banner(cxx)}".encode())
    add("flags", " ".join(CXX_FLAGS + shlex.split(os.environ.get("CXXFLAGS", ""))).encode())
    abi = [sys.implementation.cache_tag, sysconfig.get_config_var("EXT_SUFFIX"), pybind11.__version__]
    add("abi", repr(abi).encode())
    return h.hexdigest()


def _entry(source: Path, key: str) -> Path:
    stem = re.sub(r"[^A-Za-z0-9_]", "_", source.stem)[:40]
    return cache_dir() / f"{stem}-{key[:16]}"


def _module_name(key: str) -> str:
    return f"loopengine_kernel_{key[:16]}"


def _module_file(entry: Path, key: str) -> Path:
    return entry / (_module_name(key) + sysconfig.get_config_var("EXT_SUFFIX"))


def build_path(file: Path | str) -> Path:
    """Where the build of `file` as it is now lives (whether or not it was built yet)."""
    source = Path(file)
    key = build_key(source)
    return _module_file(_entry(source, key), key)


def _compile(source: Path, key: str, entry: Path) -> None:
    cxx = compiler()
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".build-{entry.name}-", dir=entry.parent))
    try:
        target = _module_file(tmp, key)
        includes = [f"-I{d}" for d in _include_dirs()]
        cmd = [cxx, *CXX_FLAGS, *shlex.split(os.environ.get("CXXFLAGS", "")), *includes,
               f"-DLOOPENGINE_USER_MODULE={_module_name(key)}", str(source.resolve()), "-o", str(target)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        (tmp / "build.log").write_text(shlex.join(cmd) + "\n\n" + proc.stdout + proc.stderr)
        if proc.returncode != 0:
            lines = (proc.stderr or proc.stdout).strip().splitlines()
            shown = "\n".join(lines[:MAX_ERROR_LINES])
            more = f"\n... ({len(lines) - MAX_ERROR_LINES} more lines)" if len(lines) > MAX_ERROR_LINES else ""
            raise KernelError(f"compiling C++ kernel {source} failed ({Path(cxx).name} exit {proc.returncode}):\n"
                              f"{shown}{more}")
        meta = {"source": str(source.resolve()), "key": key, "compiler": cxx, "flags": CXX_FLAGS,
                "built": _dt.datetime.now().isoformat(timespec="seconds")}
        (tmp / "build.json").write_text(json.dumps(meta, indent=2) + "\n")
        try:
            os.rename(tmp, entry)
        except OSError:
            if _module_file(entry, key).is_file():
                return  # another process finished the same build first: use theirs
            shutil.rmtree(entry, ignore_errors=True)  # a damaged entry (module deleted by hand)
            os.rename(tmp, entry)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _import(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class CppKernel:
    """A compiled kernel (user build or a built-in in the same public form), callable with
    the engine's kernel signature fn(objects, prompts, seed, threads, **params)."""

    def __init__(self, module, name: str, source: Path | None = None) -> None:
        self.module, self.name, self.source = module, name, source
        self.info = dict(module.info)

    @property
    def params(self) -> dict[str, float]:
        return dict(self.info["params"])

    def search(self, objects: np.ndarray, prompts: np.ndarray | None, seed: int, threads: int,
               **params) -> tuple[np.ndarray, np.ndarray]:
        """Improved objects and the kernel's own per-row scores (NaN where it set none)."""
        # numpy scalars are numbers too (the module accepts Python int/float/bool only)
        params = {k: v.item() if isinstance(v, np.generic) else v for k, v in params.items()}
        return self.module.run(objects, prompts, int(seed), int(threads), params)

    def __call__(self, objects, prompts, seed, threads, **params) -> np.ndarray:
        return self.search(objects, prompts, seed, threads, **params)[0]

    def __reduce__(self):
        # compiled modules do not pickle: a Ray worker rebuilds (or finds in its cache) the
        # same file, which must exist at the same path there
        if self.source is None:
            return (builtin_form, (self.name,))
        return (load_cpp_kernel, (self.source, "ray worker"))


def builtin_form(name: str) -> CppKernel:
    """A kernel compiled into loopengine._core through kernel.hpp (loopengine._core.<name>)."""
    from loopengine import _core

    return CppKernel(getattr(_core, name), name)


def load_cpp_kernel(path: Path | str, source: Path | str = "task") -> CppKernel:
    """Compile `path` unless a build of exactly this content exists, then load it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(source, "kernel.local_search", f"C++ kernel file {path} not found")
    key = build_key(path)
    if key not in _loaded:
        entry = _entry(path, key)
        if not _module_file(entry, key).is_file():
            _compile(path, key, entry)
        try:
            module = _import(_module_file(entry, key), _module_name(key))
        except ImportError as exc:
            raise KernelError(f"C++ kernel {path} was built but does not load: {exc}") from None
        if not hasattr(module, "run") or not hasattr(module, "info"):
            raise KernelError(f"C++ kernel {path} defines no kernel: end the file with LOOPENGINE_KERNEL(your_function)")
        _loaded[key] = module
    return CppKernel(_loaded[key], path.name, path.resolve())


def cached_builds() -> list[dict[str, Any]]:
    rows = []
    root = cache_dir()
    if not root.is_dir():
        return rows
    for entry in sorted(root.iterdir()):
        meta_file = entry / "build.json"
        if entry.name.startswith(".") or not meta_file.is_file():
            continue
        try:
            meta = json.loads(meta_file.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        source = Path(meta.get("source", "?"))
        current = source.is_file() and _safe_key(source) == meta.get("key")
        rows.append({"entry": entry, "source": source, "built": meta.get("built", "?"),
                     "state": "current" if current else ("missing source" if not source.is_file() else "outdated")})
    return rows


def _safe_key(source: Path) -> str | None:
    try:
        return build_key(source)
    except (OSError, KernelError):
        return None


def list_kernels(console) -> None:
    from rich.table import Table

    from loopengine.kernels import BUILTIN_KERNELS

    table = Table(title="built-in kernels")
    table.add_column("name")
    table.add_column("use in a task file")
    for name in sorted(BUILTIN_KERNELS):
        table.add_row(name, f'local_search = "{name}"')
    console.print(table)
    builds = cached_builds()
    table = Table(title=f"user kernel builds in {cache_dir()}")
    for col in ("source", "built", "state", "build"):
        table.add_column(col, overflow="fold")  # full paths, even in a narrow terminal
    for row in builds:
        table.add_row(str(row["source"]), row["built"], row["state"], row["entry"].name)
    if builds:
        console.print(table)
    else:
        console.print(f"no user kernel builds in {cache_dir()} (a .cpp kernel is built on first use, "
                      "or with `loopengine kernels build FILE`)")

"""User C++ kernels: compile on first use, cache, verify, load, and call like a built-in.

A user kernel is one C++ file written against loopengine/kernel.hpp (see that header and
docs/new_problem.md). Builds live in the cache directory ($LOOPENGINE_CACHE, else
$XDG_CACHE_HOME/loopengine/kernels, else ~/.cache/loopengine/kernels):

    <stem>-<key>/<variant>/<module>.so + build.json

`key` hashes what is known before compiling: the file's content, loopengine's own headers,
the compiler (its path and `--version` banner), every flag (ours and $CXXFLAGS, so every -I
directory named there too) and the Python ABI (cache tag,
extension suffix, pybind11 version). Which headers the file really includes only the
compiler knows: each build records the compiler's own dependency list (-MD -MF) with the
sha256 of every file on it, and a build is used only while all of those files still hash
the same, so a header found through `CXXFLAGS -I` that changed means a fresh build, never
a stale one. `variant` names that set of header contents, so builds against two versions
of a header coexist.

build.json also holds the sha256 of the built module. Loading reads the module's bytes
once, checks them against that hash and imports exactly those bytes (from a private copy),
so a module replaced or damaged in the cache is rebuilt, never loaded. (Someone who can
rewrite build.json as well can defeat this: keep the cache writable only by you; see
docs/trust.md.)

Two processes building the same variant at once are safe: each compiles in its own
temporary directory and renames it into place; the loser of the race discards its copy
and loads the winner's (identical) one.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import importlib.util
import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import warnings
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from loopengine.errors import ConfigError, KernelError

CXX_FLAGS = ["-O3", "-std=c++17", "-shared", "-fPIC", "-fvisibility=hidden", "-DNDEBUG", "-pthread"]
# compiler output kept in an error message (the first errors are the useful ones)
MAX_ERROR_LINES = 60
_loaded: dict[str, Any] = {}  # verified module file -> imported module: each build loads once
BUILD_INFO = "build.json"


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


@cache
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


def _flags() -> list[str]:
    return CXX_FLAGS + shlex.split(os.environ.get("CXXFLAGS", ""))


def build_key(source: Path) -> str:
    """Hash of everything known before compiling (see the module docstring)."""
    import pybind11

    cxx = compiler()
    h = hashlib.sha256()

    def add(label: str, data: bytes) -> None:
        h.update(f"{label}:{len(data)}:".encode())
        h.update(data)

    add("source", Path(source).read_bytes())
    engine = engine_include_dir()
    for path in sorted(engine.rglob("*.h*")):
        add("engine header", path.read_bytes())
    add("compiler", f"{cxx}\n{_compiler_banner(cxx)}".encode())
    add("flags", "\n".join(_flags()).encode())
    abi = [sys.implementation.cache_tag, sysconfig.get_config_var("EXT_SUFFIX"), pybind11.__version__]
    add("abi", repr(abi).encode())
    return h.hexdigest()


def _sha256_file(path: Path | str) -> str | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def parse_depfile(text: str) -> list[str]:
    """The prerequisites in a make-format dependency file (`target: a.cpp b.h ...`)."""
    text = text.replace("\\\n", " ").replace("$$", "$")
    deps = text.split(":", 1)[1] if ":" in text else ""
    # a space inside a path is written as "\ "
    return [p.replace("\\ ", " ") for p in re.findall(r"(?:\\ |\S)+", deps)]


def _entry(source: Path, key: str) -> Path:
    stem = re.sub(r"[^A-Za-z0-9_]", "_", source.stem)[:40]
    return cache_dir() / f"{stem}-{key[:16]}"


def _module_name(key: str) -> str:
    """A name no other build shares: a process that loaded one build of a key and then
    needs another (a header changed) must get the new one, and Python hands back an
    already-loaded extension module of the same name."""
    return f"loopengine_kernel_{key[:16]}_{secrets.token_hex(4)}"


_MODULE_NAME = re.compile(r"^loopengine_kernel_[0-9a-f]{16}_[0-9a-f]{8}$")


def _module_file(variant: Path, name: str) -> Path:
    return variant / (name + sysconfig.get_config_var("EXT_SUFFIX"))


def _read_info(variant: Path) -> dict[str, Any] | None:
    try:
        info = json.loads((variant / BUILD_INFO).read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def _headers_current(info: dict[str, Any]) -> bool:
    deps = info.get("deps")
    return isinstance(deps, dict) and all(_sha256_file(p) == h for p, h in deps.items())


def _current_variant(entry: Path, key: str) -> tuple[Path, bytes] | None:
    """A build of this key whose headers are unchanged and whose module is the one that was
    built, with the module's bytes (read once: what is checked is what gets loaded)."""
    if not entry.is_dir():
        return None
    for variant in sorted(entry.iterdir()):
        info = None if variant.name.startswith(".") else _read_info(variant)
        if (info is None or info.get("key") != key or not _MODULE_NAME.match(str(info.get("module")))
                or not _headers_current(info)):
            continue
        module = _module_file(variant, info["module"])
        try:
            data = module.read_bytes()
        except OSError:
            data = b""
        if hashlib.sha256(data).hexdigest() == info.get("binary_sha256"):
            return module, data
        warnings.warn(f"the cached kernel build {module} is not the module that was built there "
                      "(replaced or damaged); rebuilding it", RuntimeWarning, stacklevel=3)
        shutil.rmtree(variant, ignore_errors=True)
    return None


def _compile(source: Path, key: str, entry: Path) -> None:
    cxx = compiler()
    entry.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=entry))
    try:
        name = _module_name(key)
        target = _module_file(tmp, name)
        includes = [f"-I{d}" for d in _include_dirs()]
        depfile = tmp / "deps.d"
        cmd = [cxx, *_flags(), *includes, f"-DLOOPENGINE_USER_MODULE={name}",
               "-MD", "-MF", str(depfile), str(source.resolve()), "-o", str(target)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        (tmp / "build.log").write_text(shlex.join(cmd) + "\n\n" + proc.stdout + proc.stderr)
        if proc.returncode != 0:
            lines = (proc.stderr or proc.stdout).strip().splitlines()
            shown = "\n".join(lines[:MAX_ERROR_LINES])
            more = f"\n... ({len(lines) - MAX_ERROR_LINES} more lines)" if len(lines) > MAX_ERROR_LINES else ""
            raise KernelError(f"compiling C++ kernel {source} failed ({Path(cxx).name} exit {proc.returncode}):\n"
                              f"{shown}{more}")
        deps = {}
        for dep in parse_depfile(depfile.read_text()):
            path = str(Path(dep).resolve())
            deps[path] = _sha256_file(path)
        variant = hashlib.sha256(json.dumps(sorted(deps.items())).encode()).hexdigest()[:16]
        meta = {"source": str(source.resolve()), "key": key, "module": name, "compiler": cxx, "flags": _flags(),
                "built": _dt.datetime.now().isoformat(timespec="seconds"),
                "binary_sha256": _sha256_file(target), "deps": deps}
        (tmp / BUILD_INFO).write_text(json.dumps(meta, indent=2) + "\n")
        final = entry / variant
        try:
            os.rename(tmp, final)
        except OSError:
            if _current_variant(entry, key) is not None:
                return  # another process finished the same build first: use theirs
            shutil.rmtree(final, ignore_errors=True)  # a damaged build (module deleted by hand)
            os.rename(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        with contextlib.suppress(OSError):
            entry.rmdir()  # only when empty: a failed first build leaves nothing behind


def _import_verified(data: bytes, name: str):
    """Import the module whose bytes are `data` (already checked), from a private copy, so
    the file cannot be swapped between the check and the load."""
    private = Path(tempfile.mkdtemp(prefix="loopengine-kernel-"))
    try:
        path = private / (name + sysconfig.get_config_var("EXT_SUFFIX"))
        path.write_bytes(data)
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)  # the library stays mapped after its file is gone
        return module
    finally:
        shutil.rmtree(private, ignore_errors=True)


def _native(arr: np.ndarray) -> np.ndarray:
    arr = np.asarray(arr)
    return np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("="))


class CppKernel:
    """A compiled kernel (user build or a built-in in the same public form), callable with
    the engine's kernel signature fn(objects, prompts, seed, threads, **params)."""

    def __init__(self, module, name: str, source: Path | None = None) -> None:
        self.module, self.name, self.source = module, name, source
        self.info = dict(module.info)
        self.build: Path | None = None  # the cached module file (user builds)

    @property
    def params(self) -> dict[str, float]:
        return dict(self.info["params"])

    def search(self, objects: np.ndarray, prompts: np.ndarray | None, seed: int, threads: int,
               **params) -> tuple[np.ndarray, np.ndarray]:
        """Improved objects and the kernel's own per-row scores (NaN where it set none)."""
        # numpy scalars are numbers too (the module accepts Python int/float/bool only)
        params = {k: v.item() if isinstance(v, np.generic) else v for k, v in params.items()}
        # native byte order, C-contiguous: what the module reads without a conversion (arrays
        # that crossed a process boundary, as on Ray, may carry an explicit byte order)
        return self.module.run(_native(objects), None if prompts is None else _native(prompts),
                               int(seed), int(threads), params)

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
    """Compile `path` unless a verified build of exactly these inputs exists, then load it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(source, "kernel.local_search", f"C++ kernel file {path} not found")
    key = build_key(path)
    entry = _entry(path, key)
    found = _current_variant(entry, key)
    if found is None:
        _compile(path, key, entry)
        found = _current_variant(entry, key)
        if found is None:
            raise KernelError(f"C++ kernel {path} was built but its build in {entry} does not verify")
    module_file, data = found
    digest = hashlib.sha256(data).hexdigest()
    if digest not in _loaded:
        try:
            module = _import_verified(data, module_file.name.split(".")[0])
        except ImportError as exc:
            raise KernelError(f"C++ kernel {path} was built but does not load: {exc}") from None
        if not hasattr(module, "run") or not hasattr(module, "info"):
            raise KernelError(f"C++ kernel {path} defines no kernel: end the file with "
                              "LOOPENGINE_KERNEL(your_function)")
        _loaded[digest] = module
    kernel = CppKernel(_loaded[digest], path.name, path.resolve())
    kernel.build = module_file
    return kernel


def cached_builds() -> list[dict[str, Any]]:
    """Every build in the cache, with whether it is what the source would load now."""
    rows = []
    root = cache_dir()
    if not root.is_dir():
        return rows
    for entry in sorted(root.iterdir()):
        if entry.name.startswith(".") or not entry.is_dir():
            continue
        for variant in sorted(entry.iterdir()):
            meta = None if variant.name.startswith(".") else _read_info(variant)
            if meta is None:
                continue
            source = Path(meta.get("source", "?"))
            if not source.is_file():
                state = "missing source"
            elif _safe_key(source) == meta.get("key") and _headers_current(meta):
                state = "current"
            else:
                state = "outdated"
            rows.append({"entry": variant, "source": source, "built": meta.get("built", "?"), "state": state})
    return rows


def _safe_key(source: Path) -> str | None:
    try:
        return build_key(source)
    except (OSError, KernelError):
        return None

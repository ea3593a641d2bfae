"""loopengine: find mathematical objects by looping generate -> local search -> verify -> rank -> fine-tune."""
from importlib.metadata import PackageNotFoundError, version


def _source_version() -> str:
    """The version a source tree that was never installed declares (src/loopengine -> repo root)."""
    import tomllib
    from pathlib import Path

    try:
        text = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text(encoding="utf-8")
        project = tomllib.loads(text).get("project", {})
    except (OSError, tomllib.TOMLDecodeError):
        return "0+unknown"
    return str(project["version"]) if project.get("name") == "loopengine" and "version" in project else "0+unknown"


try:
    __version__ = version("loopengine")
except PackageNotFoundError:
    __version__ = _source_version()


def include_dir():
    """Directory holding loopengine/kernel.hpp, for compiling kernels (-I this).

    A source checkout's csrc/include comes first (it is what the developer edits), then the
    copy installed inside the package, then the one installed next to the compiled core
    (editable installs put it there)."""
    from pathlib import Path

    here = Path(__file__).resolve().parent
    candidates = [here.parents[1] / "csrc" / "include", here / "include"]  # src/loopengine -> repo root
    try:
        from loopengine import _core

        candidates.append(Path(_core.__file__).resolve().parent / "include")
    except ImportError:
        pass
    for path in candidates:
        if (path / "loopengine" / "kernel.hpp").is_file():
            return path
    raise FileNotFoundError("loopengine's C++ headers are not installed (looked in: "
                            + ", ".join(str(p) for p in candidates) + "); reinstall loopengine")


def __getattr__(name: str):
    """`loopengine.run` and `loopengine.open_run` (inspection/api.py), imported on first use so
    that `import loopengine` stays light (no torch)."""
    if name in ("run", "open_run", "RunView"):
        from loopengine.inspection import api

        return getattr(api, name)
    raise AttributeError(f"module 'loopengine' has no attribute {name!r}")

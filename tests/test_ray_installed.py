"""A Ray run started from the checkout directory uses the installed loopengine on every worker.

Ray puts the driver's working directory on each worker's sys.path. Before the src layout the
checkout had `loopengine/` at its root, so after a non-editable `pip install ".[ray]"`,
`loopengine run ... --set execution.backend=ray` started from the checkout made every worker
import that source tree, which has no compiled `_core`: ModuleNotFoundError in every worker.

What this test does, and why it is not a literal `pip install .`:
- A non-editable install is a package directory in site-packages holding the Python files, the
  compiled `_core` and the kernel headers. The test lays out exactly that (src/loopengine's
  files, the `_core` this test session imports, csrc/include) in the site-packages of a fresh
  virtual environment, instead of running pip: a real wheel build compiles every C++ kernel
  again (minutes on two cores) and needs the network for its isolated build requirements.
  What the bug depends on, where Python and Ray look for `loopengine`, is the same.
- The fresh environment reaches torch, Ray and the rest through a .pth line naming this
  environment's site-packages. Lines of a .pth naming a directory add it to sys.path without
  running the .pth files inside it, so an editable install of loopengine here (CI installs
  with `pip install -e`, whose import hook would otherwise win over any path) stays out.
- The driver is a console script like the one pip writes, run with cwd = the repository
  root. A Python kernel wrapping the built-in C4-free search records, on each worker, the
  process id and the files `loopengine` and `loopengine._core` were imported from.
"""
from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import venv
from pathlib import Path

import pytest

from loopengine import _core
from loopengine.rundir.archive import complete_generations

if not os.environ.get("CI"):
    pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[test]' brings it)")

ROOT = Path(__file__).resolve().parents[1]

# pip's console script for `loopengine`, plus a private two-CPU Ray instance as in test_ray.py
# (the executor joins an instance that is already up)
DRIVER = """\
import sys

import ray

ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="warning")
from loopengine.cli import main

if __name__ == "__main__":
    sys.argv[0] = "loopengine"
    sys.exit(main())
"""

# the built-in C4-free search, after noting where this worker's loopengine came from
SPY = """\
import json
import os


def spy(objects, prompts, seed, threads, log="", kick=0):
    import loopengine
    import loopengine._core

    with open(log, "a") as f:
        f.write(json.dumps({"pid": os.getpid(), "loopengine": loopengine.__file__,
                            "core": loopengine._core.__file__}) + "\\n")
    return loopengine._core.c4_local_search(objects, seed, threads, kick=kick)
"""


def installed_environment(where: Path) -> tuple[Path, Path]:
    """A virtual environment with loopengine laid out as a non-editable install: (python, site-packages)."""
    venv.EnvBuilder(with_pip=False, symlinks=True).create(where)
    python = where / "bin" / "python"
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    packages = Path(purelib)
    package = packages / "loopengine"
    shutil.copytree(ROOT / "src" / "loopengine", package,
                    ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.pyd"))
    shutil.copy2(_core.__file__, package / Path(_core.__file__).name)
    shutil.copytree(ROOT / "csrc" / "include", package / "include")
    # this environment's third-party packages (torch, Ray, ...); the .pth files there (an
    # editable loopengine's import hook among them) are not run
    outer = [p for p in [*site.getsitepackages(), site.getusersitepackages()] if Path(p).is_dir()]
    (packages / "outer_environment.pth").write_text("".join(f"{p}\n" for p in outer))
    return python, packages


@pytest.mark.slow
def test_ray_run_from_the_checkout_uses_the_installed_package(tiny_task, tmp_path):
    python, packages = installed_environment(tmp_path / "env")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "loopengine").write_text(DRIVER)
    (tmp_path / "spy.py").write_text(SPY)
    log = tmp_path / "workers.jsonl"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the installed package, not src/
    kernel = f"{tmp_path / 'spy.py'}:spy"
    proc = subprocess.Popen(
        [python, bin_dir / "loopengine", "run", tiny_task, "--out", tmp_path / "runs", "--quiet",
         "--generations", "2", "--set", "execution.backend=ray", "--set", "execution.threads=1",
         "--set", f"kernel.local_search={kernel!r}", "--set", f"kernel.params={{ log = {str(log)!r} }}",
         "--set", f"kernel.elite_params={{ log = {str(log)!r}, kick = 1 }}"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        output, _ = proc.communicate(timeout=300)
    finally:
        proc.kill()  # no-op once it has exited
    assert proc.returncode == 0, output
    assert complete_generations(tmp_path / "runs" / "tiny-3") == [0, 1]

    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert calls, "the kernel never ran"
    assert all(c["pid"] != proc.pid for c in calls)  # on Ray workers, not in the driver
    package = (packages / "loopengine").resolve()
    for c in calls:
        assert Path(c["loopengine"]).resolve() == package / "__init__.py", c
        assert Path(c["core"]).resolve().parent == package, c

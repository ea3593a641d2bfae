"""User kernels on the local backend run in a supervised worker process: a segfault is
retried and then one clear line (exit code 1) with finished generations kept; a kernel that
never returns is cut off after execution.timeout_s with its rows unchanged and the event in
metrics.json; a kernel that behaves gives the same rows as in-process; the worker never
outlives the engine, even one killed with SIGKILL while a kernel hangs."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from loopengine.cli import app
from loopengine.config import ExecutionSettings
from loopengine.errors import KernelCrashed
from loopengine.execution.local import LocalExecutor
from loopengine.kernels.resolve import Kernel, resolve_kernel
from loopengine.rundir.archive import complete_generations

MISBEHAVE = Path(__file__).resolve().parent / "kernels" / "misbehave.cpp"
runner = CliRunner()


@pytest.fixture(scope="module", autouse=True)
def kernel_cache(shared_kernel_cache):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LOOPENGINE_CACHE", str(shared_kernel_cache))
        mp.setenv("CXXFLAGS", "-O0")
        yield


def output(result) -> str:
    return result.output  # stdout and stderr as the user sees them


def run_tiny(task, out, *sets, generations=2):
    args = ["run", str(task), "--out", str(out), "--quiet", "--generations", str(generations),
            "--set", f"kernel.local_search={str(MISBEHAVE)!r}"]
    for item in sets:
        args += ["--set", item]
    return runner.invoke(app, args)


@pytest.mark.slow
def test_segfaulting_kernel_ends_with_one_line_and_keeps_finished_generations(tiny_task, tmp_path):
    # elites re-enter local search from generation 1 on, with elite_params: they crash there
    with pytest.warns(RuntimeWarning, match="retry of chunk"):  # each retry is a warning, then the error
        result = run_tiny(tiny_task, tmp_path, "kernel.elite_params={ mode = 1 }", "execution.retries=1", generations=3)
    text = output(result)
    assert result.exit_code == 1, text
    assert "kernel 'misbehave.cpp' crashed its worker (SIGSEGV)" in text
    assert "2 times (execution.retries = 1)" in text
    assert len(text.strip().splitlines()) == 1
    assert "Traceback" not in text
    run_dir = tmp_path / "tiny-3"
    assert complete_generations(run_dir) == [0]
    assert not [p.name for p in run_dir.iterdir() if p.name.startswith(".")]  # no tmp dir, lock released
    assert json.loads((run_dir / "gen_0000" / "metrics.json").read_text())["candidates"] > 0


@pytest.mark.slow
def test_hanging_kernel_is_cut_off_and_recorded(tiny_task, tmp_path):
    start = time.monotonic()
    with pytest.warns(RuntimeWarning, match="timeout of chunk"):
        result = run_tiny(tiny_task, tmp_path, "kernel.elite_params={ mode = 2 }", "execution.timeout_s=1.0")
    assert result.exit_code == 0, output(result)
    assert time.monotonic() - start < 60
    run_dir = tmp_path / "tiny-3"
    assert complete_generations(run_dir) == [0, 1]
    events = json.loads((run_dir / "gen_0001" / "metrics.json").read_text())["execution_events"]
    # the elites source's starts (a third of the 24: sources.py) are one chunk, cut off whole
    assert [(e["event"], e["kernel"], e["rows"], e["result"]) for e in events] == [
        ("timeout", "misbehave.cpp", [0, 8], "input rows unchanged")]
    assert json.loads((run_dir / "gen_0000" / "metrics.json").read_text())["execution_events"] == []


NAP = '''
import os, signal, time
import numpy as np

def nap(objects, prompts, seed, threads, marker=""):
    if marker and os.path.exists(marker):  # the first call that finds it dies by SIGSEGV
        os.remove(marker)
        os.kill(os.getpid(), signal.SIGSEGV)
    if (objects[:, 0] == 7).any():
        time.sleep(600)
    return objects + np.random.default_rng(seed).integers(1, 5, size=objects.shape).astype(objects.dtype)
'''


@pytest.mark.slow
def test_python_kernel_crash_is_retried_and_hang_cut_off(tmp_path):
    (tmp_path / "nap.py").write_text(NAP)
    kernel = resolve_kernel("nap.py:nap", None, "t.toml", tmp_path)
    assert kernel.user_code
    objects = np.arange(40 * 2, dtype=np.int64).reshape(40, 2) % 5
    settings = ExecutionSettings(threads=1, chunk_size=10, timeout_s=1.0, retries=1)
    in_process = Kernel("nap", kernel.fn)  # no origin: runs in this process
    expected = LocalExecutor(settings).run(in_process, objects, None, 11, {})
    ex = LocalExecutor(settings)
    try:
        marker = tmp_path / "die-once"
        marker.touch()
        with pytest.warns(RuntimeWarning, match="retry of chunk 0"):
            out = ex.run(kernel, objects, None, 11, {"marker": str(marker)})
        assert np.array_equal(out, expected)  # the same rows as in-process, each chunk once
        assert [e["event"] for e in ex.take_events()] == ["retry"]

        hang = objects.copy()
        hang[25, 0] = 7  # chunk 2 (rows 20-30) never returns
        with pytest.warns(RuntimeWarning, match="timeout of chunk 2"):
            out = ex.run(kernel, hang, None, 11, {})
        assert np.array_equal(out[20:30], hang[20:30])
        rest = np.r_[0:20, 30:40]
        assert np.array_equal(out[rest], expected[rest])
        assert [(e["event"], e["rows"]) for e in ex.take_events()] == [("timeout", [20, 30])]

    finally:
        ex.close()
    marker.touch()
    strict = LocalExecutor(settings.model_copy(update={"retries": 0}))
    try:
        with pytest.raises(KernelCrashed, match=r"'nap.py:nap' crashed its worker \(SIGSEGV\).*retries = 0"):
            strict.run(kernel, objects, None, 1, {"marker": str(marker)})
    finally:
        strict.close()


# An engine that starts a worker, prints its pid and runs a kernel that never returns
# (misbehave.cpp mode 2) under a timeout far longer than the test
HANGING_ENGINE = """
import sys
import numpy as np
from loopengine.execution.chunks import FaultLog
from loopengine.execution.isolation import IsolatedRunner
from loopengine.kernels.resolve import resolve_kernel

kernel = resolve_kernel(sys.argv[1], None)
runner = IsolatedRunner(600.0, 0, FaultLog())
print(runner._ready(kernel).process.pid, flush=True)
runner.run(kernel, np.zeros((4, 28), dtype=np.uint8), None, 1, 1, 4, {"mode": 2})
"""


def ended(pid: int) -> bool:
    """Gone, or a zombie waiting for whoever adopted it to reap it (dead either way)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def in_kernel(pid: int) -> bool:
    """The worker's main thread sleeps in the hanging kernel (an idle worker waits in a read)."""
    try:
        return "nanosleep" in Path(f"/proc/{pid}/wchan").read_text()
    except OSError:
        return False


def wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def kill_engine_then_expect_worker_gone(engine: subprocess.Popen, worker: int, within: float) -> None:
    try:
        assert not ended(worker)
        engine.kill()
        assert engine.wait() == -signal.SIGKILL
        assert wait_for(lambda: ended(worker), within), f"worker {worker} outlived its engine"
    finally:
        engine.kill()
        if not ended(worker):
            os.kill(worker, signal.SIGKILL)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads /proc")
def test_worker_dies_with_an_engine_killed_while_a_kernel_hangs():
    engine = subprocess.Popen([sys.executable, "-c", HANGING_ENGINE, str(MISBEHAVE)], stdout=subprocess.PIPE, text=True)
    worker = int(engine.stdout.readline())
    # the kill must land while the kernel runs: an idle worker would end anyway, on its closed pipe
    wait_for(lambda: in_kernel(worker), 5.0)
    kill_engine_then_expect_worker_gone(engine, worker, within=5.0)


# A process whose child runs only the portable fallback, the parent watchdog (no PDEATHSIG)
WATCHED_CHILD = """
import subprocess, sys
# the parent's pid is read before 'watching' is printed: read after, a parent killed in between
# would already be PID 1's, and the watchdog would wait for a parent that is long gone
child = subprocess.Popen([sys.executable, "-c", "import os; from loopengine.execution.isolation import "
                          "_watch_parent; parent = os.getppid(); print('watching', flush=True); "
                          "_watch_parent(parent)"])
print(child.pid, flush=True)  # then the child's own line, on the same stdout
child.wait()
"""


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads /proc")
def test_parent_watchdog_ends_its_process_when_the_parent_dies():
    parent = subprocess.Popen([sys.executable, "-c", WATCHED_CHILD], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    assert parent.stdout.readline() == "watching\n"
    kill_engine_then_expect_worker_gone(parent, child, within=5.0)

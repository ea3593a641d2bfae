"""The Ray backend on a local two-CPU Ray instance: the archive is the same as with the local
backend, a worker killed mid-chunk costs a retry and nothing else, a chunk that overruns
execution.timeout_s is cut off and recorded, and a missing Ray is a clear config error."""
import json
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from typer.testing import CliRunner

from loopengine.cli import app
from loopengine.config import ExecutionSettings
from loopengine.errors import ConfigError, KernelError
from loopengine.execution.local import LocalExecutor
from loopengine.kernels.resolve import Kernel
from loopengine.rundir.archive import complete_generations

if os.environ.get("CI"):
    import ray  # CI installs the test extra, Ray included: a failed import there is a failure, not a skip
else:
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[test]' brings it)")
from loopengine.execution.ray import RayExecutor  # noqa: E402

runner = CliRunner()


@pytest.fixture(scope="module")
def cluster(shared_kernel_cache):
    # Ray workers inherit this environment: one kernel cache, and quick -O0 builds, for the
    # driver and its workers alike
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LOOPENGINE_CACHE", str(shared_kernel_cache))
        mp.setenv("CXXFLAGS", "-O0")
        # "local": a private instance, whatever RAY_ADDRESS or a cluster on this machine says
        ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="warning")
        yield
        ray.shutdown()


# ---- test kernels (sent to the workers by value: this file is not installed there) -------
def bump(objects, prompts, seed, threads, marker=None):
    """Seeded, so a retried chunk must use the same chunk seed to give the same rows.
    The first call that finds the marker file deletes it and kills its own worker."""
    if marker is not None:
        try:
            os.remove(marker)
        except FileNotFoundError:
            pass
        else:
            os.kill(os.getpid(), signal.SIGKILL)
    noise = np.random.default_rng(seed).integers(1, 5, size=objects.shape)
    return objects + noise.astype(objects.dtype)


def nap(objects, prompts, seed, threads, seconds=0.0):
    """Hangs on the chunk holding a row that starts with 7."""
    if (objects[:, 0] == 7).any():
        time.sleep(seconds)
    return objects + 1


def settings(**kw) -> ExecutionSettings:
    return ExecutionSettings(**{"backend": "ray", "threads": 1, "chunk_size": 10, **kw})


def run_cli(task, out, *extra):
    result = runner.invoke(app, ["run", str(task), "--out", str(out), "--quiet", "--generations", "2", *extra])
    assert result.exit_code == 0, result.output
    return out / "tiny-3"


@pytest.mark.slow
def test_same_archive_as_local_backend(cluster, tiny_task, tmp_path):
    # unconstrained samples: constrained ones are already maximal, and the search would leave them as sampled
    raw = ("--set", "problem.constrained_decoding=false")
    local = run_cli(tiny_task, tmp_path / "local", *raw)
    remote = run_cli(tiny_task, tmp_path / "ray", "--set", "execution.backend=ray", *raw)
    gens = complete_generations(local)
    assert gens == complete_generations(remote) == [0, 1]
    for g in gens:
        a = pq.read_table(local / f"gen_{g:04d}" / "candidates.parquet")
        b = pq.read_table(remote / f"gen_{g:04d}" / "candidates.parquet")
        assert len(a) > 0, f"generation {g} is empty"
        assert a.equals(b), f"generation {g} differs between backends"
        metrics = json.loads((remote / f"gen_{g:04d}" / "metrics.json").read_text())
        assert metrics["execution_events"] == []
    # local search really ran on the workers' side of the run (searched rows exist)
    origins = pq.read_table(remote / "gen_0001" / "candidates.parquet")["origin"].to_pylist()
    assert any(o.endswith("+search") for o in origins)
    wa = torch.load(local / "gen_0001" / "model.pt", weights_only=True)["model"]
    wb = torch.load(remote / "gen_0001" / "model.pt", weights_only=True)["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.mark.slow
def test_killed_worker_is_retried_without_loss_or_duplicates(cluster, tmp_path):
    marker = tmp_path / "die-once"
    marker.touch()
    objects = np.arange(45 * 3, dtype=np.int64).reshape(45, 3)
    kernel = Kernel("bump", bump)
    ex = RayExecutor(settings(retries=1))
    try:
        with pytest.warns(RuntimeWarning, match="retry of chunk"):
            out = ex.run(kernel, objects, None, 11, {"marker": str(marker)})
        events = ex.take_events()
        assert not marker.exists()
        assert [e["event"] for e in events] == ["retry"]
        assert events[0]["attempt"] == 1
        # exactly the rows the in-process backend computes, each once, in place
        expected = LocalExecutor(settings(backend="local")).run(kernel, objects, None, 11, {})
        assert np.array_equal(out, expected)
        # the replacement worker carries on
        assert np.array_equal(ex.run(kernel, objects, None, 11, {}), expected)
        assert ex.take_events() == []
    finally:
        ex.close()


@pytest.mark.slow
def test_worker_that_keeps_dying_stops_the_run(cluster, tmp_path):
    marker = tmp_path / "die-once"
    marker.touch()
    ex = RayExecutor(settings(retries=0))
    try:
        with pytest.raises(KernelError, match="execution.retries = 0"):
            ex.run(Kernel("bump", bump), np.zeros((20, 2), dtype=np.int64), None, 1, {"marker": str(marker)})
    finally:
        ex.close()


@pytest.mark.slow
def test_timeout_is_cut_off_and_recorded(cluster):
    objects = np.zeros((40, 2), dtype=np.int64)
    objects[25, 0] = 7  # chunk 2 (rows 20-30) hangs
    ex = RayExecutor(settings(timeout_s=2.0))
    try:
        start = time.monotonic()
        with pytest.warns(RuntimeWarning, match="timeout of chunk 2"):
            out = ex.run(Kernel("nap", nap), objects, None, 0, {"seconds": 120.0})
        assert time.monotonic() - start < 20  # not waited on
        assert np.array_equal(out[20:30], objects[20:30])  # the timed-out chunk: input unchanged
        rest = np.r_[0:20, 30:40]
        assert np.array_equal(out[rest], objects[rest] + 1)
        events = ex.take_events()
        assert len(events) == 1
        assert events[0]["event"] == "timeout"
        assert events[0]["rows"] == [20, 30]
    finally:
        ex.close()


@pytest.mark.slow
def test_hanging_cpp_kernel_on_ray_from_the_cli(cluster, tiny_task, tmp_path):
    """A user C++ kernel runs on the Ray workers (its arrays arrive there deserialized, with
    dtype objects of their own) and one that never returns is cut off and recorded."""
    misbehave = Path(__file__).resolve().parent / "kernels" / "misbehave.cpp"
    with pytest.warns(RuntimeWarning, match="timeout of chunk 0"):
        run_dir = run_cli(tiny_task, tmp_path, "--set", "execution.backend=ray", "--set", "execution.timeout_s=2",
                          "--set", f"kernel.local_search={str(misbehave)!r}",
                          "--set", "kernel.elite_params={ mode = 2 }")  # elites re-enter from generation 1 on
    m0 = json.loads((run_dir / "gen_0000" / "metrics.json").read_text())
    m1 = json.loads((run_dir / "gen_0001" / "metrics.json").read_text())
    assert m0["execution_events"] == []  # mode 0 ran on the workers without a dtype complaint
    # the elite source's batch: an equal third of generation 1's 24 starts (sources.py)
    assert [(e["event"], e["kernel"], e["rows"]) for e in m1["execution_events"]] == [
        ("timeout", "misbehave.cpp", [0, 8])]


@pytest.mark.slow
def test_workers_with_another_build_are_refused(cluster):
    ex = RayExecutor(settings(), workers=1)
    try:
        ex.fingerprint = "loopengine 0.0, _core 0000"  # as if the driver had another build
        with pytest.raises(KernelError, match="install the same loopengine build on every node"):
            ex.await_ready([ex.slots[0].actor])
    finally:
        ex.close()


def test_missing_ray_is_a_config_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` fail
    from loopengine.execution import make_executor

    with pytest.raises(ConfigError) as err:
        make_executor(settings())
    assert err.value.key == "execution.backend"
    assert "pip install 'loopengine[ray]'" in str(err.value)

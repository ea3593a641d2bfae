"""The Ray backend: the same chunks with the same seeds as LocalExecutor, run by a pool of
long-lived Ray actors spread over a cluster.

Only `[execution] backend = "ray"` imports this module, so the engine never needs Ray
otherwise. What stays the same as the local backend, and why:

- Chunking and per-chunk seeds come from loopengine.execution.chunks, and a chunk's result is
  written back at its own row range, so the output (and therefore the archive) does not
  depend on which worker ran which chunk, in what order, or how often it was retried.
- Workers are actors, not tasks: each one imports the compiled kernels once and keeps every
  kernel it has been sent, so a chunk costs one round trip plus its rows, never a worker
  start or a kernel re-import.

Faults (execution.retries, execution.timeout_s) follow the policy in loopengine.execution.chunks,
the same as for user kernels on the local backend: a worker that dies mid-chunk (killed,
out of memory, node lost) is replaced and the chunk sent again, up to `retries` times; a
chunk still running `timeout_s` after it started is cut off by killing its worker (a C++
kernel holding no GIL cannot be interrupted any other way) and yields its input rows
unchanged; both are recorded in the generation's metrics.json ("execution_events").

Verification (Problem.evaluate) stays on the driver: problems may keep state across
evaluate calls that finalize() needs (the Lyapunov problem remembers its best candidates),
and that state would be lost on remote workers.
"""
from __future__ import annotations

import hashlib
import inspect
import os
import site
import sysconfig
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from loopengine.config import ExecutionSettings
from loopengine.errors import ConfigError, KernelError
from loopengine.execution.chunks import FaultLog, chunk_seed, chunks, crash_error
from loopengine.kernels.resolve import Kernel

# Chunks queued per worker: the second hides the round trip between two chunks, more would
# only make the timeout of a queued chunk harder to reason about.
QUEUE_DEPTH = 2
# How long a new worker may take to start. Not execution.timeout_s, which bounds a kernel
# call and may be much shorter than a process start on a busy node.
STARTUP_TIMEOUT_S = 120.0


def import_ray():
    try:
        import ray
    except ImportError:
        raise ConfigError(None, "execution.backend",
                          "backend = \"ray\" needs Ray, which is not installed: "
                          "pip install 'loopengine[ray]'") from None
    return ray


def build_fingerprint() -> str:
    """The engine version and a digest of the compiled kernels. Workers must match the driver:
    another build of a kernel may search differently, and the archive would then depend on
    which node ran which chunk."""
    import loopengine
    from loopengine import _core

    with open(_core.__file__, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:16]
    return f"loopengine {loopengine.__version__}, _core {digest}"


class KernelWorker:
    """Body of one Ray actor. Kernels arrive once per worker (as an object reference wrapped
    in a list, so Ray does not resolve it on every call) and stay loaded."""

    def __init__(self) -> None:
        import loopengine._core  # noqa: F401  (load the compiled kernels once, up front)

        self.kernels: dict[str, Kernel] = {}

    def ready(self) -> tuple[str, str]:
        import socket

        return socket.gethostname(), build_fingerprint()

    def run(self, key: str, packed: list, objects: np.ndarray, prompts: np.ndarray | None, seed: int,
            threads: int, params: dict[str, Any]) -> np.ndarray:
        kernel = self.kernels.get(key)
        if kernel is None:
            import ray

            kernel = self.kernels[key] = ray.get(packed[0])
        return kernel(objects, prompts, seed, threads, params)


def installed(module) -> bool:
    """Whether workers can import `module` by name: the engine itself (it must be installed
    on every node) and anything under site-packages or the standard library."""
    if module.__name__.split(".")[0] == "loopengine":
        return True
    path = getattr(module, "__file__", None)
    if path is None:
        return True  # built into the interpreter
    roots = [*site.getsitepackages(), site.getusersitepackages(), sysconfig.get_paths()["stdlib"]]
    path = os.path.realpath(path)
    return any(path.startswith(os.path.realpath(r) + os.sep) for r in roots if r)


@dataclass
class Running:
    """One chunk sent to a worker. `started` is set when it reaches the head of its
    worker's queue, which is when it begins to run."""

    chunk: int
    ref: Any
    started: float | None = None


@dataclass
class Slot:
    actor: Any
    queue: deque = field(default_factory=deque)


class RayExecutor:
    def __init__(self, settings: ExecutionSettings, workers: int | None = None) -> None:
        self.ray = ray = import_ray()
        self.settings = settings
        # driver-side work (verification) may use every local core; a worker's kernel
        # runs with `threads` threads (0 = 1: parallelism comes from having more workers)
        self.threads = settings.threads or os.cpu_count() or 1
        self.worker_threads = settings.threads or 1
        self.log = FaultLog()
        self.fingerprint = build_fingerprint()
        self.owns_ray = not ray.is_initialized()
        if self.owns_ray:
            self.connect(settings.address)
        if workers is None:
            workers = max(1, int(ray.cluster_resources().get("CPU", 1)) // self.worker_threads)
        self.actor_class = ray.remote(num_cpus=self.worker_threads, num_gpus=0, max_restarts=0,
                                      max_task_retries=0)(KernelWorker)
        self.slots = [Slot(self.actor_class.remote()) for _ in range(workers)]
        try:
            # start every worker now, so no chunk's timeout includes a process start
            self.await_ready([s.actor for s in self.slots])
        except BaseException:
            self.close()
            raise
        self.shipped: dict[int, tuple[Kernel, str, list]] = {}

    def connect(self, address: str | None) -> None:
        try:
            # no address = a private instance, even when RAY_ADDRESS is set or another
            # cluster runs on this machine (Ray itself would join that one)
            self.ray.init(address=address or "local", include_dashboard=False, logging_level="warning",
                          log_to_driver=True)
        except ConnectionError as exc:
            raise ConfigError(None, "execution.address",
                              f"cannot reach a Ray cluster at {address!r} ({exc}); start one with "
                              "`ray start --head` (see docs/ray.md) or leave address unset for a local "
                              "instance") from None

    # ---- kernels --------------------------------------------------------------------------
    def ship(self, kernel: Kernel) -> tuple[str, list]:
        """Put the kernel in the object store once; workers fetch it on first use."""
        known = self.shipped.get(id(kernel))
        if known is not None:
            return known[1], known[2]
        module = inspect.getmodule(kernel.fn)
        if module is not None and module.__name__ != "__main__" and not installed(module):
            # a prototype kernel in the user's own file: send its code along, since the
            # file may not exist on other machines
            self.ray.cloudpickle.register_pickle_by_value(module)
        try:
            ref = self.ray.put(kernel)
        except Exception as exc:
            raise KernelError(f"kernel {kernel.name!r} cannot be sent to Ray workers "
                              f"({type(exc).__name__}: {exc})") from None
        key = f"{kernel.name}#{len(self.shipped)}"
        self.shipped[id(kernel)] = (kernel, key, [ref])  # holding the kernel keeps its id unique
        return key, [ref]

    # ---- faults ---------------------------------------------------------------------------
    def take_events(self) -> list[dict[str, Any]]:
        return self.log.take_events()

    def await_ready(self, actors: list) -> None:
        try:
            answers = self.ray.get([a.ready.remote() for a in actors], timeout=STARTUP_TIMEOUT_S)
        except self.ray.exceptions.GetTimeoutError:
            raise KernelError(f"Ray workers did not start within {STARTUP_TIMEOUT_S:.0f} s "
                              f"(each needs {self.worker_threads} free CPU; cluster: "
                              f"{self.ray.available_resources().get('CPU', 0)} CPU free)") from None
        for host, fingerprint in answers:
            if fingerprint != self.fingerprint:
                raise KernelError(f"the Ray worker on {host} runs {fingerprint}, this machine runs "
                                  f"{self.fingerprint}: install the same loopengine build on every node")

    def replace(self, slot: Slot) -> None:
        """A fresh worker in place of one that died or overran (killing a dead one is harmless)."""
        self.ray.kill(slot.actor, no_restart=True)
        slot.actor = self.actor_class.remote()
        self.await_ready([slot.actor])

    # ---- the batch ------------------------------------------------------------------------
    def run(self, kernel: Kernel, objects: np.ndarray, prompts: np.ndarray | None, seed: int,
            params: dict[str, Any]) -> np.ndarray:
        ray = self.ray
        lost = (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError,
                ray.exceptions.ObjectLostError)
        key, packed = self.ship(kernel)
        spans = chunks(len(objects), self.settings.chunk_size)
        out = np.empty_like(objects)
        todo = deque(range(len(spans)))
        attempts = [0] * len(spans)
        owner: dict[Any, Slot] = {}
        timeout = self.settings.timeout_s

        def submit(slot: Slot, i: int) -> None:
            a, b = spans[i]
            sub = None if prompts is None else prompts[a:b]
            ref = slot.actor.run.remote(key, packed, objects[a:b], sub, chunk_seed(seed, i),
                                        self.worker_threads, params)
            slot.queue.append(Running(i, ref))
            owner[ref] = slot

        def restart(slot: Slot) -> None:
            # chunks queued behind the running one never started: resend them as they are
            for job in reversed(slot.queue):
                owner.pop(job.ref, None)
                todo.appendleft(job.chunk)
            slot.queue.clear()
            self.replace(slot)

        while todo or owner:
            now = time.monotonic()
            for slot in self.slots:
                while todo and len(slot.queue) < QUEUE_DEPTH:
                    submit(slot, todo.popleft())
                if slot.queue and slot.queue[0].started is None:
                    slot.queue[0].started = now
            deadline = min(s.queue[0].started + timeout for s in self.slots if s.queue)
            ready, _ = ray.wait(list(owner), num_returns=1, timeout=max(0.0, deadline - time.monotonic()))
            for ref in ready:
                slot = owner.get(ref)
                if slot is None:
                    continue  # already resent with the rest of a lost worker's queue
                try:
                    rows = ray.get(ref)
                except lost as exc:
                    # a dead worker fails all its queued chunks; the one it was running pays
                    running = slot.queue[0]
                    a, b = spans[running.chunk]
                    attempts[running.chunk] += 1
                    restart(slot)
                    if attempts[running.chunk] > self.settings.retries:
                        raise crash_error(kernel.name, running.chunk, (a, b), attempts[running.chunk],
                                          self.settings.retries, f"Ray worker lost: {type(exc).__name__}") from None
                    self.log.record("retry", kernel.name, running.chunk, (a, b), attempt=attempts[running.chunk],
                                    error=type(exc).__name__)
                    continue
                except ray.exceptions.RayTaskError as exc:
                    raise KernelError(str(exc.cause) if exc.cause is not None else str(exc)) from None
                # Find the chunk by its reference, not by queue position: ray.wait may report
                # a worker's second chunk before its first (CI saw chunk 1's rows land at
                # chunk 0's range when the head was assumed).
                job = next(j for j in slot.queue if j.ref == ref)
                slot.queue.remove(job)
                del owner[ref]
                a, b = spans[job.chunk]
                out[a:b] = rows
            now = time.monotonic()
            for slot in self.slots:
                head = slot.queue[0] if slot.queue else None
                if head is None or head.started is None or now - head.started < timeout:
                    continue
                slot.queue.popleft()
                owner.pop(head.ref)
                a, b = spans[head.chunk]
                out[a:b] = objects[a:b]
                restart(slot)
                self.log.record("timeout", kernel.name, head.chunk, (a, b), timeout_s=timeout,
                                result="input rows unchanged")
        return out

    def close(self) -> None:
        for slot in self.slots:
            self.ray.kill(slot.actor, no_restart=True)
        self.slots = []
        if self.owns_ray:
            self.ray.shutdown()

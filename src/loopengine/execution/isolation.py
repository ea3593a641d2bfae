"""User kernels on the local backend run in a supervised worker process, so a kernel that
segfaults or never returns ends as a recorded event or a clear error, never as a dead or
hung run.

One worker process (started with 'spawn': a fresh interpreter that imports numpy and the
kernel, not torch or the engine's state) serves chunk after chunk, and keeps every kernel
it has loaded, so a chunk costs one round trip of its rows through a pipe. A chunk gets
execution.timeout_s; a kernel's first load gets STARTUP_TIMEOUT_S (a C++ kernel is
verified and loaded, a Python file imported) so that no chunk's time includes a process
start. Retries, timeouts and their records follow the policy in batches.py, the same as
on the Ray backend. A kernel that raises an exception is not a crash: its message stops
the run as it would in-process (exit code 2).

Only kernels with an `origin` (the user's own C++ files and Python functions) come here;
built-ins run in-process, where they cost nothing extra (benchmarks/plugin_overhead.py).

The worker dies with the engine: the timeout is enforced by the engine, so a worker left
behind by an engine killed with SIGKILL (or an OOM kill) while a kernel hangs would run
on for ever, re-parented to PID 1, holding the run's files and the kernel library open
(see _die_with_parent).
"""
from __future__ import annotations

import contextlib
import ctypes
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from typing import Any

import numpy as np

from loopengine.errors import KernelCrashed, KernelError
from loopengine.execution.chunks import FaultLog, chunk_seed, chunks, crash_error, signal_name
from loopengine.kernels.resolve import Kernel, load_user_kernel

# How long a worker may take to start and load a kernel (not execution.timeout_s, which
# bounds one kernel call and may be much shorter than a process start on a busy machine).
STARTUP_TIMEOUT_S = 120.0
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
PARENT_POLL_S = 1.0  # how often the fallback watchdog looks for its parent


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(PARENT_POLL_S)
    os._exit(1)  # ends the whole process, whatever its main thread is doing


def _die_with_parent(parent_pid: int) -> None:
    """Make this worker end when the engine process `parent_pid` does, however it ends.

    Primary, Linux: prctl(PR_SET_PDEATHSIG, SIGKILL) asks the kernel to SIGKILL us when our
    parent dies; that works whatever the worker is doing, even inside a C++ kernel. The
    fallback elsewhere is a thread that polls getppid(); it needs the GIL, which a C++ kernel
    built on loopengine/kernel.hpp releases, but which a Python kernel stuck inside some C
    call that keeps it would not, so it is only the fallback.

    The death signal is armed only now, after this interpreter started: had the parent died
    before that, we are already re-parented and no signal will ever come (the classic race),
    hence the getppid() check after arming it. PDEATHSIG follows the parent *thread* that
    started this process; Worker is started from the engine's main thread, which lives as
    long as the engine."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # no usable libc: the watchdog alone
            pass
    if os.getppid() != parent_pid:
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True,
                     name="loopengine-parent-watchdog").start()


def _serve(conn, parent_pid: int) -> None:
    """The worker's loop: load kernels and run chunks until told to stop."""
    _die_with_parent(parent_pid)
    # Ctrl-C reaches the whole process group: the engine handles it (and then stops this
    # worker), so the worker must not die of it with a traceback of its own
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    kernels: dict[tuple, Kernel] = {}
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return  # the engine went away
        if message is None:
            return
        kind, origin, *call = message
        try:
            kernel = kernels.get(origin)
            if kernel is None:
                kernel = kernels[origin] = load_user_kernel(origin, "kernel worker")
            reply = ("ok", kernel(*call) if kind == "run" else None)
        except Exception as exc:  # the kernel's own error: reported, the worker lives on
            reply = ("error", str(exc) if isinstance(exc, KernelError) else f"{type(exc).__name__}: {exc}")
        conn.send(reply)


class _Died(Exception):
    """The worker process ended (or had to be killed) while it held a request."""


class Worker:
    """One spawned process with a pipe to it."""

    def __init__(self) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(child, os.getpid()), daemon=True,
                                   name="loopengine-kernel-worker")
        self.process.start()
        child.close()
        self.loaded: set[tuple] = set()

    def request(self, message: tuple, timeout: float) -> Any:
        """The reply to `message`; None when it did not come within `timeout` (the worker is
        then killed); _Died when the process ended."""
        try:
            self.conn.send(message)
            if not self.conn.poll(timeout):
                self.kill()
                return None
            status, value = self.conn.recv()
        except (EOFError, OSError):
            self.process.join(5)
            raise _Died(signal_name(self.process.exitcode)) from None
        if status == "error":
            raise KernelError(value)
        return ("ok", value)

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.conn.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):  # the worker may already be gone
            self.conn.send(None)
        self.process.join(2)
        self.kill()


class IsolatedRunner:
    """Runs a user kernel's chunks in a worker process, replacing the worker when it dies
    or overruns; faults go to `log` (shared with the executor)."""

    def __init__(self, timeout_s: float, retries: int, log: FaultLog) -> None:
        self.timeout_s, self.retries, self.log = timeout_s, retries, log
        self.worker: Worker | None = None

    def _ready(self, kernel: Kernel) -> Worker:
        if self.worker is None or not self.worker.process.is_alive():
            self.worker = Worker()
        if kernel.origin not in self.worker.loaded:
            try:
                reply = self.worker.request(("load", kernel.origin), STARTUP_TIMEOUT_S)
            except _Died as died:
                self.worker = None
                raise KernelCrashed(f"kernel {kernel.name!r} crashed its worker process ({died}) while "
                                    "loading") from None
            if reply is None:
                self.worker = None
                raise KernelError(f"kernel {kernel.name!r}: its worker process did not start and load it "
                                  f"within {STARTUP_TIMEOUT_S:.0f} s")
            self.worker.loaded.add(kernel.origin)
        return self.worker

    def run(self, kernel: Kernel, objects: np.ndarray, prompts: np.ndarray | None, seed: int,
            threads: int, chunk_size: int, params: dict[str, Any]) -> np.ndarray:
        out = np.empty_like(objects)
        for i, (a, b) in enumerate(chunks(len(objects), chunk_size)):
            sub = None if prompts is None else prompts[a:b]
            message = ("run", kernel.origin, objects[a:b], sub, chunk_seed(seed, i), threads, params)
            attempts = 0
            while True:
                worker = self._ready(kernel)
                started = time.monotonic()
                try:
                    reply = worker.request(message, self.timeout_s)
                except _Died as died:
                    self.worker = None
                    attempts += 1
                    if attempts > self.retries:
                        raise crash_error(kernel.name, i, (a, b), attempts, self.retries, str(died)) from None
                    self.log.record("retry", kernel.name, i, (a, b), attempt=attempts, error=str(died))
                    continue
                break
            if reply is None:
                self.worker = None
                out[a:b] = objects[a:b]
                self.log.record("timeout", kernel.name, i, (a, b), timeout_s=self.timeout_s,
                                waited_s=round(time.monotonic() - started, 3), result="input rows unchanged")
            else:
                out[a:b] = reply[1]
        return out

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()
            self.worker = None

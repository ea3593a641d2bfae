"""What every execution backend shares: how a batch is cut into chunks with fixed seeds,
and how faults are recorded.

The batch is always cut into the same chunks with the same per-chunk seeds, so a run's
archive does not depend on the backend, the core count, or which worker ran which chunk.

Fault policy (execution.retries, execution.timeout_s), the same on every backend:
- a chunk whose worker dies (segfault, killed, out of memory) is sent again to a fresh
  worker, up to `retries` times; its seed is fixed, so a retry returns exactly what the
  first attempt would have. One more death stops the run with KernelCrashed.
- a chunk still running `timeout_s` after it started is cut off by killing its worker and
  yields its input rows unchanged: the row count and the prompt <-> object alignment stay
  intact, the rows are still verified on the driver (nothing unverified is ever marked
  valid), and they keep their source's origin without "+search".
Each retry and timeout is a warning and an entry in the executor's events, which the loop
writes to the generation's metrics.json as "execution_events" (a timeout makes the run
depend on wall time, and the record says so).
"""
from __future__ import annotations

import signal
import warnings
from typing import Any

import numpy as np

from loopengine.errors import KernelCrashed


def chunk_seed(seed: int, chunk: int) -> int:
    return int(np.random.SeedSequence([seed, chunk]).generate_state(1, np.uint64)[0] >> 1)


def chunks(rows: int, size: int) -> list[tuple[int, int]]:
    return [(s, min(s + size, rows)) for s in range(0, rows, size)]


def signal_name(exitcode: int | None) -> str:
    """How a worker process ended, for a message ("SIGSEGV", "exit code 3")."""
    if exitcode is not None and exitcode < 0:
        try:
            return signal.Signals(-exitcode).name
        except ValueError:
            return f"signal {-exitcode}"
    return "an unknown cause" if exitcode is None else f"exit code {exitcode}"


def crash_error(kernel_name: str, chunk: int, rows: tuple[int, int], attempts: int, retries: int,
                cause: str) -> KernelCrashed:
    return KernelCrashed(f"kernel {kernel_name!r} crashed its worker ({cause}) on chunk {chunk} (rows "
                         f"{rows[0]}-{rows[1]}) {attempts} time{'s' if attempts > 1 else ''} "
                         f"(execution.retries = {retries}); finished generations are kept")


class FaultLog:
    """Retries and timeouts since the loop last asked, for the generation's metrics."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def record(self, kind: str, kernel_name: str, chunk: int, rows: tuple[int, int], **info) -> None:
        self.events.append({"event": kind, "kernel": kernel_name, "chunk": chunk, "rows": list(rows), **info})
        warnings.warn(f"execution: {kind} of chunk {chunk} (rows {rows[0]}-{rows[1]}) of kernel "
                      f"{kernel_name!r}: {info}", RuntimeWarning, stacklevel=3)

    def take_events(self) -> list[dict[str, Any]]:
        events, self.events = self.events, []
        return events

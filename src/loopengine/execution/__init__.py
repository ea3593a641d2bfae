"""Where kernel batches run. Every backend cuts a batch into the same fixed chunks with the same
per-chunk seeds (chunks.py), so a run's archive depends neither on the backend nor on the core
count. The loop talks to a backend only through `Executor`."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from loopengine.config import ExecutionSettings
    from loopengine.kernels.resolve import Kernel


class Executor(Protocol):
    """What the loop needs from a backend: run a kernel over a batch, report faults, close."""

    threads: int  # cores a kernel call may use (also the verifier's thread count)

    def run(self, kernel: Kernel, objects: np.ndarray, prompts: np.ndarray | None, seed: int,
            params: dict[str, Any]) -> np.ndarray: ...

    def take_events(self) -> list[dict[str, Any]]:
        """Faults since the last call (retries, timeouts), for the generation's metrics."""
        ...

    def close(self) -> None: ...


def make_executor(settings: ExecutionSettings) -> Executor:
    """The backend a task's `[execution]` table names (Ray is imported only when asked for)."""
    if settings.backend == "ray":
        from loopengine.execution.ray import RayExecutor

        return RayExecutor(settings)
    from loopengine.execution.local import LocalExecutor

    return LocalExecutor(settings)

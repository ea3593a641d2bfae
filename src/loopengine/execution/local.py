"""The local backend: kernel batches on this machine. Chunks, seeds and the fault policy are shared
by every backend (chunks.py), so a run's archive does not depend on the backend or the core count."""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from loopengine.config import ExecutionSettings
from loopengine.execution.chunks import FaultLog, chunk_seed, chunks
from loopengine.kernels.resolve import Kernel


class LocalExecutor:
    """On this machine. Built-in kernels run in-process: chunks one after another, each using
    every core inside the GIL-free C++ kernel (threads over rows), which keeps both cores busy
    without Python threads. A user's kernel runs the same chunks in a supervised worker
    process (isolation.py), where execution.timeout_s and execution.retries apply."""

    def __init__(self, settings: ExecutionSettings) -> None:
        self.settings = settings
        self.threads = settings.threads or os.cpu_count() or 1
        self.log = FaultLog()
        self.isolated = None  # started on the first user-kernel batch

    def run(self, kernel: Kernel, objects: np.ndarray, prompts: np.ndarray | None, seed: int,
            params: dict[str, Any]) -> np.ndarray:
        if kernel.user_code:
            if self.isolated is None:
                from loopengine.execution.isolation import IsolatedRunner

                self.isolated = IsolatedRunner(self.settings.timeout_s, self.settings.retries, self.log)
            return self.isolated.run(kernel, objects, prompts, seed, self.threads, self.settings.chunk_size, params)
        out = np.empty_like(objects)
        for i, (a, b) in enumerate(chunks(len(objects), self.settings.chunk_size)):
            sub_prompts = None if prompts is None else prompts[a:b]
            out[a:b] = kernel(objects[a:b], sub_prompts, chunk_seed(seed, i), self.threads, params)
        return out

    def take_events(self) -> list[dict[str, Any]]:
        """Faults since the last call (retries, timeouts), for the generation's metrics."""
        return self.log.take_events()

    def close(self) -> None:
        if self.isolated is not None:
            self.isolated.close()
            self.isolated = None


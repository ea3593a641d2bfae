"""Where kernel batches run. The batch is always cut into the same chunks with the same
per-chunk seeds, so a run's archive does not depend on the backend or the core count."""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from loopengine.config import ExecutionSettings
from loopengine.kernels import Kernel


def chunk_seed(seed: int, chunk: int) -> int:
    return int(np.random.SeedSequence([seed, chunk]).generate_state(1, np.uint64)[0] >> 1)


def chunks(rows: int, size: int) -> list[tuple[int, int]]:
    return [(s, min(s + size, rows)) for s in range(0, rows, size)]


class LocalExecutor:
    """In-process: chunks run one after another, each using every core inside the GIL-free
    C++ kernel (threads over rows), which keeps both cores busy without Python threads."""

    def __init__(self, settings: ExecutionSettings) -> None:
        self.settings = settings
        self.threads = settings.threads or os.cpu_count() or 1
        # in-process kernels cannot be cut off or retried, so nothing ever happens to record
        # (timeout_s and retries apply to the Ray backend, see ray_backend.py)
        self.events: list[dict[str, Any]] = []

    def run(self, kernel: Kernel, objects: np.ndarray, prompts: np.ndarray | None, seed: int,
            params: dict[str, Any]) -> np.ndarray:
        out = np.empty_like(objects)
        for i, (a, b) in enumerate(chunks(len(objects), self.settings.chunk_size)):
            sub_prompts = None if prompts is None else prompts[a:b]
            out[a:b] = kernel(objects[a:b], sub_prompts, chunk_seed(seed, i), self.threads, params)
        return out

    def take_events(self) -> list[dict[str, Any]]:
        """Faults since the last call (retries, timeouts), for the generation's metrics."""
        events, self.events = self.events, []
        return events

    def close(self) -> None:
        pass


def make_executor(settings: ExecutionSettings):
    if settings.backend == "ray":
        from loopengine.ray_backend import RayExecutor

        return RayExecutor(settings)
    return LocalExecutor(settings)

"""The engine's error types. Each one is caught by the CLI and printed as one line (exit 2),
so a user never sees a traceback for a mistake in their own files or run directories."""
from __future__ import annotations

from pathlib import Path


class ConfigError(Exception):
    """A mistake in a task file or command line: names the file, the key and what was expected."""

    def __init__(self, file: str | Path | None, key: str | None, expected: str) -> None:
        self.file, self.key, self.expected = file, key, expected
        where = ": ".join(str(p) for p in (file, key) if p)
        super().__init__(f"{where}: {expected}" if where else expected)


class ArchiveError(Exception):
    """A run directory that cannot be read or continued; the message says why."""


class KernelError(RuntimeError):
    """A kernel failed or broke its contract; the message names the kernel."""


class KernelCrashed(KernelError):
    """A kernel killed the process running it (a segfault, abort...) more often than
    execution.retries allows. The CLI prints one line and exits with code 1: a bug in the
    kernel, not a mistake in the task file."""

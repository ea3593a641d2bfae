"""The Python API, for notebooks and scripts: start a run and read one without the shell.

    import loopengine
    run = loopengine.run("tasks/lyapunov.toml", generations=1, problem={"certify_seconds": 30})
    run.headline        # '11/14 targets proven (11 GAS, 0 stable, 3 rejected) in 96 s'
    run.results         # one row per target: name, system, V, status, certificate
    run.generations     # one row per generation (metrics.json, nested keys as "timings.total")
    run.candidates      # every archived candidate of every generation
    loopengine.open_run("runs/lyapunov-0")   # the same view of a finished (or running) run

Everything is read from the run directory (docs/archive.md), as `loopengine show` reads it.
"""
from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from loopengine.inspection import runs

TASK_KEYS = ("generations", "seed", "out", "name")  # run(task, seed=3) means task.seed = 3


class RunView:
    """A run directory as pandas tables and plain data."""

    def __init__(self, path: Path | str) -> None:
        self._run = runs.open_run(path)

    def __repr__(self) -> str:
        return f"<loopengine run {self.path} ({self.problem}, {len(self._run.generations)} generations): " \
               f"{self.headline or 'no headline yet'}>"

    @property
    def path(self) -> Path:
        return self._run.path

    @property
    def problem(self) -> str:
        return self._run.problem

    @property
    def task(self) -> dict[str, Any]:
        """The settings the run used (its task.toml, after overrides)."""
        return self._run.task

    @property
    def summary(self) -> dict[str, Any] | None:
        """summary.json (None until the run has finished)."""
        return self._run.summary

    @property
    def headline(self) -> str | None:
        return self._run.headline

    @property
    def warnings(self) -> list[str]:
        return list(self._run.warnings)

    @cached_property
    def generations(self) -> pd.DataFrame:
        """One row per complete generation, indexed by generation; nested metrics flattened
        ("timings.total", "model.accuracy"); per-step losses as a list in "train_losses"."""
        frame = pd.json_normalize(self._run.metrics)
        frame.index = frame["generation"].to_numpy()  # unnamed: "generation" stays an unambiguous column
        return frame

    @cached_property
    def candidates(self) -> pd.DataFrame:
        """Every archived candidate of every complete generation (column "generation" says which)."""
        return pd.concat([self._run.candidates(g) for g in self._run.generations], ignore_index=True)

    def candidates_of(self, generation: int) -> pd.DataFrame:
        return self._run.candidates(generation)

    def best(self, k: int = 10) -> pd.DataFrame:
        """The k best distinct candidates over the run, verified ones first."""
        return runs.best_over_run(self._run, k)

    @property
    def results(self) -> pd.DataFrame | None:
        """Per-target results (a problem that judges targets one by one), else None."""
        found = self._run.results
        return None if found is None else pd.DataFrame(found)


def open_run(path: Path | str) -> RunView:
    """Read a run directory (finished or not); ArchiveError says what is wrong with it."""
    return RunView(path)


def run(task: Path | str, quiet: bool = True, **overrides: Any) -> RunView:
    """Run a task file to the end and return its view. Keyword overrides: `generations`,
    `seed`, `out`, `name` set the [task] keys; a section given as a dict sets its keys
    (`loop={"initial_pool": 100}`); `section__key=value` does the same for one key."""
    from loopengine.session import start_run

    run_dir, _ = start_run(Path(task), override_strings(overrides), quiet=quiet)
    return RunView(run_dir)


def override_strings(overrides: dict[str, Any]) -> list[str]:
    """Keyword overrides as the CLI's --set strings ("section.key=<TOML value>")."""
    out = []
    for key, value in overrides.items():
        if key in TASK_KEYS:
            out.append(f"task.{key}={toml_value(value)}")
        elif isinstance(value, dict):
            out += [f"{key}.{k}={toml_value(v)}" for k, v in value.items()]
        elif "__" in key:
            out.append(f"{key.replace('__', '.')}={toml_value(value)}")
        else:
            raise TypeError(f"run(): unknown override {key}={value!r}; use one of {', '.join(TASK_KEYS)}, "
                            "a section as a dict (loop={'initial_pool': 100}) or section__key=value")
    return out


def toml_value(value: Any) -> str:
    import tomli_w

    if isinstance(value, Path):
        value = str(value)
    return tomli_w.dumps({"v": value}).strip()[len("v = "):]

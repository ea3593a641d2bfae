"""Reading a run directory for inspection: check it once, say clearly what is wrong.

A generation counts when its directory was renamed into place (so the loop finished it) and
holds a readable metrics.json and candidates.parquet. model.pt is not needed to inspect a run
(users may delete checkpoints to save space); `resume` is the only reader that needs it.
Half-written generations (`.gen_0003.tmp-123`) and damaged ones are skipped with a warning,
so an interrupted or partly broken run is still shown up to what is complete.
"""
from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from loopengine.errors import ArchiveError
from loopengine.problems.base import default_headline
from loopengine.rundir import archive

# Columns every candidates.parquet has; anything else is a problem's human column.
ENGINE_COLUMNS = ("generation", "origin", "score", "valid", "object", "tokens", "prompt")
NEEDED_FILES = ("metrics.json", "candidates.parquet")


@dataclass
class Run:
    path: Path
    task: dict[str, Any]
    archive_format: int
    generations: list[int]
    metrics: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)
    summary: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return str(self.task.get("task", {}).get("name", self.path.name))

    @property
    def problem(self) -> str:
        return str(self.task.get("task", {}).get("problem", "?"))

    @property
    def last(self) -> dict[str, Any]:
        return self.metrics[-1]

    def metrics_of(self, g: int) -> dict[str, Any]:
        return self.metrics[self.index_of(g)]

    def index_of(self, g: int) -> int:
        if g not in self.generations:
            raise ArchiveError(self.missing_generation_message(g))
        return self.generations.index(g)

    def missing_generation_message(self, g: int) -> str:
        shown = _ranges(self.generations)
        if (self.path / archive.gen_name(g)).is_dir() or list(self.path.glob(f".{archive.gen_name(g)}.tmp-*")):
            return f"generation {g} of {self.path} is not complete; complete generations: {shown}"
        return f"{self.path} has no generation {g}; complete generations: {shown}"

    def candidates(self, g: int) -> pd.DataFrame:
        self.index_of(g)
        path = self.path / archive.gen_name(g) / "candidates.parquet"
        try:
            return pq.read_table(path).to_pandas()
        except Exception as exc:  # pyarrow raises several types for a damaged file
            raise ArchiveError(f"cannot read {path}: {exc}") from None

    def best_known(self) -> float | None:
        return self.last.get("best_known")

    @property
    def headline(self) -> str | None:
        """The problem's one-line verdict, written into summary.json when the run ended; for a
        run still going (or written before headlines), its best against the best known so far."""
        if self.summary and self.summary.get("headline"):
            return str(self.summary["headline"])
        line = default_headline({"best_ever": self.last.get("best_ever"), "best_known": self.last.get("best_known")})
        return None if line is None else f"{line} (after generation {self.generations[-1]}; not finished)"

    @property
    def results(self) -> list[dict[str, Any]] | None:
        """Per-target results when the problem judges targets one by one (summary.json)."""
        found = (self.summary or {}).get("results")
        return found if isinstance(found, list) else None


def human_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c not in ENGINE_COLUMNS]


def object_keys(frame: pd.DataFrame) -> list[bytes]:
    """Same object (and prompt, for conditional problems) -> same key; used for dedup."""
    objects = [np.asarray(o).tobytes() for o in frame["object"]]
    if "prompt" not in frame.columns:
        return objects
    return [np.asarray(p).tobytes() + b"|" + o for p, o in zip(frame["prompt"], objects)]


def top_candidates(frame: pd.DataFrame, k: int) -> pd.DataFrame:
    """The k best distinct candidates: verified ones first, then by score."""
    if frame.empty:
        return frame
    ranked = frame.assign(_key=object_keys(frame), _score=frame["score"].fillna(-np.inf))
    ranked = ranked.sort_values(["valid", "_score", "generation"], ascending=[False, False, True], kind="stable")
    ranked = ranked.drop_duplicates("_key")
    return ranked.drop(columns=["_key", "_score"]).head(k).reset_index(drop=True)


def best_over_run(run: Run, k: int) -> pd.DataFrame:
    """The k best distinct candidates over all complete generations (a generation's own top
    k suffices, so memory stays bounded by k rows per generation)."""
    parts = [top_candidates(run.candidates(g), k) for g in run.generations]
    parts = [p for p in parts if not p.empty]
    if not parts:
        return pd.DataFrame()
    return top_candidates(pd.concat(parts, ignore_index=True), k)


def open_run(run_dir: Path | str) -> Run:
    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise ArchiveError(f"{run_dir} does not exist (expected a run directory such as runs/c4free-0)")
    if not run_dir.is_dir():
        raise ArchiveError(f"{run_dir} is a file, not a run directory")
    info = archive.read_format(run_dir)
    try:
        task = tomllib.loads((run_dir / "task.toml").read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ArchiveError(f"{run_dir / 'task.toml'} is damaged: {exc}") from None

    warnings = [f"ignored half-written generation {p.name} (left by an interrupted run)"
                for p in sorted(run_dir.glob(".gen_*.tmp-*"))]
    generations, metrics = [], []
    for g in archive.complete_generations(run_dir):
        problem = _generation_problem(run_dir, g)
        if problem is None:
            generations.append(g)
            metrics.append(archive.read_metrics(run_dir, g))
        else:
            warnings.append(f"skipped {archive.gen_name(g)}: {problem}")
    if not generations:
        detail = f" ({'; '.join(warnings)})" if warnings else ""
        raise ArchiveError(f"{run_dir} has no complete generation yet{detail}")
    return Run(path=run_dir, task=task, archive_format=info["archive_format"], generations=generations,
               metrics=metrics, warnings=warnings, summary=_read_summary(run_dir, warnings))


def _generation_problem(run_dir: Path, g: int) -> str | None:
    folder = run_dir / archive.gen_name(g)
    missing = [name for name in NEEDED_FILES if not (folder / name).is_file()]
    if missing:
        return f"missing {', '.join(missing)}"
    try:
        metrics = archive.read_metrics(run_dir, g)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return f"metrics.json is damaged ({exc})"
    if not isinstance(metrics, dict) or metrics.get("generation") != g:
        return "metrics.json does not describe this generation"
    return None


def _read_summary(run_dir: Path, warnings: list[str]) -> dict[str, Any] | None:
    path = run_dir / "summary.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        warnings.append("summary.json is damaged; ignored")
        return None


def _ranges(values: list[int]) -> str:
    """[0, 1, 2, 5] -> '0-2, 5'."""
    out, start = [], None
    for i, v in enumerate(values):
        if start is None:
            start = v
        if i + 1 == len(values) or values[i + 1] != v + 1:
            out.append(str(start) if start == v else f"{start}-{v}")
            start = None
    return ", ".join(out) or "none"

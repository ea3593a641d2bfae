"""The run directory users inspect, written so that an interruption never leaves a
half-written generation: each generation is built under a temporary name and renamed into
place only when complete (rename is atomic on one filesystem).

runs/<task>-<seed>/
  task.toml                  the exact settings the run used (after --set overrides)
  gen_0000/candidates.parquet
  gen_0000/metrics.json
  gen_0000/model.pt          model + optimizer + RNG states + loop state (elites, seen keys)
  best.<suffix>              the best object so far in a human format
  summary.json               written after the last generation
"""
from __future__ import annotations

import json
import math
import os
import pickle
import re
import shutil
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import tomli_w
import torch

from loopengine.errors import ArchiveError
from loopengine.pool import Pool
from loopengine.problems.base import Problem

# 2: checkpoints are tensors + plain data (loopengine/checkpoint.py), loaded weights-only.
# Format 1 checkpoints were pickles of Python objects; their data files are still readable
# (READABLE_FORMATS) but they cannot be resumed, since that would mean unpickling them.
ARCHIVE_FORMAT = 2
READABLE_FORMATS = (1, 2)
GEN_RE = re.compile(r"^gen_(\d{4,})$")


def gen_name(g: int) -> str:
    return f"gen_{g:04d}"


def complete_generations(run_dir: Path) -> list[int]:
    """Generations whose directory was renamed into place (so is complete)."""
    if not run_dir.is_dir():
        return []
    gens = [int(m.group(1)) for p in run_dir.iterdir() if (m := GEN_RE.match(p.name)) and p.is_dir()]
    return sorted(gens)


def generation_damage(run_dir: Path, g: int, checkpoint: bool = True) -> str | None:
    """What is wrong with generation g's files, found cheaply: None when metrics.json is a JSON
    object, candidates.parquet has its footer and (with `checkpoint`) model.pt its zip directory,
    what a copy cut short loses first; else "<file> <what is wrong>". Reads no rows and loads
    no checkpoint. Without `checkpoint`, model.pt is not looked at (users delete old ones)."""
    gen = run_dir / gen_name(g)
    metrics, candidates, model = gen / "metrics.json", gen / "candidates.parquet", gen / "model.pt"
    for path in (metrics, candidates, *([model] if checkpoint else [])):
        if not path.is_file():
            return f"{path} is missing"
    try:
        value = json.loads(metrics.read_bytes())
    except (OSError, ValueError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        value = None
    if not isinstance(value, dict):
        return f"{metrics} is not a JSON object (damaged)"
    try:
        pq.read_metadata(candidates)
    except (OSError, ValueError, pa.ArrowException):
        return f"{candidates} is not a readable parquet file (truncated or damaged)"
    if checkpoint and not zipfile.is_zipfile(model):
        return f"{model} is not a readable checkpoint (truncated or damaged)"
    return None


def stray_generation_files(run_dir: Path) -> list[Path]:
    """Entries named like a generation that are not directories: a generation could never be
    renamed into place there (write_generation)."""
    return sorted(p for p in run_dir.iterdir() if GEN_RE.match(p.name) and not p.is_dir())


def refuse_stray_generation_files(run_dir: Path, command: str) -> None:
    """Checked before any generation is run, so that none is lost at its rename."""
    stray = stray_generation_files(run_dir)
    if stray:
        raise ArchiveError(f"{stray[0]} is a file where a generation directory belongs; move it out of "
                           f"{run_dir}, then {command} again")


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def clean_json(value: Any) -> Any:
    """NaN/inf are not JSON: write them as null. numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {str(k): clean_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_json(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: Path, data: Any) -> None:
    _atomic_write_bytes(path, (json.dumps(clean_json(data), indent=2) + "\n").encode())


def create_run(run_dir: Path, raw_task: dict[str, Any], task_dir: Path) -> None:
    if complete_generations(run_dir):
        raise ArchiveError(f"{run_dir} already holds a run; continue it with `loopengine resume {run_dir}` "
                           "or choose another --out / --seed")
    run_dir.mkdir(parents=True, exist_ok=True)
    refuse_stray_generation_files(run_dir, "run")
    _atomic_write_bytes(run_dir / "task.toml", tomli_w.dumps(raw_task).encode())
    # task_dir: relative paths in the task (problem files, kernels, data) resolve against it
    write_json(run_dir / "format.json", {"archive_format": ARCHIVE_FORMAT, "task_dir": str(task_dir.resolve())})


def read_format(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "format.json"
    if not (run_dir / "task.toml").is_file() or not path.is_file():
        raise ArchiveError(f"{run_dir} is not a loopengine run (no task.toml / format.json)")
    try:
        info = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ArchiveError(f"{path} is damaged: {exc}") from None
    if info.get("archive_format") not in READABLE_FORMATS:
        raise ArchiveError(f"{run_dir} was written in archive format {info.get('archive_format')!r}; "
                           f"this loopengine reads formats {', '.join(map(str, READABLE_FORMATS))}")
    return info


def check_resumable(run_dir: Path, info: dict[str, Any]) -> None:
    """Only the current format's checkpoints load without unpickling Python objects."""
    if info.get("archive_format") != ARCHIVE_FORMAT:
        raise ArchiveError(f"{run_dir} was written in archive format {info.get('archive_format')!r}, whose "
                           f"checkpoints are pickles that could run code when loaded; it can be shown and "
                           f"exported but not resumed (start it again with `loopengine run`)")


def _fixed_list(arr: np.ndarray) -> pa.Array:
    arr = np.ascontiguousarray(arr)
    if arr.ndim == 1:
        arr = arr[:, None]
    return pa.FixedSizeListArray.from_arrays(pa.array(arr.reshape(-1)), arr.shape[1])


def candidates_table(pool: Pool, problem: Problem, generation: int) -> pa.Table:
    n = len(pool)
    cols: dict[str, Any] = {
        "generation": pa.array(np.full(n, generation, dtype=np.int32)),
        "origin": pa.array([str(o) for o in pool.origin], type=pa.string()),
        "score": pa.array(np.asarray(pool.score, dtype=np.float64)),
        "valid": pa.array(np.asarray(pool.valid, dtype=bool)),
        "object": _fixed_list(pool.objects),
        "tokens": pa.array(problem.codec.encode(pool), type=pa.list_(pa.int32())),
    }
    if pool.prompts is not None:
        cols["prompt"] = _fixed_list(pool.prompts)
    for name, values in {**problem.human_columns(pool), **pool.extra}.items():
        cols.setdefault(name, pa.array(values))
    return pa.table(cols)


def write_generation(run_dir: Path, g: int, pool: Pool, problem: Problem, metrics: dict[str, Any],
                     checkpoint: dict[str, Any], best: tuple[str, str] | None) -> Path:
    """Write everything for generation g under a temporary name, then rename it into place.
    `best` = (suffix, text) of the best object so far, replaced atomically afterwards."""
    final = run_dir / gen_name(g)
    tmp = run_dir / f".{gen_name(g)}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    pq.write_table(candidates_table(pool, problem, g), tmp / "candidates.parquet")
    write_json(tmp / "metrics.json", metrics)
    torch.save(checkpoint, tmp / "model.pt")
    try:
        os.rename(tmp, final)
    except OSError as exc:  # `run` and `resume` check for a file in the way up front; this is the backstop
        # not kept: the next resume would delete it (remove_partial) and redoes the generation exactly
        shutil.rmtree(tmp, ignore_errors=True)
        raise ArchiveError(f"cannot write generation {g} to {final} ({exc.strerror}); move that away and "
                           f"`loopengine resume {run_dir}` to redo the generation") from None
    if best is not None:
        suffix, text = best
        _atomic_write_bytes(run_dir / f"best.{suffix}", text.encode())
    return final


def remove_partial(run_dir: Path) -> None:
    """Temporary generation directories left by an interrupted run are not generations."""
    for p in run_dir.glob(".gen_*.tmp-*"):
        shutil.rmtree(p, ignore_errors=True)


def load_checkpoint(run_dir: Path, g: int) -> dict[str, Any]:
    """The raw checkpoint (decode it with loopengine.rundir.checkpoint.decode). weights_only=True: a
    checkpoint is data, and torch then refuses any pickle that would import or call code.
    map_location="cpu": whatever device wrote it, the checkpoint is read into host memory (decode
    needs it there; Loop.restore's load_state_dict calls copy model and optimizer onto the device)."""
    path = run_dir / gen_name(g) / "model.pt"
    if not path.is_file():
        raise ArchiveError(f"cannot resume: {path} is missing (the checkpoint of the last complete generation)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise ArchiveError(f"refusing to load {path}: it holds Python objects, not only tensors and plain data "
                           f"(a damaged or tampered checkpoint; loopengine never unpickles code from a run "
                           f"directory) [{first[:200]}]") from None
    except Exception as exc:
        raise ArchiveError(f"cannot read checkpoint {path}: {type(exc).__name__}: {exc}") from None


def read_metrics(run_dir: Path, g: int) -> dict[str, Any]:
    return json.loads((run_dir / gen_name(g) / "metrics.json").read_text())


def read_candidates(run_dir: Path, g: int) -> pa.Table:
    return pq.read_table(run_dir / gen_name(g) / "candidates.parquet")

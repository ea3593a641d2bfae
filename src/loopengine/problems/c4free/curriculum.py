"""Size curriculum: start a run at n from the best graphs of an earlier run at a smaller m.

A C4-free graph on m vertices plus n - m isolated vertices is C4-free on n vertices, and
local search then grows it (the new vertices get neighbours, the old edges are kept unless
a kick removes them). Only the run's data is read: the `object` and `valid` columns of its
gen_*/candidates.parquet files, never its checkpoints; every row is verified again here.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from loopengine.errors import ConfigError

KEY = "problem.seed_from"


def vertices_of_width(width: int) -> int | None:
    m = (1 + math.isqrt(1 + 8 * width)) // 2
    return m if m * (m - 1) // 2 == width else None


def read_run_graphs(run_dir: Path) -> tuple[np.ndarray, int]:
    """Every candidate the run marked valid, as (rows, m(m-1)/2) indicators, and m."""
    files = sorted(run_dir.glob("gen_*/candidates.parquet"))
    if not run_dir.is_dir() or not files:
        raise ConfigError(run_dir, KEY, "a run directory with gen_*/candidates.parquet files")
    parts, m = [], None
    for path in files:
        try:
            table = pq.read_table(path, columns=["object", "valid"])
        except Exception as exc:  # a damaged or foreign file: say which, not a traceback
            raise ConfigError(path, KEY, f"a candidates table with 'object' and 'valid' columns ({exc})") from None
        width = getattr(table.schema.field("object").type, "list_size", None)  # None: not fixed-width
        rows = None if width is None else vertices_of_width(width)
        if rows is None or (m is not None and rows != m):
            raise ConfigError(path, KEY, "graphs stored as fixed-width n(n-1)/2 edge indicators, one n per run")
        m = rows
        valid = table.column("valid").to_numpy(zero_copy_only=False).astype(bool)
        flat = table.column("object").combine_chunks().flatten().to_numpy(zero_copy_only=False)
        objects = flat.reshape(len(valid), width).astype(np.uint8)
        parts.append(objects[valid])
    return np.concatenate(parts), int(m)


def embed(objects: np.ndarray, m: int, n: int) -> np.ndarray:
    """Graphs on vertices 0..m-1 as graphs on 0..n-1 (the new vertices isolated)."""
    small = np.triu_indices(m, k=1)
    index = np.full((n, n), -1, dtype=np.int64)
    iu, ju = np.triu_indices(n, k=1)
    index[iu, ju] = np.arange(len(iu))
    out = np.zeros((len(objects), len(iu)), dtype=np.uint8)
    out[:, index[small]] = objects
    return out


def best_distinct(objects: np.ndarray, keys: list[bytes], count: int) -> np.ndarray:
    """The `count` graphs with most edges, one per key (isomorphism class), best first."""
    order = np.argsort(-objects.sum(axis=1, dtype=np.int64), kind="stable")
    seen: set[bytes] = set()
    keep = []
    for i in order:
        if keys[i] not in seen:
            seen.add(keys[i])
            keep.append(i)
            if len(keep) == count:
                break
    return objects[np.asarray(keep, dtype=np.int64)]

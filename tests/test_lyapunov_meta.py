"""The public benchmark files (../shared/data/lyapunov_meta, read only): every one of the 4 x 200
systems is accepted, exactly, by the paths a user takes: `loopengine check` (its reader) and a
family-mode targets file. Skipped when the data folder is absent."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from loopengine.problems import make_problem
from loopengine.problems.lyapunov.check import read_check_input
from loopengine.problems.lyapunov.meta_format import read_line
from loopengine.problems.lyapunov.polynomials import poly_text, system_degree

DATA = Path(os.environ.get("LOOPENGINE_LYAPUNOV_META",
                           Path(__file__).resolve().parents[1].parent / "shared" / "data" / "lyapunov_meta"))
FILES = ("BPoly", "FBarr", "FLyap", "FSOSTOOL")


@pytest.fixture(scope="module")
def systems():
    if not all((DATA / name).is_file() for name in FILES):
        pytest.skip(f"benchmark files not found in {DATA}")
    return {name: [read_line(line) for line in (DATA / name).read_text().splitlines()] for name in FILES}


def test_every_benchmark_system_is_accepted_by_check_exactly(systems):
    total = 0
    for name, rows in systems.items():
        assert len(rows) == 200, name
        for _n, f, v in rows:
            text_f = [poly_text(eq, "**") for eq in f]
            assert read_check_input(text_f, poly_text(v, "**")) == (f, v)  # the typed system, not a rounding
            total += 1
    assert total == 800


def test_every_benchmark_system_is_a_family_target(systems, tmp_path):
    """Grouped by dimension (a layout's row width grows with n_max and f_degree); no target
    may be skipped, and each kept exact."""
    loaded = 0
    for name, rows in systems.items():
        for n in sorted({r[0] for r in rows}):
            group = [f for dim, f, _ in rows if dim == n]
            path = tmp_path / f"{name}_{n}.txt"
            path.write_text("".join(f"{name}{k}: " + "; ".join(poly_text(eq, "**") for eq in f) + "\n"
                                    for k, f in enumerate(group)))
            p = make_problem("lyapunov", {"targets_file": str(path), "forward_targets": 0, "heldout": 0,
                                          "n_min": n, "n_max": n, "v_degree": 12,
                                          "f_degree": max(system_degree(f) for f in group)}, "task.toml", tmp_path)
            assert p.skipped == []
            assert p.exact_systems == group
            loaded += len(p.targets)
    assert loaded == 800

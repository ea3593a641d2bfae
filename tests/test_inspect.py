"""show / report / export / compare on a tiny real run, the archive one-liners of
docs/archive.md, and every bad-input case through the CLI (exit code 2, one clear line)."""
import json
import re
import shutil
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sympy
from typer.testing import CliRunner

from loopengine.cli import app

ROOT = Path(__file__).resolve().parent.parent
from conftest import TINY_C4  # noqa: E402

runner = CliRunner()

# the shared tiny C4-free task (conftest.TINY_C4), made cheaper still for inspection tests
TASK_OVERRIDES = ["task.seed=1", "train.first_steps=4", "train.steps=2", "sampling.batch_size=24",
                  "execution.chunk_size=256", "kernel.elite_params={}"]


def cli(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def ok(*args: str):
    result = cli(*args)
    assert result.exit_code == 0, result.output
    return result


def refused(*args: str, message: str) -> str:
    """The CLI exits with code 2 and one message, never a traceback."""
    result = cli(*args)
    text = result.output.replace("\n", "")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert re.search(message, text), text
    return text


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("inspect")
    (base / "tiny.toml").write_text(TINY_C4)
    overrides = [arg for item in TASK_OVERRIDES for arg in ("--set", item)]
    ok("run", base / "tiny.toml", "--out", base / "runs", "--quiet", *overrides)
    return base / "runs" / "tiny-1"


@pytest.fixture
def copy(run_dir, tmp_path) -> Path:
    """A private copy for tests that damage the run (model.pt left out: inspect never reads it)."""
    target = tmp_path / "tiny-1"
    shutil.copytree(run_dir, target, ignore=shutil.ignore_patterns("model.pt", "report"))
    return target


def show_json(path: Path, *extra: str) -> dict:
    return json.loads(ok("show", path, "--json", *extra).output)


# ---- show ---------------------------------------------------------------------------------

def test_show_prints_generations_and_rendered_graphs(run_dir):
    out = ok("show", run_dir, "--top", "2").output
    assert "Generations" in out
    assert "Time per phase" in out
    summary = show_json(run_dir, "--top", "2")
    for cand in summary["top"]:
        g6 = cand["columns"]["graph6"]
        assert g6 in out
        assert f"{cand['graph']['edges']} edges on 8 vertices" in out
    # the adjacency picture: 8 rows of 8 cells, symmetric, one '#' per edge end
    rows = [line.strip() for line in out.splitlines() if re.fullmatch(r"\s*[#.]{8}", line)]
    assert len(rows) == 16
    first = np.array([[c == "#" for c in r] for r in rows[:8]])
    assert (first == first.T).all()
    assert first.sum() == 2 * summary["top"][0]["graph"]["edges"]


def test_show_json_schema(run_dir):
    s = show_json(run_dir)
    assert s["schema"] == 1
    assert s["problem"] == "c4free"
    assert s["task"] == "tiny"
    assert s["complete_generations"] == [0, 1, 2]
    assert s["shown_generation"] == 2
    assert s["warnings"] == []
    assert [g["generation"] for g in s["generations"]] == [0, 1, 2]
    for g in s["generations"]:
        assert {"best", "median", "valid_fraction", "unique_fraction", "novelty", "temperature",
                "elapsed", "timings", "model"} <= set(g)
        assert {"sample", "search", "verify", "train", "total"} <= set(g["timings"])
    assert s["best_known"] == 11.0
    assert s["best_ever"] == max(g["best"] for g in s["generations"])
    top = s["top"]
    assert len(top) == 5
    assert [c["rank"] for c in top] == [1, 2, 3, 4, 5]
    assert all(c["valid"] and c["generation"] == 2 and c["prompt"] is None for c in top)
    assert [c["score"] for c in top] == sorted((c["score"] for c in top), reverse=True)
    assert len({c["columns"]["graph6"] for c in top}) == 5  # distinct
    for c in top:  # c4free scores a graph by its edge count
        graph = nx.from_graph6_bytes(c["columns"]["graph6"].encode())
        assert graph.number_of_edges() == c["graph"]["edges"] == c["score"] == sum(c["object"])


def test_show_gen_and_top(run_dir):
    s = show_json(run_dir, "--gen", "0", "--top", "3")
    assert s["shown_generation"] == 0
    assert len(s["top"]) == 3
    assert all(c["generation"] == 0 and c["origin"] == "seed" for c in s["top"])


# ---- report -------------------------------------------------------------------------------

@pytest.mark.slow
def test_report_writes_plots_and_page(run_dir, tmp_path):
    out = tmp_path / "rep"
    result = ok("report", run_dir, "--out", out)
    assert str(out / "report.html") in result.output.replace("\n", "")
    pngs = ["scores.png", "best_vs_time.png", "collapse.png", "phase_times.png"]
    page = (out / "report.html").read_text()
    for name in pngs:
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", name
        assert len(data) > 5000, name
        assert f"src='{name}'" in page
    assert "<table>" in page
    assert page.count("<tr><td>") >= 6
    assert show_json(run_dir, "--top", "1")["top"][0]["columns"]["graph6"] in page


# ---- export -------------------------------------------------------------------------------

def test_export_graph6_parses_back_in_networkx(run_dir, tmp_path):
    path = tmp_path / "best.g6"
    ok("export", run_dir, "--best", "4", "--format", "graph6", "--out", path)
    graphs = nx.read_graph6(path)
    records = json.loads(ok("export", run_dir, "--best", "4", "--format", "json").output)
    assert len(graphs) == len(records) == 4
    for graph, rec in zip(graphs, records):
        assert graph.number_of_nodes() == 8
        assert graph.number_of_edges() == rec["score"] == rec["graph"]["edges"]
        assert not has_c4(graph)  # exported rows are verified
    assert [r["score"] for r in records] == sorted((r["score"] for r in records), reverse=True)
    best_ever = show_json(run_dir)["best_ever"]
    assert records[0]["score"] == best_ever  # the best over the whole run, not one generation


def has_c4(graph: nx.Graph) -> bool:
    return any(len(set(graph[u]) & set(graph[v])) >= 2 for u in graph for v in graph if u < v)


def test_export_to_stdout_matches_file(run_dir, tmp_path):
    text = ok("export", run_dir, "--best", "2", "--format", "graph6").output
    ok("export", run_dir, "--best", "2", "--format", "graph6", "--out", tmp_path / "b.g6")
    assert text == (tmp_path / "b.g6").read_text()
    assert len(text.splitlines()) == 2


def test_export_refuses_formats_that_do_not_fit(run_dir):
    refused("export", run_dir, "--format", "sympy", message=r"format sympy does not fit problem 'c4free'.*graph6, json")
    refused("export", run_dir, "--format", "xml", message=r"unknown export format 'xml'")
    refused("export", run_dir, "--best", "0", message=r"--best must be at least 1")


def test_export_sympy_and_lyapunov_rendering(copy):
    """A run whose candidates are Lyapunov functions (columns as the lyapunov problem writes
    them): sympy export parses, show gives each V its certificate status."""
    lyapunov_like(copy)
    lines = ok("export", copy, "--best", "5", "--format", "sympy").output.splitlines()
    x0, x1 = sympy.symbols("x0 x1")
    assert [sympy.sympify(s) for s in lines] == [x0**2 + x1**2, 2 * x0**4 + x1**2]  # valid rows only
    out = ok("show", copy).output
    assert "certified (exact SOS check)" in out
    assert "sample-checked, not certified" in out
    assert "rejected by the sampler (3" in out
    refused("export", copy, "--format", "graph6", message=r"format graph6 does not fit.*json, sympy")


def lyapunov_like(run: Path) -> None:
    for g in range(3):  # every generation finds the same three candidates
        table = pa.table({
            "generation": pa.array([g] * 3, type=pa.int32()), "origin": ["sample"] * 3,
            "score": [-0.002, -0.004, -0.001], "valid": [True, True, False],
            "object": pa.FixedSizeListArray.from_arrays(pa.array(np.arange(6.0)), 2),
            "tokens": [[1], [2], [3]], "system": ["-x0 + x1; -x1"] * 3,
            "V": ["x0^2 + x1^2", "2*x0^4 + x1^2", "x0"], "violations": [0, 0, 3],
        })
        pq.write_table(table, run / f"gen_{g:04d}" / "candidates.parquet")
    (run / "certificates").mkdir()
    (run / "certificates" / "000_f.json").write_text(json.dumps(
        {"system": "-x0 + x1; -x1", "status": "certified", "V": "x0^2 + x1^2",
         "tried": [{"V": "x0^2 + x1^2", "status": "certified"}]}))


def test_show_model_metrics_per_class(copy):
    metrics_path = copy / "gen_0002" / "metrics.json"
    metrics = json.loads(metrics_path.read_text())
    metrics["model"] = {"accuracy": 0.625, "correct_gcds": 1, "per_class_accuracy": [1.0, 0.5, 0.0] + [0.25] * 97}
    metrics_path.write_text(json.dumps(metrics))
    (copy / "task.toml").write_text((copy / "task.toml").read_text().replace('problem = "c4free"', 'problem = "gcd"'))
    out = ok("show", copy).output
    assert "62.50%" in out
    assert "per-gcd accuracy in % (gcd = row + column)" in out
    grid_text = out[out.index("per-gcd accuracy"):].splitlines()
    grid = [line.split() for line in grid_text if line.split()[:1] in (["1"], ["91"])]
    assert grid[0][:4] == ["1", "100", "50", "0"]
    assert grid[1] == ["91"] + ["25"] * 10
    # the model's accuracy and correct gcds per generation, one row per generation
    model_rows = out[out.index("Model per generation"):].splitlines()
    assert [line.split()[:3] for line in model_rows if line.split()[:1] == ["gen"]][0] == ["gen", "acc%", "gcds"]
    assert any(line.split()[:3] == ["2", "62.5", "1"] for line in model_rows)
    assert max(len(line) for line in out.splitlines()) <= 80


# ---- compare ------------------------------------------------------------------------------

def test_compare_side_by_side(run_dir, copy, tmp_path):
    task = (copy / "task.toml").read_text()
    (copy / "task.toml").write_text(task.replace("steps = 2", "steps = 5"))
    png = tmp_path / "cmp.png"
    out = ok("compare", run_dir, copy, "--out", png).output
    assert "Runs side by side" in out
    assert "best ever" in out
    assert "generations" in out
    assert re.search(r"train\.steps\s+2\s+5", out)  # settings that differ are listed
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert png.stat().st_size > 5000
    refused("compare", run_dir, run_dir, message="two different runs")


# ---- docs/archive.md one-liners -------------------------------------------------------------

def doc_snippets(section: str) -> list[str]:
    text = (ROOT / "docs" / "archive.md").read_text()
    body = text.split(section, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", body, re.S)


def test_archive_one_liners_work(copy):
    (copy / ".gen_0003.tmp-99").mkdir()  # the globs must not pick up half-written generations
    shutil.copy(copy / "gen_0000" / "candidates.parquet", copy / ".gen_0003.tmp-99" / "candidates.parquet")
    snippets = doc_snippets("## Querying archives with pandas and duckdb")
    assert len(snippets) == 5
    scope: dict = {}
    for code in snippets:
        exec(code.replace("runs/c4free-0", str(copy)), scope)
    gens = [pd.read_parquet(copy / f"gen_{g:04d}" / "candidates.parquet") for g in range(3)]
    assert len(scope["cands"]) == sum(map(len, gens))
    assert list(scope["metrics"]["generation"]) == [0, 1, 2]
    assert "timings.total" in scope["metrics"]
    assert list(scope["per_gen"]["best"]) == [g[g.valid].score.max() for g in gens]
    assert len(scope["top"]) == min(10, pd.concat(gens).query("valid").graph6.nunique())
    assert scope["top"]["score"].is_monotonic_decreasing
    assert list(scope["times"]["generation"]) == [0, 1, 2]


def test_graph6_read_back_snippet(run_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ok("export", run_dir, "--best", "3", "--format", "graph6", "--out", "best.g6")
    snippet = next(s for s in doc_snippets("## Other inspect commands") if "graph6" in s)
    scope: dict = {}
    exec(snippet, scope)
    assert len(scope["graphs"]) == 3


# ---- bad input ------------------------------------------------------------------------------

@pytest.mark.parametrize("command", [["show"], ["report"], ["export"], ["compare", "__RUN__"]])
def test_not_a_run(command, run_dir, tmp_path):
    args = [a.replace("__RUN__", str(run_dir)) for a in command]
    refused(*args[:1], tmp_path / "nothing", *args[1:], message=r"nothing does not exist")
    (tmp_path / "empty").mkdir()
    refused(*args[:1], tmp_path / "empty", *args[1:], message=r"empty is not a loopengine run")


def test_a_file_is_not_a_run(tmp_path):
    (tmp_path / "f.txt").write_text("x")
    refused("show", tmp_path / "f.txt", message="is a file, not a run directory")


def test_older_archive_format(copy):
    (copy / "format.json").write_text(json.dumps({"archive_format": 0}))
    refused("show", copy, message=r"archive format 0; this loopengine reads formats 1, 2")
    (copy / "format.json").write_text("{broken")
    refused("report", copy, message=r"format.json is damaged")


def test_half_written_generation_is_skipped(copy):
    (copy / ".gen_0003.tmp-123").mkdir()
    (copy / ".gen_0003.tmp-123" / "metrics.json").write_text("{")
    result = ok("show", copy)
    assert "ignored half-written generation .gen_0003.tmp-123" in result.output.replace("\n", "")
    s = show_json(copy)
    assert s["complete_generations"] == [0, 1, 2]
    assert len(s["warnings"]) == 1
    refused("show", copy, "--gen", "3", message=r"generation 3 of .* is not complete; complete generations: 0-2")
    refused("show", copy, "--gen", "7", message=r"has no generation 7; complete generations: 0-2")


def test_generation_missing_files_is_shown_up_to_last_complete(copy):
    (copy / "gen_0002" / "metrics.json").unlink()
    s = show_json(copy)
    assert s["complete_generations"] == [0, 1]
    assert s["shown_generation"] == 1
    assert s["warnings"] == ["skipped gen_0002: missing metrics.json"]
    assert "skipped gen_0002: missing metrics.json" in ok("show", copy).output.replace("\n", "")
    refused("show", copy, "--gen", "2", message=r"generation 2 of .* is not complete; complete generations: 0-1")
    ok("report", copy)
    (copy / "gen_0001" / "metrics.json").write_text("{not json")
    assert show_json(copy)["warnings"][0].startswith("skipped gen_0001: metrics.json is damaged")


def test_no_complete_generation(copy):
    for g in range(3):
        shutil.rmtree(copy / f"gen_{g:04d}")
    (copy / ".gen_0000.tmp-5").mkdir()
    refused("show", copy, message=r"has no complete generation yet \(ignored half-written generation .gen_0000")
    refused("export", copy, "--format", "graph6", message="has no complete generation yet")


def test_damaged_candidates(copy):
    (copy / "gen_0002" / "candidates.parquet").write_bytes(b"not parquet")
    refused("show", copy, message=r"cannot read .*gen_0002/candidates.parquet")
    refused("report", copy, message=r"cannot read .*gen_0002/candidates.parquet")

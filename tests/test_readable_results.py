"""What a user reads: whole formulas at 80 columns, the problem's headline in run / show /
report / compare, a per-target export of the main job, sampling with the loop's decoding
constraint, the Python API, and the smaller messages (check, Ctrl-C, the generation line)."""
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from loopengine.cli import app

ROOT = Path(__file__).resolve().parent.parent
from conftest import TINY_C4  # noqa: E402

runner = CliRunner()
LYAPUNOV_SMALL = ["--generations", "1", "--set", "problem.forward_targets=2", "--set", "problem.certify_seconds=30",
                  "--set", "problem.sdp_search_seconds=1", "--set", "loop.initial_pool=200",
                  "--set", "train.first_steps=10", "--set", "problem.heldout=4"]


def ok(*args) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


def flat(text: str) -> str:
    return text.replace("\n", "")


@pytest.fixture(scope="module")
def c4_run(tmp_path_factory) -> tuple[Path, str]:
    """A tiny C4-free run and what `run` printed."""
    base = tmp_path_factory.mktemp("c4")
    (base / "tiny.toml").write_text(TINY_C4)
    out = ok("run", base / "tiny.toml", "--out", base / "runs", "--quiet")
    return base / "runs" / "tiny-3", out


@pytest.fixture(scope="module")
def lyapunov_run(tmp_path_factory) -> tuple[Path, str]:
    """The main job (tasks/lyapunov.toml), one generation and two forward targets."""
    base = tmp_path_factory.mktemp("lyap")
    out = ok("run", ROOT / "tasks" / "lyapunov.toml", "--out", base, "--quiet", *LYAPUNOV_SMALL)
    return base / "lyapunov-0", out


# ---- tables keep every column and every formula ----------------------------------------------

def long_v() -> str:
    terms = [f"{k + 1}*x0^{2 * (k % 3 + 1)}*x1^{2 * (k % 2)}" for k in range(40)]
    v = " + ".join(terms)
    return v[: v.rfind(" + ", 0, 400)] if len(v) > 400 else v


def test_a_400_character_v_is_shown_whole_at_80_columns(c4_run, tmp_path):
    from loopengine.inspection.show import show_run

    v = long_v()
    assert len(v) >= 380
    run = tmp_path / "run"
    shutil.copytree(c4_run[0], run, ignore=shutil.ignore_patterns("model.pt"))
    spec = {"title": "Lyapunov functions", "columns": ["system", "x' = f(x)", "V", "status", "SOS s"],
            "rows": [["fwd1", "-x0 + x0*x1; -3*x1 - x1^3", v, "globally asymptotically stable", "0.23"],
                     ["linear", "-x0 + x1; -x0 - x1", "x0^2 + x1^2", "rejected", "-"]],
            "short": {"globally asymptotically stable": "GAS", "rejected": "rejected"},
            "legend": "GAS = globally asymptotically stable", "full_text": "certificates/"}
    (run / "summary.json").write_text(json.dumps({"table": spec, "headline": "1/2 targets proven"}))
    console = Console(width=80, file=io.StringIO(), color_system=None)
    show_run(run, console=console)
    text = console.file.getvalue()
    assert v in text  # whole, on one line: copyable
    for word in ("x' = f(x)", "status", "SOS s", "GAS", "rejected", "-x0 + x0*x1; -3*x1 - x1^3", "0.23"):
        assert word in text, word
    assert "…" not in text
    assert "GAS = globally asymptotically stable" in flat(text)
    assert str(run / "certificates/") in flat(text)
    assert text.splitlines()[0] == "1/2 targets proven"  # the headline comes first


def test_a_table_that_fits_stays_a_table():
    from loopengine.inspection.tables import print_spec

    console = Console(width=80, file=io.StringIO(), color_system=None)
    print_spec(console, {"title": "t", "columns": ["metric", "value"], "rows": [["accuracy", "94.60%"]]})
    lines = console.file.getvalue().splitlines()
    assert any(line.split() == ["accuracy", "94.60%"] for line in lines)


# ---- the headline ---------------------------------------------------------------------------

def test_headline_in_run_show_report_and_compare(c4_run, tmp_path):
    run_dir, printed = c4_run
    summary = json.loads((run_dir / "summary.json").read_text())
    headline = summary["headline"]
    best, known = int(summary["best_ever"]), summary["best_known"]
    assert headline == f"{best}" + ("" if known is None else f"/{int(known)}") + " edges, n = 8"
    assert printed.strip().splitlines()[-1] == headline  # run: the last line
    assert ok("show", run_dir).splitlines()[0] == headline  # show: the first line
    assert json.loads(ok("show", run_dir, "--json"))["headline"] == headline
    ok("report", run_dir, "--out", tmp_path / "rep")
    page = (tmp_path / "rep" / "report.html").read_text()
    assert page.index(headline) < page.index("<h2>")  # the top of the report
    for name in ("best.png", "best_graph.png", "training_loss.png", "raw_vs_searched.png"):
        assert f"src='{name}'" in page
        assert (tmp_path / "rep" / name).stat().st_size > 5000, name
    other = tmp_path / "other"
    shutil.copytree(run_dir, other, ignore=shutil.ignore_patterns("model.pt"))
    out = ok("compare", run_dir, other)
    assert out.splitlines()[0].endswith(headline)
    for folder in (tmp_path, run_dir.parent, Path.cwd()):  # nothing written unasked
        assert not list(folder.glob("compare_*.png")), folder


def test_problem_headlines():
    from loopengine.problems import make_problem
    from loopengine.problems.base import default_headline

    lyap = make_problem("lyapunov", {"mode": "one", "f": ["-x0", "-x1"]}, "t")
    summary = {"targets": 14, "certified": 11, "globally_asymptotically_stable": 11, "globally_stable": 0,
               "rejected": 3, "none_found": 0, "seconds": 76.2}
    assert lyap.headline(summary) == "11/14 targets proven (11 GAS, 0 stable, 3 rejected) in 76 s"
    gcd = make_problem("gcd", {}, "t")
    assert gcd.headline({"metrics": {"accuracy": 0.946, "correct_gcds": 25}}) == "94.6%, 25 gcds"
    assert default_headline({"best_ever": 127.0, "best_known": 127.0}) == "best 127 / best known 127"
    assert default_headline({"best_ever": None}) is None


# ---- the main job: per-target results ---------------------------------------------------------

@pytest.mark.slow
def test_main_job_export_show_and_api(lyapunov_run):
    import loopengine

    run_dir, printed = lyapunov_run
    summary = json.loads((run_dir / "summary.json").read_text())
    assert printed.strip().splitlines()[-1] == summary["headline"]
    assert summary["headline"].startswith(f"{summary['certified']}/{summary['targets']} targets proven (")
    records = json.loads(ok("export", run_dir, "--format", "json"))
    certificates = sorted((run_dir / "certificates").glob("*.json"))
    assert len(records) == len(certificates) == summary["targets"] == 10
    for record in records:
        assert set(record) == {"name", "system", "V", "status", "source", "certificate"}
        data = json.loads(Path(record["certificate"]).read_text())
        assert (data["name"], data["system"], data["status"]) == (record["name"], record["system"], record["status"])
        assert data["source"] == record["source"]  # which start source (or the SDP search) proposed V
        assert data["V"] == (record["V"] or "-")
    assert "object" not in ok("export", run_dir, "--format", "json", "--best", "2")
    assert '"object"' in ok("export", run_dir, "--format", "json", "--best", "2", "--raw")
    shown = json.loads(ok("show", run_dir, "--json"))
    assert shown["results"] == json.loads(json.dumps(summary["results"]))
    # candidates proven in certificates/ are not called "sample-checked": their system column
    # is written from the integer-scaled row, the certificate's system from the typed one
    from loopengine.inspection.render import Certificates

    certs = Certificates(run_dir)
    proven = [json.loads(p.read_text()) for p in certificates]
    proven = [d for d in proven if d["status"] == "globally asymptotically stable"]
    assert proven
    for data in proven:
        assert certs.of(data["archived_system"], data["V"], 0) == "globally asymptotically stable (exact SOS check)"

    page = Path(ok("report", run_dir).split("report: ")[-1].replace("\n", "")).read_text()
    assert page.index(summary["headline"]) < page.index("Lyapunov functions") < page.index("<h2>Plots")
    assert "src='targets.png'" in page
    assert "scores.png" not in page  # a score near -0.002 means nothing to a reader of this problem

    view = loopengine.open_run(run_dir)
    assert view.headline == summary["headline"]
    assert list(view.generations["generation"]) == [0]
    assert len(view.generations.loc[0, "train_losses"]) == 10
    assert set(view.candidates["generation"]) == {0}
    assert len(view.results) == 10
    assert set(view.results["status"]) <= {
        "globally asymptotically stable", "globally stable", "numerically plausible", "rejected", "none found"}


# ---- sample ---------------------------------------------------------------------------------

def test_sample_on_a_c4_run_gives_only_c4_free_graphs(c4_run):
    rows = json.loads(ok("sample", c4_run[0], "--count", "40", "--json", "--temperature", "1.5"))
    assert len(rows) == 40
    for row in rows:
        graph = nx.from_graph6_bytes(row["graph6"].encode())
        assert not any(len(c) == 4 for c in nx.simple_cycles(graph, length_bound=4))
        assert row["valid"]


# ---- the Python API ---------------------------------------------------------------------------

def test_open_run_reads_a_finished_run(c4_run):
    import loopengine

    view = loopengine.open_run(c4_run[0])
    assert list(view.generations.index) == [0, 1, 2]
    assert "timings.total" in view.generations.columns
    assert sorted(set(view.candidates["generation"])) == [0, 1, 2]
    assert view.headline.endswith("edges, n = 8")
    assert view.results is None
    assert view.best(3)["valid"].all()


def test_run_api_overrides(tmp_path):
    from loopengine.inspection.api import override_strings

    assert override_strings({"generations": 2, "out": tmp_path, "loop": {"keep": 8}, "train__steps": 3}) == [
        "task.generations=2", f"task.out=\"{tmp_path}\"", "loop.keep=8", "train.steps=3"]
    with pytest.raises(TypeError, match="unknown override"):
        override_strings({"keep": 8})


def test_import_loopengine_is_light():
    code = "import sys, loopengine; print('torch' in sys.modules, 'pandas' in sys.modules, callable(loopengine.run))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False", "True"]


# ---- smaller messages --------------------------------------------------------------------------

def test_check_names_the_parse_position_and_shows_a_counterexample():
    result = runner.invoke(app, ["check", "--f", "-x0 + (", "--v", "x0^2"])
    assert result.exit_code == 2
    assert "position 7" in flat(result.output)
    result = runner.invoke(app, ["check", "--f", "x0; -x1", "--v", "x0^2 + x1^2"])
    assert result.exit_code == 1
    assert "counterexample: V'(x) > 0: V'(x) = 2 at x = (1, 0)" in flat(result.output)


def test_the_generation_line_fits_80_columns():
    from loopengine.progress import LEGEND, generation_lines

    metrics = {"generation": 120, "best_ever": 1266.0, "best_known": 1270.0, "median": -0.00312345,
               "valid_fraction": 0.925, "sample_valid_fraction": 0.08, "samples": 200, "unique_fraction": 0.9876,
               "novelty": 0.954, "token_entropy": 3.4712, "temperature": 0.8, "next_temperature": 0.88,
               "timings": {"total": 1234.5}, "classes_produced": 40, "classes_true": 100,
               "progress_note": "acc 94.6%/95.0% gcds 25"}
    lines = generation_lines(metrics)
    assert all(len(line) <= 80 for line in lines)
    assert "H 3.5" in " ".join(lines)
    assert "T 0.8->0.88" in " ".join(lines)
    assert "H = token entropy" in LEGEND
    assert "T = sampling temperature" in LEGEND


def test_ctrl_c_names_the_run_directory():
    from loopengine.cli import user_errors
    from loopengine.session import RunInterrupted

    @user_errors
    def interrupted():
        raise RunInterrupted(Path("runs/lyapunov-0"))

    console = Console(file=io.StringIO(), width=200)
    import loopengine.cli as cli

    saved, cli.err_console = cli.err_console, console
    try:
        with pytest.raises(typer.Exit) as exc:
            interrupted()
    finally:
        cli.err_console = saved
    assert getattr(exc.value, "exit_code", None) == 130
    assert "loopengine resume runs/lyapunov-0" in console.file.getvalue()

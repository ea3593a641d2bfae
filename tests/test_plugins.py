"""A user problem and a user C++ kernel, end to end through the CLI: the worked example in
examples/no_three_in_line runs, its Python prototype kernel gives the identical run (the
one-line switch), and a kernel failing in generation 1 leaves generation 0 intact."""
import itertools
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from loopengine.cli import app
from loopengine.errors import ConfigError, KernelError
from loopengine.kernels.resolve import resolve_kernel
from loopengine.problems import make_problem
from loopengine.rundir.archive import complete_generations

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "no_three_in_line"
N = 5
TINY = [f"problem.n={N}", "loop.initial_pool=40", "loop.samples_per_generation=24", "loop.keep=16",
        "loop.elite_size=8", "loop.elite_reentry=4", "model.layers=1", "model.heads=2", "model.width=16",
        "train.first_steps=6", "train.steps=4", "train.batch_size=8", "sampling.batch_size=16",
        "execution.threads=1", "execution.chunk_size=16"]
runner = CliRunner()


@pytest.fixture(scope="module", autouse=True)
def kernel_cache(tmp_path_factory):
    # one compile of the example kernel for the whole module, in a cache of its own
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LOOPENGINE_CACHE", str(tmp_path_factory.mktemp("kernel-cache")))
        mp.setenv("CXXFLAGS", "-O0")  # grids of 5 x 5: a faster compile matters more than -O3
        yield


def output(result) -> str:
    try:
        return result.output + (result.stderr or "")
    except ValueError:  # older click: stderr mixed into output already
        return result.output


def run_example(out: Path, *overrides: str, generations: int = 2):
    args = ["run", str(EXAMPLE / "task.toml"), "--out", str(out), "--quiet", "--generations", str(generations)]
    for item in (*TINY, *overrides):
        args += ["--set", item]
    return runner.invoke(app, args)


def three_in_line(cells: np.ndarray, n: int) -> bool:
    pts = [(c // n, c % n) for c in cells]
    return any((b[0] - a[0]) * (c[1] - a[1]) == (b[1] - a[1]) * (c[0] - a[0])
               for a, b, c in itertools.combinations(pts, 3))


@pytest.fixture(scope="module")
def cpp_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cpp")
    result = run_example(out)
    assert result.exit_code == 0, output(result)
    return out / "no3-0"


@pytest.mark.slow
def test_example_runs_and_archive_is_checked(cpp_run):
    assert complete_generations(cpp_run) == [0, 1]
    for g in (0, 1):
        table = pq.read_table(cpp_run / f"gen_{g:04d}" / "candidates.parquet").to_pandas()
        assert len(table) > 0
        assert {"grid", "valid", "score", "origin"} <= set(table.columns)
        objects = np.stack(table["object"].to_numpy())
        # the archive's validity agrees with a brute-force check sharing no code with the example
        truth = [not three_in_line(np.flatnonzero(row), N) for row in objects]
        assert list(table["valid"]) == truth
        assert (table["score"].to_numpy() == objects.sum(axis=1)).all()
    gen0 = pq.read_table(cpp_run / "gen_0000" / "candidates.parquet").to_pandas()
    # local search made every random start valid and maximal: no empty cell can be added
    assert gen0["valid"].all()
    for row in np.stack(gen0["object"].to_numpy())[:10]:
        cells = list(np.flatnonzero(row))
        assert all(three_in_line(np.array(cells + [c]), N) for c in range(N * N) if c not in cells)
    origins = set(pq.read_table(cpp_run / "gen_0001" / "candidates.parquet")["origin"].to_pylist())
    assert {o.removesuffix("+search") for o in origins} == {"model", "random", "elites"}
    summary = json.loads((cpp_run / "summary.json").read_text())
    assert summary["best_known"] == 2 * N
    assert 2 * N - 2 <= summary["best_ever"] <= 2 * N
    assert (cpp_run / "best.txt").read_text().count("X") == summary["best_ever"]


@pytest.mark.slow
def test_python_prototype_gives_the_identical_run(cpp_run, tmp_path):
    result = run_example(tmp_path, "kernel.local_search=no3_search.py:no3_search")
    assert result.exit_code == 0, output(result)
    py_run = tmp_path / "no3-0"
    for g in (0, 1):
        a = pq.read_table(cpp_run / f"gen_{g:04d}" / "candidates.parquet")
        b = pq.read_table(py_run / f"gen_{g:04d}" / "candidates.parquet")
        assert a.equals(b), f"generation {g} differs between the C++ and the Python kernel"
    assert (cpp_run / "best.txt").read_text() == (py_run / "best.txt").read_text()


@pytest.mark.slow
def test_kernel_failing_in_generation_1_keeps_generation_0(tmp_path):
    # elite re-entry first runs in generation 1, with elite_params: kick = -1 makes it throw
    result = run_example(tmp_path, "kernel.elite_params.kick=-1", generations=3)
    assert result.exit_code == 2, output(result)
    text = output(result)
    assert "no3_search.cpp" in text
    assert "kick must be >= 0" in text
    assert "Traceback" not in text
    run_dir = tmp_path / "no3-0"
    assert complete_generations(run_dir) == [0]
    assert not [p.name for p in run_dir.iterdir() if p.name.startswith(".")]
    metrics = json.loads((run_dir / "gen_0000" / "metrics.json").read_text())
    assert pq.read_table(run_dir / "gen_0000" / "candidates.parquet").num_rows == metrics["candidates"] > 0


def test_example_from_another_directory_resolves_paths(tmp_path, monkeypatch):
    # relative problem/kernel paths in a task file are relative to the task file, not the cwd
    copy = tmp_path / "copy"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.chdir(tmp_path)
    problem = make_problem("problem.py:NoThreeInLine", {"n": 4}, "t.toml", copy)
    kernel = resolve_kernel("no3_search.py:no3_search", None, "t.toml", copy)
    pool = problem.initial_pool(np.random.default_rng(0), 8)
    out = kernel(pool.objects, None, 5, 1, {"kick": 0})
    assert problem.evaluate(problem.codec.decode(problem.codec.encode(type(pool)(objects=out)))).valid.all()


# ---- bad input ------------------------------------------------------------------------------
def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_python_kernel_errors_name_the_kernel(tmp_path):
    write(tmp_path / "k.py", "import numpy as np\n"
          "def short(objects, prompts, seed, threads):\n    return objects[:1]\n"
          "def boom(objects, prompts, seed, threads, **params):\n    raise RuntimeError('bad luck')\n"
          "def one_arg(objects):\n    return objects\n"
          "NOT_CALLABLE = 3\n")
    objects = np.zeros((4, 9), dtype=np.uint8)
    with pytest.raises(KernelError, match=r"k.py:short.*returned shape \(1, 9\); expected \(4, 9\)"):
        resolve_kernel("k.py:short", None, "t.toml", tmp_path)(objects, None, 0, 1, {})
    with pytest.raises(KernelError, match=r"k.py:boom.*RuntimeError: bad luck"):
        resolve_kernel("k.py:boom", None, "t.toml", tmp_path)(objects, None, 0, 1, {})
    with pytest.raises(ConfigError, match=r"k.py:one_arg.*must accept \(objects, prompts, seed, threads"):
        resolve_kernel("k.py:one_arg", None, "t.toml", tmp_path)
    with pytest.raises(ConfigError, match="not callable"):
        resolve_kernel("k.py:NOT_CALLABLE", None, "t.toml", tmp_path)
    with pytest.raises(ConfigError, match="missing.py"):
        resolve_kernel("missing.py:f", None, "t.toml", tmp_path)
    with pytest.raises(ConfigError, match="C\\+\\+ kernel file .*nothere.cpp not found"):
        resolve_kernel("nothere.cpp", None, "t.toml", tmp_path)


def test_user_problem_errors(tmp_path):
    write(tmp_path / "p.py", "from loopengine.problems import Problem\nclass NotAProblem:\n    pass\n"
          "class Good(Problem):\n    pass\n")
    write(tmp_path / "broken.py", "import does_not_exist_anywhere\n")
    with pytest.raises(ConfigError, match="defines no 'Nope'"):
        make_problem("p.py:Nope", {}, "t.toml", tmp_path)
    with pytest.raises(ConfigError, match="not a subclass"):
        make_problem("p.py:NotAProblem", {}, "t.toml", tmp_path)
    with pytest.raises(ConfigError, match="importing .*broken.py failed: ModuleNotFoundError"):
        make_problem("broken.py:X", {}, "t.toml", tmp_path)
    with pytest.raises(ConfigError, match="not found"):
        make_problem("absent.py:X", {}, "t.toml", tmp_path)
    with pytest.raises(ConfigError, match=r"problem\.n"):
        make_problem("problem.py:NoThreeInLine", {"n": 1}, "t.toml", EXAMPLE)
    with pytest.raises(ConfigError, match=r"t\.toml: task\.problem: 'p\.py:Good' sets no codec"):
        make_problem("p.py:Good", {}, "t.toml", tmp_path)

"""Lyapunov problem: task-file validation (clear errors, exit 2), both modes, finalize table."""
import textwrap

import numpy as np
import pytest

from loopengine.errors import ConfigError
from loopengine.problems import make_problem
from loopengine.problems.lyapunov.certificate import PROVEN

ONE = {"mode": "one", "f": ["-x0**3 + x1", "-x0 - x1"]}


@pytest.mark.parametrize(("settings", "key", "words"), [
    ({**ONE, "f": ["-x0**3 + x1", "-x0 - "]}, "problem.f", "cannot parse"),
    ({**ONE, "f": ["sin(x0)", "-x1"]}, "problem.f", "not a variable"),
    ({**ONE, "f": ["x0/x1", "-x1"]}, "problem.f", "not a polynomial"),
    ({**ONE, "f": ["x0 + 1", "-x1"]}, "problem.f", "f(0) != 0"),
    ({**ONE, "f": ["-x0 + x2", "-x1"]}, "problem.f", "outside x0..x1"),
    ({**ONE, "n": 3}, "problem", "dimension mismatch"),
    ({**ONE, "v_degree": 3}, "problem", "even"),
    ({"mode": "family", "f": ["-x0", "-x1"]}, "problem", "mode \"one\""),
    ({"mode": "family", "n_min": 3, "n_max": 2}, "problem", "n_min"),
    ({**ONE, "coef_bound": 0}, "problem.coef_bound", "greater than or equal"),
])
def test_bad_settings_name_the_key(settings, key, words):
    with pytest.raises(ConfigError) as err:
        make_problem("lyapunov", settings, "task.toml")
    assert err.value.key == key
    assert words in str(err.value)


def test_bad_targets_file(tmp_path):
    (tmp_path / "s.txt").write_text("ok: -x0; -x1\nbad: -x0 + 1; -x1\n")
    with pytest.raises(ConfigError) as err:
        make_problem("lyapunov", {"targets_file": "s.txt"}, "task.toml", tmp_path)
    assert err.value.key == "problem.targets_file"
    assert "line 2" in str(err.value)
    assert "task.toml" in str(err.value)
    (tmp_path / "s.txt").write_text("big: -x0**5; -x1\n")  # skipped (and listed), not refused
    p = make_problem("lyapunov", {"targets_file": "s.txt", "forward_targets": 1}, "task.toml", tmp_path)
    assert p.skipped == [{"name": "big", "reason": "has degree 5 > f_degree = 3"}]


def test_cli_exit_2_one_message(tmp_path):
    task = tmp_path / "t.toml"
    task.write_text(textwrap.dedent("""
        [task]
        name = "bad"
        problem = "lyapunov"
        [problem]
        mode = "one"
        f = ["-x0**3 + x1", "-x0 - x1 + x0**(1/2)"]
    """))
    from typer.testing import CliRunner

    from loopengine.cli import app

    result = CliRunner().invoke(app, ["run", str(task), "--out", str(tmp_path / "runs")])
    assert result.exit_code == 2, result.output
    message = result.output.replace("\n", "")
    assert "problem.f" in message
    assert "not a polynomial" in message
    assert "Traceback" not in message


def test_family_mode_pieces(tmp_path):
    p = make_problem("lyapunov", {"forward_targets": 3, "heldout": 4, "certify_seconds": 30}, "t", tmp_path)
    assert p.conditional
    assert len(p.targets) == 3
    rng = np.random.default_rng(0)
    seeds = p.initial_pool(rng, 40)
    p.evaluate(seeds)
    assert seeds.valid.all()  # backward examples are correct by construction
    assert all(len(t) <= p.max_prompt_tokens() for t in p.encode_prompts(seeds.prompts))
    back = p.codec.decode(p.codec.encode(seeds), seeds.prompts)
    assert np.array_equal(back.objects, seeds.objects)
    garbage = p.codec.decode([[0, 1, 2], [], [3]], seeds.prompts[:3])
    p.evaluate(garbage)
    assert not garbage.valid.any()
    prompts = p.target_prompts(rng, 7)
    assert prompts.shape == (7, p.prompt_width)


def test_one_mode_search_and_finalize(tmp_path):
    from loopengine.problems.lyapunov.falsify import local_search

    p = make_problem("lyapunov", {**ONE, "certify_seconds": 30}, "t", tmp_path)
    assert not p.conditional
    pool = p.initial_pool(np.random.default_rng(0), 24)
    pool.objects = local_search(pool.objects, None, 3, 2, steps=1500)
    p.evaluate(pool)
    assert pool.valid.any()
    summary = p.finalize(tmp_path, pool)
    row = summary.table.rows[0]
    assert row[3] in PROVEN, row
    assert list(tmp_path.glob("certificates/*.json"))


@pytest.mark.slow
def test_finalize_certifies_the_typed_system_not_its_float_row(tmp_path):
    """The row holds 1e-13 as a float and the sampler cannot see the instability at 0; the
    certificate is computed for the exact system, so V = 2x0^4 + x1^4 is not certified."""
    from fractions import Fraction

    from loopengine.pool import Pool

    p = make_problem("lyapunov", {"mode": "one", "f": ["x0/10000000000000 - x0**3", "-x1"]}, "t", tmp_path)
    assert p.exact_systems[0][0][(1, 0)] == Fraction(1, 10**13)
    v = {(4, 0): Fraction(2), (0, 4): Fraction(1)}
    pool = Pool(objects=p.rows(p.targets[0][1][None], [v]))
    p.evaluate(pool)
    row = p.finalize(tmp_path, pool).table.rows[0]
    assert row[3] not in PROVEN, row



def test_a_sampled_stable_v_does_not_end_the_search_for_gas(tmp_path):
    """x0' = x1, x1' = -x0 - x1 with V = x0^2 + x1^2: V' = -2 x1^2 vanishes on the x0 axis, so the
    sampled V proves only "globally stable"; the SDP search must still go on to a GAS V (a
    quadratic form with a cross term exists: the system is linear and Hurwitz)."""
    from fractions import Fraction

    from loopengine.pool import Pool
    from loopengine.problems.lyapunov.certificate import GAS, STABLE, certify

    p = make_problem("lyapunov", {"mode": "one", "f": ["x1", "-x0 - x1"]}, "t", tmp_path)
    v = {(2, 0): Fraction(1), (0, 2): Fraction(1)}
    assert certify(v, p.exact_systems[0], 2).status == STABLE
    pool = Pool(objects=p.rows(p.targets[0][1][None], [v]))
    p.evaluate(pool)
    row = p.finalize(tmp_path, pool).table.rows[0]
    assert row[3] == GAS, row



def test_a_search_candidate_gets_a_second_chance_at_integer_scale(tmp_path, monkeypatch):
    """BPoly 135 of the public benchmark: its reference V proves "globally stable", but the same V
    divided by 14 (what the SDP search proposed) fails the certifier's exact Gram rounding; the
    search's candidate is certified again scaled to coprime integers."""
    from loopengine.problems.lyapunov import v_search
    from loopengine.problems.lyapunov.certificate import PLAUSIBLE, certify
    from loopengine.problems.lyapunov.systems import parse_equation

    f = ["16*x0*x1 - 6*x0**5 - 8*x0**5*x1 + 12*x0**4*x1**2 + 8*x0**3*x1**3 + 12*x0*x1**5 - 6*x0**9"
         " + 8*x0**7*x1**2 - 6*x0**6*x1**3 - 2*x0**5*x1**4 + 280*x0*x1**9",
         "-12*x0**2 - 12*x0**6 + 16*x0**4*x1**2 - 12*x0**3*x1**3 - 4*x0**2*x1**4"]
    v = parse_equation("3*x0**2 + 4*x1**2 + x0**6 - 2*x0**4*x1**2 + 2*x0**3*x1**3 + x0**2*x1**4 + x1**6"
                       " + 14*x1**10", 2, "V", equilibrium=False)
    small = {m: c / 14 for m, c in v.items()}
    p = make_problem("lyapunov", {"mode": "one", "f": f}, "t", tmp_path)
    assert certify(small, p.exact_systems[0], 2).status == PLAUSIBLE
    monkeypatch.setattr(v_search, "candidates", lambda *args, **kw: iter([small]))
    row = p.finalize(tmp_path, None).table.rows[0]
    assert row[3] in PROVEN, row
    assert "14*x1^10" in row[2], row


TINY_FAMILY = """
[task]
name = "lyfam"
problem = "lyapunov"
seed = 5
generations = 3

[problem]
mode = "family"
n_min = 2
n_max = 2
targets_file = "systems.txt"
forward_targets = 1
heldout = 4
max_prompt_tokens = 80
certify_seconds = 600
certify_per_target = 2

[loop]
initial_pool = 60
samples_per_generation = 16
keep = 32

[model]
layers = 1
heads = 2
width = 16

[train]
first_steps = 4
steps = 3
batch_size = 8

[sampling]
batch_size = 16

[execution]
threads = 1

[kernel]
params = { steps = 200 }
"""


def _without_timings(value):
    """Certificates record how long the SOS solves took; everything else must match."""
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items() if k != "seconds"}
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


@pytest.mark.slow
def test_resume_gives_the_same_table_and_certificates(tmp_path):
    """`found` (best V per target, certified in finalize) lives in the problem, so it must
    travel in the checkpoint: 2 generations + resume to 3 == 3 generations straight."""
    import json

    from typer.testing import CliRunner

    from loopengine.cli import app

    (tmp_path / "systems.txt").write_text("linear: -x0 + x1; -x0 - x1\ncubic: -x0**3 + x1; -x0 - x1\n")
    task = tmp_path / "t.toml"
    task.write_text(TINY_FAMILY)
    runner = CliRunner()
    dirs = {}
    for label, gens in (("full", "3"), ("part", "2")):
        result = runner.invoke(app, ["run", str(task), "--out", str(tmp_path / label), "--quiet",
                                     "--generations", gens])
        assert result.exit_code == 0, result.output
        dirs[label] = tmp_path / label / "lyfam-5"
    result = runner.invoke(app, ["resume", str(dirs["part"]), "--generations", "3", "--quiet"])
    assert result.exit_code == 0, result.output

    def table(run_dir):
        rows = json.loads((run_dir / "summary.json").read_text())["table"]["rows"]
        return [row[:-1] for row in rows]  # the last column is the SOS solve time

    def certificates(run_dir):
        return {p.name: _without_timings(json.loads(p.read_text()))
                for p in sorted((run_dir / "certificates").glob("*.json"))}

    full, part = table(dirs["full"]), table(dirs["part"])
    assert len(full) == 3
    assert full == part
    assert any(row[3] != "none found" for row in full)  # something was found, so the comparison has teeth
    assert certificates(dirs["full"]) == certificates(dirs["part"])
    tried = sum(len(c["tried"]) for c in certificates(dirs["full"]).values())
    assert tried >= 3

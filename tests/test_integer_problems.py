"""The gcd / modmul / modadd problems: encoding, verification, metrics, bad input."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from loopengine.errors import ConfigError
from loopengine.pool import Pool
from loopengine.problems import make_problem
from loopengine.problems.codecs import MALFORMED, IntCodec, digits_needed
from loopengine.problems.integers.problem import base_ceiling, divisor_rule

ROOT = Path(__file__).resolve().parents[1]


def test_codec_round_trip_and_fixed_width():
    codec = IntCodec(30, 5)
    values = np.array([0, 1, 29, 30, 810000, -4567, 999999])
    tokens = codec.encode(values)
    assert tokens[0] == [0, 2]  # "+0"
    assert tokens[3] == [0, 3, 2]  # 30 = "+10" in base 30
    assert tokens[5][0] == 1  # minus sign
    assert codec.decode_many(tokens).tolist() == values.tolist()
    fixed = codec.encode_fixed(values, 5)
    assert fixed.shape == (7, 6)
    assert codec.decode_many(fixed.tolist()).tolist() == values.tolist()
    assert digits_needed(10**6, 30) == 5
    assert digits_needed(0, 2) == 1
    assert digits_needed(8, 2) == 4


@pytest.mark.parametrize("bad", [[], [0], [5, 3], [0, 2, 0], [0] + [3] * 6, [0, 40], [0, 3, -7], [1, 1, 3]])
def test_codec_malformed_tokens_never_raise(bad):
    assert IntCodec(30, 5).decode(bad) == MALFORMED


def test_ceiling_of_base_30_is_95_percent():
    assert base_ceiling(30) == pytest.approx(0.9499, abs=1e-4)
    assert base_ceiling(2) == pytest.approx(6 / np.pi**2 * 4 / 3)
    assert base_ceiling(7) == pytest.approx(6 / np.pi**2 * 49 / 48)
    assert base_ceiling(12) == pytest.approx(base_ceiling(6))  # only the primes of the base count


def test_divisor_rule_picks_largest_learned_divisor():
    learned = [1, 2, 3, 4, 6, 10]
    assert divisor_rule(np.array([1, 2, 4, 8, 12, 7, 30, 5]), learned).tolist() == [1, 2, 4, 4, 6, 1, 10, 1]


def make(name, **settings):
    return make_problem(name, settings, "task.toml")


def test_gcd_pools_encode_verify_and_decode():
    p = make("gcd", max_operand=10**6, base=30)
    rng = np.random.default_rng(0)
    pool = p.initial_pool(rng, 500)
    assert pool.objects.shape == (500, 1)
    assert pool.prompts.shape == (500, 2)
    p.evaluate(pool)
    assert pool.valid.all()
    assert (pool.score == 1).all()
    prompts = p.encode_prompts(pool.prompts)
    assert {len(t) for t in prompts} == {p.max_prompt_tokens()}  # one prefix length per batch
    answers = p.codec.encode(pool)
    assert max(map(len, answers)) <= p.codec.max_answer_tokens()
    vocab = len(p.codec.vocabulary())
    assert all(0 <= t < vocab for row in prompts + answers for t in row)
    # the model's answers come back through decode: right, wrong and malformed rows
    tokens = answers[:3] + [[0, 3], [7, 7, 7], []]
    decoded = p.codec.decode(tokens, pool.prompts[:6])
    assert decoded.objects[4, 0] == MALFORMED
    assert decoded.objects[5, 0] == MALFORMED
    p.evaluate(decoded)
    assert decoded.valid[:3].all()
    assert not decoded.valid[4:].any()
    assert decoded.valid[3] == (pool.objects[3, 0] == 1)
    assert p.human_columns(decoded)["answer"][4] == "malformed"


def test_target_prompts_and_fresh_examples_follow_the_rng():
    p = make("gcd", operands="loguniform", outcomes="loguniform")
    a = p.target_prompts(np.random.default_rng(5), 100)
    assert np.array_equal(a, p.target_prompts(np.random.default_rng(5), 100))
    assert not np.array_equal(a, p.target_prompts(np.random.default_rng(6), 100))
    fresh = p.fresh_examples(np.random.default_rng(5), 100)
    assert np.array_equal(fresh.objects[:, 0], np.gcd(fresh.prompts[:, 0], fresh.prompts[:, 1]))


def oracle_gcd_model(p, learned):
    """A fake model that follows the paper's rule with a given divisor set, and writes
    garbage for one prompt in 100."""
    def generate(prompts):
        rule = divisor_rule(np.gcd(prompts[:, 0], prompts[:, 1]), learned)
        tokens = p.codec.numbers.encode(rule)
        for i in range(0, len(tokens), 100):
            tokens[i] = [5, 5]
        return p.codec.decode(tokens, prompts)
    return generate


def test_gcd_model_metrics_recover_the_rule():
    p = make("gcd", base=30, test_size=3000, classes=30, per_class=20)
    learned = [1, 2, 3, 4, 5, 6, 10, 15, 30]
    m = p.model_metrics(oracle_gcd_model(p, learned), np.random.default_rng(0))
    assert m["ceiling"] == pytest.approx(0.9499, abs=1e-4)
    assert 0.8 < m["accuracy"] < 0.95
    assert m["invalid_answers"] == pytest.approx(0.01, abs=0.002)
    assert m["correct_gcds"] == len(learned)
    assert m["learned_gcds"] == learned
    assert m["rule_divisors"] == learned
    assert m["rule_agreement"] > 0.98  # everything but the garbage rows
    assert len(m["per_class_accuracy"]) == 30
    assert m["per_class_accuracy"][6] == 0.0
    table = p.finalize(Path("."), Pool(objects=np.zeros((0, 1), dtype=np.int64))).table
    assert any("gcds <= 30" in row[0] and row[1] == str(len(learned)) for row in table.rows)


@pytest.mark.parametrize(("name", "op"), [("modmul", np.multiply), ("modadd", np.add)])
def test_modular_problem(name, op):
    p = make(name, modulus=67, base=10, max_operand=10**4, test_size=2000)
    pool = p.initial_pool(np.random.default_rng(1), 300)
    assert np.array_equal(pool.objects[:, 0], op(pool.prompts[:, 0], pool.prompts[:, 1]) % 67)
    assert p.codec.max_answer_tokens() == 3  # sign + two digits for residues < 67
    def perfect(prompts):
        return p.codec.decode(p.codec.numbers.encode(op(prompts[:, 0], prompts[:, 1]) % 67), prompts)
    m = p.model_metrics(perfect, np.random.default_rng(0))
    assert m["accuracy"] == 1.0
    assert m["classes_learned"] == 67
    assert m["chance"] == pytest.approx(1 / 67, abs=1e-4)
    zero = lambda prompts: p.codec.decode([[0, 2]] * len(prompts), prompts)  # noqa: E731
    m = p.model_metrics(zero, np.random.default_rng(0))
    assert m["accuracy"] < 0.05
    assert m["classes_learned"] == 1


@pytest.mark.parametrize(("name", "settings", "key"), [
    ("gcd", {"base": 1}, "problem.base"),
    ("modmul", {"modulus": 1}, "problem.modulus"),
    ("modadd", {"modulus": 0}, "problem.modulus"),
    ("gcd", {"max_operand": 0}, "problem.max_operand"),
    ("gcd", {"max_operand": 10**13}, "problem.max_operand"),
    ("gcd", {"max_operand": 50, "max_gcd": 100}, "problem"),
    ("gcd", {"operands": "gaussian"}, "problem.operands"),
    ("modmul", {"base": 10, "digits": 3}, "problem.digits"),
])
def test_bad_settings_are_config_errors(name, settings, key):
    with pytest.raises(ConfigError) as err:
        make(name, **settings)
    assert err.value.key == key


@pytest.mark.slow
def test_cli_bad_base_exits_2(tmp_path):
    task = (ROOT / "tasks" / "gcd.toml").read_text().replace("base = 30", "base = 1")
    (tmp_path / "bad.toml").write_text(task)
    out = subprocess.run([sys.executable, "-m", "loopengine.cli", "run", str(tmp_path / "bad.toml"), "--out",
                          str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stderr
    assert "problem.base" in out.stderr
    assert "greater than or equal to 2" in out.stderr
    assert "Traceback" not in out.stderr


def test_tiny_run_end_to_end_writes_model_metrics(tmp_path):
    """Two generations through the engine's loop: generator seeds, model answers verified by
    the integer verifier, metrics and the final table written."""
    import json

    from loopengine.session import start_run

    task = tmp_path / "gcd.toml"
    task.write_text((ROOT / "tasks" / "gcd.toml").read_text())
    run_dir, summary = start_run(task, [
        f"task.out={tmp_path / 'runs'}", "task.generations=2", "model.width=32", "model.layers=1",
        "train.first_steps=20", "train.steps=10", "train.batch_size=32", "loop.initial_pool=100",
        "loop.samples_per_generation=100", "problem.test_size=200", "problem.classes=10", "problem.per_class=10",
        "execution.threads=1",
    ], quiet=True)
    metrics = json.loads((run_dir / "gen_0001" / "metrics.json").read_text())
    model = metrics["model"]
    assert 0 <= model["accuracy"] <= 1
    assert model["ceiling"] == pytest.approx(0.9499, abs=1e-4)
    assert len(model["per_class_accuracy"]) == 10
    assert "rule_agreement" in model
    assert metrics["samples"] == 100
    assert 0 <= metrics["sample_valid_fraction"] <= 1
    assert summary["table"]["columns"] == ["metric", "value"]
    assert summary["metrics"]["accuracy"] == model["accuracy"]
    # the problem's progress_note reaches the progress line through metrics.json, and the summary
    assert model["progress_note"].startswith(f"acc {model['accuracy']:.1%}")
    assert summary["metrics"]["progress_note"] == model["progress_note"]

"""Integer arithmetic as translation: (a, b) -> gcd(a, b), a*b mod p, a+b mod p.

Reproduces, at CPU scale, "Learning the greatest common divisor" (Charton, arXiv 2308.15594)
and the modular-multiplication experiments of "Emergent properties with repeated examples"
(Charton & Kempe, arXiv 2410.07041). Examples come from the C++ generators in
csrc/src/integer.cpp and answers are judged by its batch verifiers, so a model answer is
valid exactly when it is the right number (self-training keeps only those).

Pool layout: prompts (N, 2) int64 operands; objects (N, 1) int64 answers, MALFORMED when the
model's tokens do not spell an integer.

The default operand bound is 10^6 (4-5 digits in base 30): small enough that a 2-4 layer
model trains on a CPU in minutes, large enough that memorising pairs is hopeless.
"""
from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from loopengine import _core
from loopengine.pool import Pool
from loopengine.problems.base import ConditionalProblem, ProblemSettings, Summary, SummaryTable
from loopengine.problems.codecs import MALFORMED, Codec, IntCodec, TokenArrays, digits_needed

# The held-out test set is drawn from its own seed, never from the loop's generator streams.
TEST_SEED = 0x7E57_5E7


class IntegerSettings(ProblemSettings):
    base: int = Field(10, ge=2, le=10000, description="integers are written as a sign and base-`base` digits")
    max_operand: int = Field(10**6, ge=1, le=10**12,
                             description="operands are drawn in [1 (0 for modular), max_operand]")
    operands: Literal["uniform", "loguniform"] = Field("uniform", description="training distribution of operands")
    test_size: int = Field(5000, ge=1, le=10**6, description="held-out pairs from the natural (uniform) distribution")


class IntegerAnswers(Codec):
    """The codec of the (a, b) -> integer tasks: objects (N, 1) int64 answers in the shortest
    form; prompts (the operands) fixed-width, zero-padded (IntCodec, problems/codecs.py)."""

    def __init__(self, base: int, prompt_digits: int, answer_digits: int) -> None:
        self.numbers = IntCodec(base, max(prompt_digits, answer_digits))
        self.prompt_digits, self.answer_digits = prompt_digits, answer_digits

    def vocabulary(self) -> list[str]:
        return self.numbers.vocabulary()

    def max_answer_tokens(self) -> int:
        return 1 + self.answer_digits

    def encode(self, pool: Pool) -> list[list[int]]:
        answers = pool.objects[:, 0].copy()
        answers[answers == MALFORMED] = 0  # only verified rows are trained on; never crash here
        return self.numbers.encode(answers)

    def encode_prompts(self, prompts: np.ndarray) -> list[list[int]]:
        prompts = np.asarray(prompts, dtype=np.int64)
        cols = [self.numbers.encode_fixed(prompts[:, i], self.prompt_digits) for i in range(2)]
        return np.concatenate(cols, axis=1).tolist()

    def encode_tokens(self, pool: Pool) -> TokenArrays:
        """The tokens of encode_prompts and encode, as arrays written by C++ in one call:
        the fast training path."""
        rows = np.column_stack([pool.prompts[:, :2], pool.objects[:, :1]]).astype(np.int64)
        return _core.int_encode_tokens(rows, self.numbers.base, self.prompt_digits, self.numbers.max_digits,
                                       MALFORMED, 0)

    def decode(self, tokens: list[list[int]], prompts: np.ndarray | None) -> Pool:
        answers = self.numbers.decode_many(tokens)
        return Pool(objects=answers[:, None], prompts=np.asarray(prompts, dtype=np.int64),
                    origin=np.full(len(answers), "sample", dtype=object))


class IntegerProblem(ConditionalProblem):
    """What every (a, b) -> integer task shares: encoding, pools, verification, metrics."""

    Settings: ClassVar[type[ProblemSettings]] = IntegerSettings
    default_kernel: ClassVar[str | None] = None

    def __init__(self, settings: IntegerSettings, task_dir: Path | None = None) -> None:
        super().__init__(settings, task_dir)
        self.prompt_digits = digits_needed(settings.max_operand, settings.base)
        self.codec = IntegerAnswers(settings.base, self.prompt_digits, self.answer_digits())
        self._test: np.ndarray | None = None
        self.last_metrics: dict[str, Any] = {}

    # ---- what a task defines ------------------------------------------------------------
    def answer_digits(self) -> int:
        raise NotImplementedError

    def generate_rows(self, seed: int, size: int, natural: bool = False) -> np.ndarray:
        """(size, 3) int64 rows (a, b, answer); natural=True gives the test distribution."""
        raise NotImplementedError

    def verify(self, prompts: np.ndarray, answers: np.ndarray, threads: int) -> np.ndarray:
        raise NotImplementedError

    def task_metrics(self, generate, test: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
        return {}

    def summary_rows(self, metrics: dict[str, Any]) -> list[list[Any]]:
        return []

    def progress_note(self, model_metrics: dict[str, Any]) -> str | None:
        return f"acc {model_metrics['accuracy']:.1%}"

    # ---- prompts ------------------------------------------------------------------------
    def max_prompt_tokens(self) -> int:
        return 2 * (1 + self.prompt_digits)

    def encode_prompts(self, prompts: np.ndarray) -> list[list[int]]:
        return self.codec.encode_prompts(prompts)

    # ---- data ---------------------------------------------------------------------------
    @staticmethod
    def _seed(rng: np.random.Generator) -> int:
        return int(rng.integers(0, 2**63 - 1))

    def _pool(self, rows: np.ndarray) -> Pool:
        return Pool(objects=np.ascontiguousarray(rows[:, 2:3]), prompts=np.ascontiguousarray(rows[:, :2]))

    def initial_pool(self, rng: np.random.Generator, size: int) -> Pool:
        return self._pool(self.generate_rows(self._seed(rng), size))

    def fresh_examples(self, rng: np.random.Generator, size: int) -> Pool | None:
        return self._pool(self.generate_rows(self._seed(rng), size))

    def target_prompts(self, rng: np.random.Generator, size: int) -> np.ndarray | None:
        return np.ascontiguousarray(self.generate_rows(self._seed(rng), size)[:, :2])

    # ---- judging ------------------------------------------------------------------------
    def evaluate(self, pool: Pool, threads: int = 0) -> Pool:
        answers = np.ascontiguousarray(pool.objects[:, 0], dtype=np.int64)
        pool.valid = np.asarray(self.verify(np.ascontiguousarray(pool.prompts, dtype=np.int64), answers, threads))
        pool.score = pool.valid.astype(np.float64)
        return pool

    def answer_class(self, pool: Pool) -> list[Any] | None:
        """Collapse metric: which answers (gcds, residues) the model still produces."""
        return [None if x == MALFORMED else int(x) for x in pool.objects[:, 0]]

    def human_columns(self, pool: Pool) -> dict[str, list[Any]]:
        answers = pool.objects[:, 0]
        return {
            "a": pool.prompts[:, 0].tolist(),
            "b": pool.prompts[:, 1].tolist(),
            "answer": ["malformed" if x == MALFORMED else str(x) for x in answers],  # one column type
        }

    # ---- evaluation of the model --------------------------------------------------------
    def test_set(self) -> np.ndarray:
        if self._test is None:
            self._test = self.generate_rows(TEST_SEED, self.settings.test_size, natural=True)
        return self._test

    def model_metrics(self, generate, rng: np.random.Generator) -> dict[str, Any]:
        test = self.test_set()
        predicted = generate(test[:, :2]).objects[:, 0]
        correct = predicted == test[:, 2]
        metrics: dict[str, Any] = {
            "accuracy": round(float(correct.mean()), 4),
            "invalid_answers": round(float((predicted == MALFORMED).mean()), 4),
            "test_size": int(len(test)),
        }
        metrics.update(self.task_metrics(generate, test, predicted))
        self.last_metrics = dict(metrics)
        return metrics

    def headline(self, summary: dict[str, Any]) -> str | None:
        """"94.6%, 25 gcds": the final model's held-out accuracy (and what the task adds)."""
        m = summary.get("metrics") or {}
        if m.get("accuracy") is None:
            return None
        line = f"{100 * m['accuracy']:.1f}%"
        return line + (f", {m['correct_gcds']} gcds" if m.get("correct_gcds") is not None else "")

    def finalize(self, run_dir: Path, pool: Pool) -> Summary:
        m = self.last_metrics
        if not m:
            return Summary()
        rows = [["accuracy (held-out, natural distribution)", f"{m['accuracy']:.2%}"],
                ["malformed answers", f"{m['invalid_answers']:.2%}"], *self.summary_rows(m)]
        # the metrics as the last generation's metrics.json has them, progress note included
        return Summary({"metrics": {**m, "progress_note": self.progress_note(m)}},
                       SummaryTable(f"{self.name}: final model", ["metric", "value"], rows))


# ---- GCD ---------------------------------------------------------------------------------

class GCDSettings(IntegerSettings):
    base: int = Field(30, ge=2, le=10000, description="integers are written as a sign and base-`base` digits")
    outcomes: Literal["natural", "loguniform"] = Field(
        "natural", description="training distribution of the gcd: natural (~1/k^2) or log-uniform (~1/k)")
    max_gcd: int = Field(100, ge=1, le=10**7, description="largest gcd drawn when outcomes = loguniform")
    classes: int = Field(100, ge=1, le=1000, description="gcds 1..classes get a per-class accuracy")
    per_class: int = Field(50, ge=1, le=10000, description="test pairs per gcd class")
    learned_threshold: float = Field(
        0.9, gt=0, le=1, description="a gcd counts as predicted correctly when its class accuracy reaches this")

    @model_validator(mode="after")
    def _fits(self) -> GCDSettings:
        if self.max_gcd > self.max_operand:
            raise ValueError(f"max_gcd ({self.max_gcd}) must not exceed max_operand ({self.max_operand})")
        if self.classes > self.max_operand:
            raise ValueError(f"classes ({self.classes}) must not exceed max_operand ({self.max_operand})")
        return self


def base_ceiling(base: int) -> float:
    """Share of uniform pairs whose gcd has only primes dividing `base`: the accuracy of a
    model that learns exactly the products of the base's prime divisors. P(gcd = k) =
    6 / (pi^2 k^2), and the sum of 1/k^2 over such k is prod_{p | base} 1 / (1 - p^-2)."""
    total, n, p = 6 / math.pi**2, base, 2
    while p * p <= n:
        if n % p == 0:
            total /= 1 - p**-2
            while n % p == 0:
                n //= p
        p += 1
    if n > 1:
        total /= 1 - n**-2
    return total


def stratified_pairs(rng: np.random.Generator, max_operand: int, classes: int, per_class: int) -> np.ndarray:
    """(classes * per_class, 3) rows with gcd exactly k for k = 1..classes."""
    blocks = []
    for k in range(1, classes + 1):
        top = max_operand // k
        got = np.empty((0, 2), dtype=np.int64)
        while len(got) < per_class:
            pairs = rng.integers(1, top + 1, size=(3 * per_class, 2), dtype=np.int64)
            coprime = _core.int_gcd_batch(pairs[:, 0], pairs[:, 1], 1) == 1
            got = np.concatenate([got, pairs[coprime]])
        pairs = got[:per_class] * k
        blocks.append(np.column_stack([pairs, np.full(per_class, k, dtype=np.int64)]))
    return np.concatenate(blocks)


def divisor_rule(true_gcd: np.ndarray, learned: list[int]) -> np.ndarray:
    """The paper's rule: predict the largest learned gcd that divides the true gcd."""
    rule = np.ones_like(true_gcd)
    for d in sorted(learned):
        rule[true_gcd % d == 0] = d
    return rule


class GCD(IntegerProblem):
    """(a, b) -> gcd(a, b), learnt as translation (Charton, arXiv 2308.15594)."""

    name: ClassVar[str] = "gcd"
    Settings: ClassVar[type[ProblemSettings]] = GCDSettings

    def answer_digits(self) -> int:
        return digits_needed(self.settings.max_operand, self.settings.base)

    def generate_rows(self, seed: int, size: int, natural: bool = False) -> np.ndarray:
        s = self.settings
        operands, outcomes = ("uniform", "natural") if natural else (s.operands, s.outcomes)
        return _core.int_gcd_generate(size, seed, s.max_operand, operands, outcomes, s.max_gcd, 0)

    def verify(self, prompts: np.ndarray, answers: np.ndarray, threads: int) -> np.ndarray:
        return _core.int_gcd_verify(prompts, answers, threads)

    def true_answer_class(self, pool: Pool) -> list[Any] | None:
        a, b = np.ascontiguousarray(pool.prompts[:, 0]), np.ascontiguousarray(pool.prompts[:, 1])
        return _core.int_gcd_batch(a, b, 0).tolist()

    def task_metrics(self, generate, test: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
        s = self.settings
        strat = stratified_pairs(np.random.default_rng(TEST_SEED), s.max_operand, s.classes, s.per_class)
        pred = generate(strat[:, :2]).objects[:, 0]
        true = strat[:, 2]
        per_class = (pred == true).reshape(s.classes, s.per_class).mean(axis=1)
        learned = [k for k in range(1, s.classes + 1) if per_class[k - 1] >= s.learned_threshold]
        # The rule's divisor set: gcds the model outputs as its usual answer for their class.
        modal = [Counter(row).most_common(1)[0][0] for row in pred.reshape(s.classes, s.per_class).tolist()]
        divisors = sorted({k for k in range(1, s.classes + 1) if modal[k - 1] == k} | {1})
        rule = divisor_rule(true, divisors)
        out = {"ceiling": round(base_ceiling(s.base), 4)} if self.ceiling_applies() else {}
        return {
            **out,
            "correct_gcds": len(learned),
            "learned_gcds": learned,
            "per_class_accuracy": [round(float(x), 3) for x in per_class],
            "rule_divisors": divisors,
            "rule_agreement": round(float((pred == rule).mean()), 4),
        }

    def ceiling_applies(self) -> bool:
        """The base's ceiling bounds models trained on the natural distribution (uniform
        operands, natural outcomes), which learn the divisor rule; other training data
        teaches gcds with primes outside the base, and the bound no longer holds."""
        return self.settings.operands == "uniform" and self.settings.outcomes == "natural"

    def progress_note(self, m: dict[str, Any]) -> str | None:
        ceiling = f"/{m['ceiling']:.1%}" if "ceiling" in m else ""
        return f"acc {m['accuracy']:.1%}{ceiling} gcds {m['correct_gcds']}"

    def summary_rows(self, m: dict[str, Any]) -> list[list[Any]]:
        shown = ", ".join(map(str, m["learned_gcds"][:30])) + (" ..." if len(m["learned_gcds"]) > 30 else "")
        ceiling = ([[f"ceiling for base {self.settings.base} (gcd primes all divide the base)", f"{m['ceiling']:.2%}"]]
                   if "ceiling" in m else [])
        return [
            *ceiling,
            [f"gcds <= {self.settings.classes} predicted correctly", str(m["correct_gcds"])],
            ["learned gcds", shown or "-"],
            ["predictions following the divisor rule", f"{m['rule_agreement']:.2%}"],
        ]


# ---- modular arithmetic ---------------------------------------------------------------------

class ModularSettings(IntegerSettings):
    modulus: int = Field(67, ge=2, le=2**32, description="answers are residues modulo this")


class Modular(IntegerProblem):
    Settings: ClassVar[type[ProblemSettings]] = ModularSettings
    op: ClassVar[str] = ""

    def answer_digits(self) -> int:
        return digits_needed(self.settings.modulus - 1, self.settings.base)

    def generate_rows(self, seed: int, size: int, natural: bool = False) -> np.ndarray:
        s = self.settings
        operands = "uniform" if natural else s.operands
        return _core.int_mod_generate(size, seed, s.max_operand, s.modulus, self.op, operands, 0)

    def verify(self, prompts: np.ndarray, answers: np.ndarray, threads: int) -> np.ndarray:
        return _core.int_mod_verify(prompts, answers, self.settings.modulus, self.op, threads)

    def true_answer_class(self, pool: Pool) -> list[Any] | None:
        a, b = np.ascontiguousarray(pool.prompts[:, 0]), np.ascontiguousarray(pool.prompts[:, 1])
        return _core.int_mod_batch(a, b, self.settings.modulus, self.op, 0).tolist()

    def task_metrics(self, generate, test: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
        p = self.settings.modulus
        residue = test[:, 2]
        correct = predicted == residue
        seen = np.bincount(residue, minlength=p) if p <= 4096 else None
        out: dict[str, Any] = {"chance": round(1 / p, 4)}
        if seen is not None:
            hits = np.bincount(residue[correct], minlength=p)
            acc = hits[seen > 0] / seen[seen > 0]
            out.update(per_class_min=round(float(acc.min()), 3), per_class_max=round(float(acc.max()), 3),
                       classes_learned=int((acc >= 0.9).sum()))
            if p <= 200:
                out["per_class_accuracy"] = [round(float(x), 3) for x in hits / np.maximum(seen, 1)]
        return out

    def summary_rows(self, m: dict[str, Any]) -> list[list[Any]]:
        rows = [["chance (1 / modulus)", f"{m['chance']:.2%}"]]
        if "classes_learned" in m:
            rows.append(["residues answered >= 90% right", str(m["classes_learned"])])
        return rows


class ModMul(Modular):
    """(a, b) -> a * b mod modulus, learnt as translation."""

    name: ClassVar[str] = "modmul"
    op: ClassVar[str] = "mul"


class ModAdd(Modular):
    """(a, b) -> a + b mod modulus, learnt as translation."""

    name: ClassVar[str] = "modadd"
    op: ClassVar[str] = "add"

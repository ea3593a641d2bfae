"""The interface every problem implements, built-in or user-written.

The loop knows a problem only through these classes. A problem owns:
- its settings (a pydantic model validated from the task file's `[problem]` table),
- its codec (problems/codecs.py): the vocabulary, fixed for the whole run, and how objects
  become tokens and back,
- how objects are stored (`Pool.objects`: one row per candidate, a contiguous array that
  kernels read), scored and verified, and the canonical key used for deduplication.

Two kinds of problem:
- `Problem` (unconditional, PatternBoost): no prompts; the model generates objects.
- `ConditionalProblem` (translation): prompts (a system, a pair of integers) map to answers;
  the model is fed prompt tokens and generates answer tokens.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict

from loopengine.pool import Pool
from loopengine.problems.codecs import Codec


class ProblemSettings(BaseModel):
    """Base for a problem's `[problem]` table: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


@dataclass
class SummaryTable:
    """A table of final results (printed at the end of `run`, by `show` and in the report),
    stored in summary.json under "table". Tables are never cut: a cell too long for the screen
    folds, or the table turns into one record per row (inspection/tables.py)."""

    title: str
    columns: list[str]
    rows: list[list[Any]]
    short: dict[str, str] | None = None  # long cell text -> a short word shown instead (with the legend)
    legend: str | None = None  # printed under the table: what the short words mean
    full_text: str | None = None  # where, in the run directory, every cell is in full

    def to_json(self) -> dict[str, Any]:
        out = {"title": self.title, "columns": self.columns, "rows": self.rows}
        optional = {"short": self.short, "legend": self.legend, "full_text": self.full_text}
        return {**out, **{k: v for k, v in optional.items() if v is not None}}

    @staticmethod
    def from_json(data: Any, title: str = "summary") -> SummaryTable | None:
        """The table stored in a summary.json's "table", or None when there is none (or it is
        not a table: a run directory is data, read without trusting it)."""
        if not isinstance(data, dict):
            return None
        columns, rows = data.get("columns", []), data.get("rows", [])
        if not isinstance(columns, list) or not isinstance(rows, list):
            return None
        short = data.get("short")
        short = {str(k): str(v) for k, v in short.items()} if isinstance(short, dict) else None
        text = lambda key: None if data.get(key) is None else str(data[key])  # noqa: E731
        return SummaryTable(str(data.get("title", title)), [str(c) for c in columns],
                            [list(r) if isinstance(r, list) else [r] for r in rows],
                            short, text("legend"), text("full_text"))


@dataclass
class Summary:
    """What `finalize` reports: plain JSON fields written to summary.json as they are, and
    optionally a table of results (written after them, under "table")."""

    fields: dict[str, Any] = field(default_factory=dict)
    table: SummaryTable | None = None

    def to_json(self) -> dict[str, Any]:
        return {**self.fields, **({"table": self.table.to_json()} if self.table is not None else {})}


class Problem:
    """A family of mathematical objects the loop searches, without prompts.

    A problem sets `name` and `Settings`, builds its `codec` in `__init__` (a shared one from
    problems/codecs.py when it fits), and implements `initial_pool` and `evaluate`; the rest
    has defaults. Randomness always comes from the `rng` / `seed` arguments so runs are
    reproducible.
    """

    name: ClassVar[str] = ""
    Settings: ClassVar[type[ProblemSettings]] = ProblemSettings
    # Which kernel the task's `[kernel] local_search = "default"` resolves to; None = no search.
    default_kernel: ClassVar[str | None] = None
    # Built-in kernels this problem brings: name -> "module:attribute", imported when used (a
    # function with the kernel signature, or a kernel.hpp-form kernel compiled into _core).
    kernels: ClassVar[dict[str, str]] = {}
    # The run's best candidate is written to best.<best_file_suffix> (see describe_best).
    best_file_suffix: ClassVar[str] = "txt"
    # Objects <-> tokens (vocabulary, encode, decode); set in __init__.
    codec: Codec

    def __init__(self, settings: ProblemSettings, task_dir: Path | None = None) -> None:
        self.settings = settings
        self.task_dir = task_dir

    @property
    def conditional(self) -> bool:
        """Whether the model is fed prompts: true for a ConditionalProblem."""
        return isinstance(self, ConditionalProblem)

    # ---- data -------------------------------------------------------------------------
    def initial_pool(self, rng: np.random.Generator, size: int) -> Pool:
        """Generation 0: random starts (unconditional, local search follows) or
        examples with known answers (conditional, e.g. backward generation)."""
        raise NotImplementedError

    def search_starts(self, rng: np.random.Generator, size: int, prompts: np.ndarray | None) -> Pool:
        """Fresh random starts for local search: the "random" start source of every generation
        after the first, and all there is in search alone (`[model] enabled = false`).
        Default: random starts as in generation 0. A conditional problem overrides this to
        give starting answers for `prompts`."""
        if self.conditional:
            raise NotImplementedError(f"{self.name}: search only needs search_starts() for a conditional problem")
        return self.initial_pool(rng, size)

    def has_curriculum(self) -> bool:
        """Whether the task configured seeds from a smaller run (the "curriculum" source)."""
        return False

    def curriculum_starts(self, rng: np.random.Generator, size: int, prompts: np.ndarray | None) -> Pool:
        """`size` starts from the curriculum's seeds (only called when has_curriculum())."""
        raise NotImplementedError(f"{self.name}: no curriculum seeds")

    # ---- judging ----------------------------------------------------------------------
    def evaluate(self, pool: Pool, threads: int = 0) -> Pool:
        """Fill pool.score (float64, higher is better) and pool.valid (bool). A candidate
        is valid only when the problem's verifier accepts it."""
        raise NotImplementedError

    def hits(self, pool: Pool) -> np.ndarray | None:
        """For a rare-event problem, the evaluated rows that are what a run is after (e.g. a
        counterexample), as a bool mask: each new distinct one (canonical_keys) pays its start
        source (sources.py), besides entering the elites or improving the best. None (the
        default): the problem has no such notion."""
        return None

    def canonical_keys(self, pool: Pool) -> list[bytes]:
        """Equal keys mean the same candidate (dedup). Default: the exact encoding."""
        objs = np.ascontiguousarray(pool.objects)
        if pool.prompts is None:
            return [row.tobytes() for row in objs]
        prompts = np.ascontiguousarray(pool.prompts)
        return [p.tobytes() + b"|" + o.tobytes() for p, o in zip(prompts, objs)]

    def best_known(self) -> float | None:
        """The best known score, if the literature has one (reports show the gap)."""
        return None

    # ---- for humans -------------------------------------------------------------------
    def human_columns(self, pool: Pool) -> dict[str, list[Any]]:
        """Columns in a human format for the archive (graph6, sympy text...)."""
        return {}

    def describe_best(self, pool: Pool, index: int) -> str:
        """A human rendering of one candidate, written as the run's best.* file."""
        cols = self.human_columns(pool.take(np.array([index])))
        return "\n".join(f"{k}: {v[0]}" for k, v in cols.items()) or repr(pool.objects[index])

    # ---- optional hooks: the defaults do nothing ----------------------------------------
    def decoding_constraint(self) -> Any:
        """An object that restricts what the model may emit while sampling, with
        `reset(batch, device)`, `allowed() -> (tokens (batch, vocab) bool, eos (batch,) bool)`
        and `update(tokens)` (the problem ids just emitted). None (default) = no constraint."""
        return None

    def model_metrics(self, generate, rng: np.random.Generator) -> dict[str, Any]:
        """Extra metrics measured with the trained model at the end of a generation
        (e.g. held-out accuracy). `generate(prompts) -> Pool` samples answers greedily."""
        return {}

    def progress_note(self, model_metrics: dict[str, Any]) -> str | None:
        """A short phrase from this generation's `model_metrics` for the per-generation
        progress line (e.g. "acc 61.2%"); kept in metrics.json as model.progress_note."""
        return None

    def state_dict(self) -> Any:
        """Whatever the problem accumulates across generations (e.g. the best candidates
        per target system), saved in every checkpoint so a resumed run ends as an
        uninterrupted one would. Plain data and arrays only (rundir/checkpoint.py).
        Default: no state."""
        return None

    def load_state_dict(self, state: Any) -> None:
        """Restore what `state_dict` returned (called on resume)."""

    def finalize(self, run_dir: Path, pool: Pool) -> Summary:
        """Called once after the last generation (e.g. certify the best candidates); the
        Summary goes into run_dir/summary.json. A long finalize says how far it is with
        `self.finalize_progress(...)`."""
        return Summary()

    def finalize_progress(self, text: str, done: int, total: int) -> None:
        """How far finalize() is ("certifying fwd1", 9, 14). The session replaces this with a
        progress bar while finalize runs; by default it is silent."""

    def headline(self, summary: dict[str, Any]) -> str | None:
        """The one line a user reads first (end of `run`, top of `show`, report and compare),
        from the run's summary.json. Default: the best score against the best known one."""
        return default_headline(summary)


class ConditionalProblem(Problem):
    """A problem whose model maps prompts to answers. Each row of a Pool carries its prompt
    (`pool.prompts`); the codec encodes and decodes answers, and these methods the prompts."""

    def max_prompt_tokens(self) -> int:
        """Longest prompt encoding, in tokens."""
        raise NotImplementedError

    def encode_prompts(self, prompts: np.ndarray) -> list[list[int]]:
        """Prompt token ids (indices into the codec's vocabulary), one list per prompt."""
        raise NotImplementedError

    def target_prompts(self, rng: np.random.Generator, size: int) -> np.ndarray | None:
        """Prompts the model is asked to solve this generation."""
        raise NotImplementedError

    def fresh_examples(self, rng: np.random.Generator, size: int) -> Pool | None:
        """Known-correct training examples drawn anew each generation; None when the
        problem has no generator of its own."""
        return None

    # ---- collapse metrics (optional) ----------------------------------------------------
    def answer_class(self, pool: Pool) -> list[Any] | None:
        """A hashable class per row's answer (e.g. the gcd the model answered; None for a
        malformed answer). The loop reports how many classes the model produces; None
        (default) skips the metric."""
        return None

    def true_answer_class(self, pool: Pool) -> list[Any] | None:
        """The class of the correct answer to each row's prompt, so produced classes can be
        compared with the true distribution (coverage). None (default) = unknown."""
        return None


def default_headline(summary: dict[str, Any]) -> str | None:
    """"best 127 / best known 127": what an optimisation problem is judged on (None when the
    run has no verified candidate yet)."""
    best, known = summary.get("best_ever"), summary.get("best_known")
    if best is None:
        return None
    line = f"best {_number(best)}"
    return line if known is None else f"{line} / best known {_number(known)}"


def _number(value: float) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() else f"{value:.6g}"

"""The interface every problem implements, built-in or user-written.

The loop knows a problem only through this class. A problem owns:
- its settings (a pydantic model validated from the task file's `[problem]` table),
- its vocabulary (fixed for the whole run, so checkpoints never drift),
- how objects are stored (`Pool.objects`: one row per candidate, a contiguous array that
  kernels read), encoded to tokens and decoded back,
- how objects are scored and verified, and the canonical key used for deduplication.

Two kinds of problem share the interface:
- unconditional (PatternBoost): `conditional = False`, no prompts; the model generates objects.
- conditional (translation): prompts (a system, a pair of integers) map to answers; the
  model is fed prompt tokens and generates answer tokens.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict

from loopengine.pool import Pool


class ProblemSettings(BaseModel):
    """Base for a problem's `[problem]` table: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class Problem:
    """A family of mathematical objects the loop searches.

    Subclasses set `name`, `Settings` and `conditional`, and implement the methods below.
    Randomness always comes from the `rng` / `seed` arguments so runs are reproducible.
    """

    name: ClassVar[str] = ""
    Settings: ClassVar[type[ProblemSettings]] = ProblemSettings
    conditional: ClassVar[bool] = False
    # Which kernel the task's `[kernel] local_search = "default"` resolves to; None = no search.
    default_kernel: ClassVar[str | None] = None
    # Built-in kernels this problem brings: name -> "module:attribute", imported when used (a
    # function with the kernel signature, or a kernel.hpp-form kernel compiled into _core).
    kernels: ClassVar[dict[str, str]] = {}

    def __init__(self, settings: ProblemSettings, task_dir: Path | None = None) -> None:
        self.settings = settings
        self.task_dir = task_dir

    # ---- vocabulary -------------------------------------------------------------------
    def vocabulary(self) -> list[str]:
        """Problem tokens (the engine adds its own PAD/BOS/SEP/EOS in front)."""
        raise NotImplementedError

    def max_answer_tokens(self) -> int:
        """Longest answer (or object) encoding, in tokens."""
        raise NotImplementedError

    def max_prompt_tokens(self) -> int:
        return 0

    # ---- encoding ---------------------------------------------------------------------
    def encode(self, pool: Pool) -> list[list[int]]:
        """Answer/object token ids (indices into `vocabulary()`), one list per row."""
        raise NotImplementedError

    def encode_prompts(self, prompts: np.ndarray) -> list[list[int]]:
        raise NotImplementedError

    def decode(self, tokens: list[list[int]], prompts: np.ndarray | None) -> Pool:
        """Token lists -> a Pool with one row per input. Rows that do not parse must still
        appear (e.g. as an empty object) and later evaluate as invalid; never raise."""
        raise NotImplementedError

    # ---- data -------------------------------------------------------------------------
    def initial_pool(self, rng: np.random.Generator, size: int) -> Pool:
        """Generation 0: random starts (unconditional, local search follows) or
        examples with known answers (conditional, e.g. backward generation)."""
        raise NotImplementedError

    def fresh_examples(self, rng: np.random.Generator, size: int) -> Pool | None:
        """Known-correct training examples drawn anew each generation (conditional
        problems); None when the problem has no generator of its own."""
        return None

    def target_prompts(self, rng: np.random.Generator, size: int) -> np.ndarray | None:
        """Prompts the model is asked to solve this generation (conditional only)."""
        return None

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

    def canonical_keys(self, pool: Pool) -> list[bytes]:
        """Equal keys mean the same candidate (dedup). Default: the exact encoding."""
        objs = np.ascontiguousarray(pool.objects)
        if pool.prompts is None:
            return [row.tobytes() for row in objs]
        prompts = np.ascontiguousarray(pool.prompts)
        return [p.tobytes() + b"|" + o.tobytes() for p, o in zip(prompts, objs)]

    def answer_class(self, pool: Pool) -> list[Any] | None:
        """Optional collapse metric for conditional problems: a hashable class per row's
        answer (e.g. the gcd the model answered; None for a malformed answer). The loop
        reports how many classes the model produces; None (default) skips the metric."""
        return None

    def true_answer_class(self, pool: Pool) -> list[Any] | None:
        """The class of the correct answer to each row's prompt, so produced classes can be
        compared with the true distribution (coverage). None (default) = unknown."""
        return None

    def human_columns(self, pool: Pool) -> dict[str, list[Any]]:
        """Columns in a human format for the archive (graph6, sympy text...)."""
        return {}

    def best_known(self) -> float | None:
        """The best known score, if the literature has one (reports show the gap)."""
        return None

    def describe_best(self, pool: Pool, index: int) -> str:
        """A human rendering of one candidate, written as the run's best.* file."""
        cols = self.human_columns(pool.take(np.array([index])))
        return "\n".join(f"{k}: {v[0]}" for k, v in cols.items()) or repr(pool.objects[index])

    def best_file_suffix(self) -> str:
        return "txt"

    def decoding_constraint(self) -> Any:
        """Optional: an object that restricts what the model may emit while sampling, with
        `reset(batch, device)`, `allowed() -> (tokens (batch, vocab) bool, eos (batch,) bool)`
        and `update(tokens)` (the problem ids just emitted). None (default) = no constraint."""
        return None

    def model_metrics(self, generate, rng: np.random.Generator) -> dict[str, Any]:
        """Extra metrics measured with the trained model at the end of a generation
        (e.g. held-out accuracy). `generate(prompts) -> Pool` samples answers greedily."""
        return {}

    def state_dict(self) -> Any:
        """Whatever the problem accumulates across generations (e.g. the best candidates
        per target system), saved in every checkpoint so a resumed run ends as an
        uninterrupted one would. Must be picklable. Default: no state."""
        return None

    def load_state_dict(self, state: Any) -> None:
        """Restore what `state_dict` returned (called on resume)."""

    def finalize(self, run_dir: Path, pool: Pool) -> dict[str, Any]:
        """Called once after the last generation (e.g. certify the best candidates).
        Returns a summary dict saved to run_dir/summary.json."""
        return {}

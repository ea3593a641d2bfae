"""The generation cycle, and nothing else:

    sample -> local search -> verify -> dedup, rank, select -> fine-tune -> archive

The loop knows problems and kernels only through their interfaces. All randomness of
generation g comes from (seed, g), and everything carried between generations is in the
checkpoint, so a resumed run reproduces an uninterrupted one.
"""
from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from loopengine import archive, metrics as M
from loopengine.config import Task
from loopengine.execution import make_executor
from loopengine.fastdata import TokenMix, TokenSet, from_examples, from_token_arrays
from loopengine.kernels import Kernel
from loopengine.model import N_SPECIAL, ModelShape, Transformer, pick_device, set_cpu_threads
from loopengine.pool import Pool
from loopengine.problems.base import Problem
from loopengine.progress import RunProgress
from loopengine.selection import EliteArchive, admissible, next_temperature, training_set
from loopengine.train import Example, adamw_options, sample, train_steps


def derived_seed(seed: int, generation: int, purpose: int) -> int:
    return int(np.random.SeedSequence([seed, generation, purpose]).generate_state(1, np.uint64)[0] >> 1)


@dataclass
class LoopState:
    """Everything that crosses from one generation to the next (saved in each checkpoint)."""

    next_generation: int = 0
    temperature: float = 1.0
    elites: EliteArchive = field(default_factory=lambda: EliteArchive(0))
    seen: set[int] = field(default_factory=set)  # fingerprints of every candidate so far (novelty)
    repeated: dict = field(default_factory=dict)  # the two-set repeated set (TokenSet.to_dict)
    elapsed: float = 0.0


class Loop:
    def __init__(self, task: Task, problem: Problem, kernel: Kernel | None, run_dir: Path,
                 quiet: bool = False) -> None:
        self.task, self.problem, self.kernel, self.run_dir = task, problem, kernel, run_dir
        self.quiet = quiet
        self.device = pick_device()
        set_cpu_threads(task.execution.threads)
        self.executor = make_executor(task.execution)
        torch.manual_seed(derived_seed(task.task.seed, 0, 0))  # initial weights follow the seed too
        self.model = Transformer(self.model_shape())
        self.model.to(self.device)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=task.train.lr,
                                           weight_decay=task.train.weight_decay, **adamw_options())
        self.state = LoopState(temperature=task.sampling.temperature, elites=EliteArchive(task.loop.elite_size))

    # ---- setup --------------------------------------------------------------------------
    def model_shape(self) -> ModelShape:
        m, p = self.task.model, self.problem
        need = p.max_prompt_tokens() + p.max_answer_tokens() + 3  # BOS, SEP, EOS
        context = m.context or need
        return ModelShape(vocab=len(p.vocabulary()) + N_SPECIAL, context=context, layers=m.layers,
                          heads=m.heads, width=m.width, dropout=m.dropout)

    def restore(self, checkpoint: dict[str, Any]) -> None:
        self.model.load_state_dict(checkpoint["model"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.state = checkpoint["loop_state"]
        self.problem.load_state_dict(checkpoint.get("problem_state"))
        torch.set_rng_state(checkpoint["rng"]["torch"])
        random.setstate(checkpoint["rng"]["python"])

    def checkpoint(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "model_shape": self.model.shape.__dict__,
            "optimizer": self.optimizer.state_dict(),
            "loop_state": self.state,
            "problem_state": self.problem.state_dict(),
            "rng": {"torch": torch.get_rng_state(), "python": random.getstate(),
                    "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None},
            "archive_format": archive.ARCHIVE_FORMAT,
        }

    # ---- steps --------------------------------------------------------------------------
    def search(self, objects: np.ndarray, prompts: np.ndarray | None, seed: int, params: dict) -> np.ndarray:
        return self.executor.run(self.kernel, objects, prompts, seed, params)

    def prompt_tokens(self, prompts: np.ndarray | None, count: int) -> list[list[int]]:
        return [[] for _ in range(count)] if prompts is None else self.problem.encode_prompts(prompts)

    def examples(self, pool: Pool | None) -> list[Example]:
        if pool is None or not len(pool):
            return []
        return list(zip(self.prompt_tokens(pool.prompts, len(pool)), self.problem.encode(pool)))

    def generate(self, prompts: np.ndarray | None, count: int, temperature: float,
                 generator: torch.Generator) -> Pool:
        s = self.task.sampling
        tokens = sample(self.model, self.prompt_tokens(prompts, count), self.problem.max_answer_tokens(),
                        temperature, s.batch_size, generator, self.device)
        pool = self.problem.decode(tokens, prompts)
        pool.origin = np.full(len(pool), "sample", dtype=object)
        return pool

    def candidates(self, g: int, rng: np.random.Generator, generator: torch.Generator,
                   progress: RunProgress, timings: dict[str, float]) -> tuple[Pool, int, Pool | None]:
        """This generation's candidates, how many of them the model sampled (the first rows),
        and the model's samples as sampled, before local search (None at g = 0)."""
        p, loop, k = self.problem, self.task.loop, self.task.kernel
        t0 = time.perf_counter()
        if g == 0:
            progress.phase(g, "seeding")
            pool = p.initial_pool(rng, loop.initial_pool)
            n_samples, raw = 0, None
        else:
            progress.phase(g, "sampling")
            prompts = p.target_prompts(rng, loop.samples_per_generation) if p.conditional else None
            pool = self.generate(prompts, loop.samples_per_generation, self.state.temperature, generator)
            n_samples, raw = len(pool), pool.take(np.arange(len(pool)))
        timings["sample"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        if self.kernel is not None and (g > 0 or not p.conditional):
            progress.phase(g, "local search")
            before = pool.objects.copy()
            pool.objects = self.search(pool.objects, pool.prompts, derived_seed(self.task.task.seed, g, 1), k.params)
            if g > 0:
                changed = np.any(before.reshape(len(pool), -1) != pool.objects.reshape(len(pool), -1), axis=1)
                pool.origin = np.where(changed, "search", pool.origin).astype(object)
            elites = self.state.elites.top(loop.elite_reentry) if not p.conditional else None
            if g > 0 and elites is not None and len(elites):
                elites.objects = self.search(elites.objects, elites.prompts,
                                             derived_seed(self.task.task.seed, g, 2), k.elite_params)
                elites.score = elites.valid = None
                pool = Pool.concat([pool, elites])
        timings["search"] = time.perf_counter() - t0
        return pool, n_samples, raw

    def token_set(self, pool: Pool | None) -> TokenSet:
        """A pool's training rows as tensors: written by the problem's C++ encoder when it
        has one (encode_tokens), else collated once from its token lists."""
        hook = getattr(self.problem, "encode_tokens", None)
        if pool is not None and len(pool) and hook is not None:
            return from_token_arrays(*hook(pool))
        return from_examples(self.examples(pool), self.model.shape.context)

    def token_mix(self, selected: TokenSet, rng: np.random.Generator, budget: int) -> TokenMix:
        """Fresh training examples: verified candidates of this generation, mixed (for
        conditional problems with a generator) with newly generated known-answer examples."""
        share = self.task.loop.generator_fraction if self.problem.conditional else 0.0
        generated = None
        if share > 0:
            generated = self.token_set(self.problem.fresh_examples(rng, max(1, math.ceil(budget * share))))
        return TokenMix(generated, share, selected)

    def train(self, g: int, selected: Pool | None, elite_rows: Pool | None, rng: np.random.Generator,
              progress: RunProgress) -> float:
        t = self.task.train
        steps = t.first_steps if g == 0 else t.steps
        if steps == 0:
            return float("nan")
        budget = steps * t.batch_size
        selected_set = self.token_set(selected)
        mix = self.token_mix(selected_set, rng, budget)
        if t.repeat_set_size > 0:
            if g == 0 or not self.state.repeated:
                # the repeated set is drawn once and kept for the whole run
                source = self.problem.fresh_examples(rng, t.repeat_set_size) if self.problem.conditional else None
                repeated = (self.token_set(source) if source is not None
                            else selected_set.take(torch.arange(min(t.repeat_set_size, len(selected_set)))))
                self.state.repeated = repeated.to_dict()
            if isinstance(self.state.repeated, list):  # a checkpoint from before the tensor path
                self.state.repeated = from_examples(self.state.repeated, self.model.shape.context).to_dict()
            mix.repeated, mix.repeat_prob = TokenSet.from_dict(self.state.repeated), t.repeat_prob
        else:
            elites = self.token_set(elite_rows)
            mix.repeated, mix.repeat_prob = elites, self.task.selection.elite_fraction if len(elites) else 0.0
        progress.phase(g, "training", total=steps)
        return train_steps(self.model, self.optimizer, mix, steps, t.batch_size, rng, self.device,
                           on_step=lambda s, loss: progress.advance(1, "steps"))

    def evaluated_samples(self, raw: Pool, pool: Pool, n_samples: int) -> Pool:
        """The model's own samples, judged as sampled: rows local search left alone share
        the pool's verdict; only the rows it changed are verified again."""
        searched = pool.take(np.arange(n_samples))
        changed = np.any(raw.objects.reshape(n_samples, -1) != searched.objects.reshape(n_samples, -1), axis=1)
        raw.score = np.asarray(searched.score, dtype=np.float64).copy()
        raw.valid = np.asarray(searched.valid, dtype=bool).copy()
        if changed.any():
            again = self.problem.evaluate(raw.take(np.flatnonzero(changed)), self.executor.threads)
            raw.score[changed], raw.valid[changed] = again.score, again.valid
        return raw

    def sample_metrics(self, pool: Pool, n_samples: int, raw: Pool | None) -> dict[str, Any]:
        """Collapse metrics, measured on what the model sampled before local search touched
        it (the seeds at g = 0). Novelty counts as seen everything of earlier generations:
        samples and the searched or seeded candidates alike."""
        view = pool if raw is None else self.evaluated_samples(raw, pool, n_samples)
        out, fingerprints = M.collapse_metrics(self.problem, view, self.state.seen)
        self.state.seen.update(fingerprints)
        if raw is not None:
            self.state.seen.update(M.fingerprint(k) for k in self.problem.canonical_keys(pool))
        return out

    def adjust_temperature(self, unique: float) -> None:
        self.state.temperature = next_temperature(self.state.temperature, unique, self.task.sampling)

    # ---- one generation -------------------------------------------------------------------
    def generation(self, g: int, progress: RunProgress) -> dict[str, Any]:
        seed = self.task.task.seed
        rng = np.random.default_rng([seed, g])
        torch.manual_seed(derived_seed(seed, g, 3))
        generator = torch.Generator(device=self.device).manual_seed(derived_seed(seed, g, 4))
        timings: dict[str, float] = {}
        start = time.perf_counter()
        temperature = self.state.temperature

        pool, n_samples, raw = self.candidates(g, rng, generator, progress, timings)
        t0 = time.perf_counter()
        progress.phase(g, "verifying")
        self.problem.evaluate(pool, self.executor.threads)
        timings["verify"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        collapse = self.sample_metrics(pool, n_samples, raw)
        selected = admissible(pool, self.problem, self.task.selection)
        self.state.elites.update(pool, self.problem)
        fresh_rows, elite_rows = training_set(selected, self.state.elites, self.task.loop.keep,
                                              self.task.selection, self.problem)
        timings["select"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        loss = self.train(g, fresh_rows, elite_rows, rng, progress)
        timings["train"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        progress.phase(g, "evaluating model")
        greedy = lambda prompts: self.generate(prompts, len(prompts), 0.0, generator)  # noqa: E731
        model_metrics = self.problem.model_metrics(greedy, np.random.default_rng([seed, g, 5]))
        timings["model_eval"] = time.perf_counter() - t0

        if g > 0:
            self.adjust_temperature(collapse["unique_fraction"])
        timings["total"] = time.perf_counter() - start
        self.state.elapsed += timings["total"]
        self.state.next_generation = g + 1
        scores = M.score_summary(pool.score, pool.valid)
        best_known = self.problem.best_known()
        best_ever = self.state.elites.best_score()
        metrics = {
            "generation": g,
            "candidates": len(pool),
            "samples": n_samples,
            "selected": 0 if fresh_rows is None else len(fresh_rows),
            # with two-set training the repeated set takes the replay slot, so elites are not replayed
            "elites_replayed": 0 if elite_rows is None or self.task.train.repeat_set_size > 0 else len(elite_rows),
            **scores,
            "best_ever": best_ever,
            "best_known": best_known,
            "gap": None if best_known is None or best_ever is None else best_known - best_ever,
            "valid_fraction": float(np.mean(pool.valid)) if len(pool) else 0.0,
            **collapse,
            "temperature": temperature,
            "next_temperature": self.state.temperature,
            "train_loss": loss,
            "elapsed": self.state.elapsed,
            "timings": timings,
            "model": model_metrics,
            "execution_events": self.executor.take_events(),
        }
        best = None
        if self.state.elites.pool is not None and len(self.state.elites.pool):
            best = (self.problem.best_file_suffix(), self.problem.describe_best(self.state.elites.pool, 0))
        archive.write_generation(self.run_dir, g, pool, self.problem, metrics, self.checkpoint(), best)
        self._last_pool = pool
        return metrics

    def run(self, until: int) -> dict[str, Any]:
        """Run generations up to (not including) `until`; return the problem's final summary."""
        with RunProgress(until, quiet=self.quiet) as progress:
            try:
                for g in range(self.state.next_generation, until):
                    progress.generation_done(self.generation(g, progress))
            finally:
                self.executor.close()
        # finalize on the last generation's candidates, or on the elites when this call ran
        # no generation (resuming a run that had already finished)
        final_pool = getattr(self, "_last_pool", None) or self.state.elites.pool
        summary = self.problem.finalize(self.run_dir, final_pool) if final_pool is not None else {}
        summary = {"generations": len(archive.complete_generations(self.run_dir)),
                   "best_ever": self.state.elites.best_score(), "best_known": self.problem.best_known(), **summary}
        archive.write_json(self.run_dir / "summary.json", summary)
        return summary

"""The generation cycle, and nothing else:

    starts from the sources -> local search -> verify -> dedup, rank, select -> fine-tune -> archive

The loop knows problems and kernels only through their interfaces, and is handed everything
it uses (problem, kernel, executor, model) by session.py. All randomness of generation g comes
from (seed, g), and everything carried between generations is in the checkpoint, so a resumed
run reproduces an uninterrupted one.

Every generation after the first splits its starts among start sources (the model's samples,
random starts, curriculum seeds, the elites) by their measured yield (sources.py). With
`[model] enabled = false` there is no model source: the search-only baseline.
"""
from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from loopengine import metrics as M
from loopengine import sources as S
from loopengine.config import Task
from loopengine.execution import Executor
from loopengine.kernels.resolve import Kernel
from loopengine.learn.model import Transformer
from loopengine.learn.train import generation_lr, prompt_tokens, sample, train_steps, training_sampler
from loopengine.pool import Pool
from loopengine.problems.base import Problem
from loopengine.progress import RunProgress
from loopengine.rundir import archive
from loopengine.rundir.checkpoint import decode, encode
from loopengine.selection import EliteArchive, admissible, next_temperature, training_set


def derived_seed(seed: int, generation: int, purpose: int) -> int:
    return int(np.random.SeedSequence([seed, generation, purpose]).generate_state(1, np.uint64)[0] >> 1)


def reached_best_known(score: float | None, best_known: float | None) -> bool:
    return score is not None and best_known is not None and score >= best_known


@dataclass
class LoopState:
    """Everything that crosses from one generation to the next (saved in each checkpoint)."""

    next_generation: int = 0
    temperature: float = 1.0
    elites: EliteArchive = field(default_factory=lambda: EliteArchive(0))
    seen: set[int] = field(default_factory=set)  # fingerprints of every candidate so far (novelty)
    repeated: dict = field(default_factory=dict)  # the two-set repeated set (TokenSet.to_dict: plain tensors)
    sources: dict = field(default_factory=S.new_state)  # the allocator's counts and shares (sources.py)
    elapsed: float = 0.0


@dataclass
class OtherSources:
    """Generation `generation`'s starts from the sources other than the model, searched: the
    random and curriculum rows (`fresh`) and the perturbed elites, with the shares they were
    split by, their seconds (draw, search_fresh, search_elites) and the execution events of
    their search."""

    generation: int
    shares: dict[str, float]
    fresh: Pool | None
    elites: Pool | None
    timings: dict[str, float]
    events: list[dict[str, Any]] = field(default_factory=list)


class TrainingCancelled(Exception):
    """Raised inside an overlapped fine-tuning when the loop stops waiting for it (a second
    Ctrl-C during the wait); a failure of the next generation's search does not cancel it."""


class Loop:
    def __init__(self, task: Task, problem: Problem, kernel: Kernel | None, executor: Executor, run_dir: Path,
                 model: Transformer | None, optimizer: torch.optim.Optimizer | None, device: torch.device,
                 quiet: bool = False, overlap: bool = False) -> None:
        self.task, self.problem, self.kernel, self.executor = task, problem, kernel, executor
        self.run_dir, self.quiet = run_dir, quiet
        self.model, self.optimizer, self.device = model, optimizer, device
        self.overlap = overlap and model is not None  # train.overlap, as session.overlaps_training decided
        self.state = LoopState(temperature=task.sampling.temperature, elites=EliteArchive(task.loop.elite_size))
        # the candidates of the last generation this process ran (what finalize() judges)
        self.last_pool: Pool | None = None
        # the next generation's other sources, searched while this one's model trained, and
        # what stopped that search (raised once this generation is written)
        self.prefetched: OtherSources | None = None
        self.deferred_error: BaseException | None = None

    # ---- checkpoints --------------------------------------------------------------------
    def restore(self, checkpoint: dict[str, Any]) -> None:
        checkpoint = decode(checkpoint)  # checkpoints are tensors + plain data (checkpoint.py)
        if self.model is not None:
            # checkpoints hold CPU tensors; both calls copy them onto the model's device
            self.model.load_state_dict(checkpoint["model"])
            self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.state = checkpoint["loop_state"]
        self.problem.load_state_dict(checkpoint.get("problem_state"))
        torch.set_rng_state(checkpoint["rng"]["torch"])
        random.setstate(checkpoint["rng"]["python"])
        # Every generation reseeds torch (CPU and GPUs) from (seed, g), so the GPU state is not
        # what makes a resume exact; it is restored when this machine has the same GPUs, and
        # ignored by one with other GPUs or none (a checkpoint written on a GPU resumes on a CPU).
        cuda = checkpoint["rng"].get("cuda")
        if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)

    def checkpoint(self) -> dict[str, Any]:
        return encode({  # loadable with torch.load(weights_only=True)
            "model": None if self.model is None else self.model.state_dict(),
            "model_shape": None if self.model is None else self.model.shape.__dict__,
            "vocabulary": None if self.model is None else self.problem.codec.vocabulary(),  # for init_from
            "optimizer": None if self.optimizer is None else self.optimizer.state_dict(),
            "loop_state": self.state,
            "problem_state": self.problem.state_dict(),
            "rng": {"torch": torch.get_rng_state(), "python": random.getstate(),
                    "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None},
            "archive_format": archive.ARCHIVE_FORMAT,
        })

    # ---- steps --------------------------------------------------------------------------
    def search(self, objects: np.ndarray, prompts: np.ndarray | None, seed: int, params: dict) -> np.ndarray:
        return self.executor.run(self.kernel, objects, prompts, seed, params)

    def generate(self, prompts: np.ndarray | None, count: int, temperature: float,
                 generator: torch.Generator) -> Pool:
        s = self.task.sampling
        tokens = sample(self.model, prompt_tokens(self.problem, prompts, count),
                        self.problem.codec.max_answer_tokens(),
                        temperature, s.batch_size, generator, self.device, self.problem.decoding_constraint())
        return self.problem.codec.decode(tokens, prompts)  # draw() labels the rows with their source

    def source_names(self) -> list[str]:
        """The start sources available now, in pool order (sources.py)."""
        p, loop = self.problem, self.task.loop
        names = [S.MODEL] if self.model is not None else []
        if S.has_search_starts(p):
            names.append(S.RANDOM)
        if p.has_curriculum():
            names.append(S.CURRICULUM)
        if not p.conditional and loop.elite_reentry > 0 and len(self.state.elites):
            names.append(S.ELITES)
        return [n for n in names if n not in self.task.sources.exclude]

    def shares(self, names: list[str]) -> dict[str, float]:
        """This generation's shares: those the allocator set at the end of the last one."""
        return S.allocate(names, self.state.sources["history"], self.state.sources["shares"], self.task.sources)

    def draw(self, name: str, count: int, rng: np.random.Generator, generator: torch.Generator | None) -> Pool:
        """`count` starts from one source, labelled with its name (`generator`: the model's)."""
        p = self.problem
        prompts = p.target_prompts(rng, count) if p.conditional else None
        if name == S.MODEL:
            pool = self.generate(prompts, count, self.state.temperature, generator)
        elif name == S.RANDOM:
            pool = p.search_starts(rng, count, prompts)
        elif name == S.CURRICULUM:
            pool = p.curriculum_starts(rng, count, prompts)
        else:  # the top elites, cycled to fill the share; the kernel's elite_params perturb them
            top = self.state.elites.top(self.task.loop.elite_reentry)
            pool = top.take(np.arange(count) % len(top))
            pool.score = pool.valid = None
        pool.origin = np.full(len(pool), name, dtype=object)
        return pool

    def source_rng(self, g: int, name: str) -> np.random.Generator:
        """Each source draws from its own stream of (seed, g), so its starts do not depend on
        which source drew first: the other sources' starts of generation g + 1 can be drawn
        while the model of generation g still trains (train.overlap)."""
        return np.random.default_rng([self.task.task.seed, g, 100 + S.ORDER.index(name)])

    def split_starts(self) -> tuple[list[str], dict[str, float], dict[str, int]]:
        """The next generation's sources, shares (those the allocator set at the end of the
        last one) and starts per source."""
        names = self.source_names()
        shares = self.shares(names)
        return names, shares, S.split(self.task.loop.samples_per_generation, shares)

    def other_sources(self, g: int) -> OtherSources:
        """Generation g's starts from every source but the model, drawn and searched. Nothing
        here reads the model, so with train.overlap this runs while generation g - 1's model
        fine-tunes."""
        seed, k = self.task.task.seed, self.task.kernel
        names, shares, counts = self.split_starts()
        t0 = time.perf_counter()
        parts = {n: self.draw(n, counts[n], self.source_rng(g, n), None)
                 for n in names if n != S.MODEL and counts[n]}
        fresh = [parts[n] for n in parts if n != S.ELITES]
        out = OtherSources(g, shares, Pool.concat(fresh) if fresh else None, parts.get(S.ELITES),
                           {"draw": time.perf_counter() - t0, "search_fresh": 0.0, "search_elites": 0.0})
        if self.kernel is not None:
            if out.fresh is not None:
                t0 = time.perf_counter()
                out.fresh = self.searched(out.fresh, derived_seed(seed, g, 1), k.params, label=True)
                out.timings["search_fresh"] = time.perf_counter() - t0
            if out.elites is not None:
                t0 = time.perf_counter()
                out.elites = self.searched(out.elites, derived_seed(seed, g, 2), k.elite_params, label=True)
                out.timings["search_elites"] = time.perf_counter() - t0
        out.events = self.executor.take_events()
        return out

    def seed_pool(self, rng: np.random.Generator, timings: dict[str, float]) -> Pool:
        """Generation 0's candidates: the problem's initial pool, searched unless conditional."""
        p, k = self.problem, self.task.kernel
        t0 = time.perf_counter()
        pool = p.initial_pool(rng, self.task.loop.initial_pool)
        timings["sample"] = time.perf_counter() - t0
        timings["search_model"] = timings["search_elites"] = 0.0
        t0 = time.perf_counter()
        if self.kernel is not None and not p.conditional:
            pool = self.searched(pool, derived_seed(self.task.task.seed, 0, 1), k.params, label=False)
        timings["search"] = timings["search_fresh"] = timings["kernel"] = time.perf_counter() - t0
        return pool

    def candidates(self, g: int, rng: np.random.Generator, generator: torch.Generator,
                   progress: RunProgress, timings: dict[str, float],
                   events: list[dict[str, Any]]) -> tuple[Pool, Pool | None, dict]:
        """This generation's candidates (every source's starts after local search, the model's
        first, the elites last), the model's raw samples (None when the model did not sample)
        and the shares the starts were split by. The other sources' part comes from the last
        generation when it ran them during its training (train.overlap); `events` gets the
        execution events of their search."""
        if g == 0:
            progress.phase(g, "seeding")
            return self.seed_pool(rng, timings), None, {}
        others = self.prefetched if self.prefetched is not None and self.prefetched.generation == g else None
        self.prefetched, prefetched = None, others is not None
        if others is None:
            progress.phase(g, "local search")
            others = self.other_sources(g)
        events.extend(others.events)
        timings.update(others.timings)
        _, shares, counts = self.split_starts()
        if shares != others.shares:  # the state the overlap read must be the state now
            raise RuntimeError(f"generation {g}: prefetched starts were split by {others.shares}, now {shares}")
        model, raw = None, None
        timings["search_model"] = 0.0
        if counts.get(S.MODEL):
            progress.phase(g, "sampling")
            t0 = time.perf_counter()
            model = self.draw(S.MODEL, counts[S.MODEL], self.source_rng(g, S.MODEL), generator)
            raw = model.take(np.arange(len(model)))
            timings["sample_model"] = time.perf_counter() - t0
            if self.kernel is not None:
                progress.phase(g, "local search")
                t0 = time.perf_counter()
                model = self.searched(model, derived_seed(self.task.task.seed, g, 6), self.task.kernel.params,
                                      label=True)
                timings["search_model"] = time.perf_counter() - t0
        # "kernel": this generation's kernel seconds wherever they ran (the training budget
        # reads it); "sample" and "search": the part of this generation's own wall time, without
        # what the last generation's overlap already did (that is in its "train")
        others_search = timings["search_fresh"] + timings["search_elites"]
        timings["kernel"] = timings["search_model"] + others_search
        timings["search"] = timings["search_model"] + (0.0 if prefetched else others_search)
        draw = timings.pop("draw")
        timings["sample"] = timings.get("sample_model", 0.0) + (0.0 if prefetched else draw)
        pool = Pool.concat([x for x in (model, others.fresh, others.elites) if x is not None])
        return pool, raw, shares

    def searched(self, pool: Pool, seed: int, params: dict, label: bool) -> Pool:
        """`pool` after local search; with `label`, the rows search changed get "+search"."""
        before = pool.objects.copy()
        pool.objects = self.search(pool.objects, pool.prompts, seed, params)
        if label:
            changed = np.any(before.reshape(len(pool), -1) != pool.objects.reshape(len(pool), -1), axis=1)
            pool.origin = np.array([o + S.SEARCHED if c else o for o, c in zip(pool.origin, changed)], dtype=object)
        return pool

    def account(self, pool: Pool, entered: np.ndarray, best_before: float | None,
                shares: dict[str, float], timings: dict[str, float]) -> dict[str, dict]:
        """Credit this generation's sources for what they found, book what each cost, and set
        the next shares."""
        state = self.state.sources
        names = self.source_names()
        # per-prompt bests matter only where sources compete; a model-only conditional run
        # (the integer problems) would otherwise store every random prompt it ever saw
        prompt_best = state["prompt_best"] if len(names) > 1 or not self.problem.conditional else {}
        hits = S.new_hits(self.problem.hits(pool), lambda: self.problem.canonical_keys(pool),
                          state.setdefault("hits", set()))
        credit = S.Credit(pool, entered, best_before, prompt_best, hits)
        # the model's samples of this generation cost their sampling and the fine-tuning after
        # the last generation that prepared them (kept in the state across a resume)
        model_extra = timings.get("sample_model", 0.0) + state.pop("train_seconds", 0.0)
        seconds = S.source_seconds(pool.origin, timings, {S.MODEL: model_extra}) if shares else None
        out = S.record(state, pool, credit, list(shares), shares, self.task.sources, seconds)
        state["shares"] = S.allocate(names, state["history"], state["shares"], self.task.sources)
        return out

    def train_steps(self, g: int) -> int:
        """Fine-tuning steps of generation g: train.steps scaled by what the model earns (its
        share of the next generation over an equal share, sources.training_scale)."""
        t = self.task.train
        if g == 0:
            return t.first_steps
        names = self.source_names()
        scale = S.training_scale(self.state.sources["shares"].get(S.MODEL), names, self.task.sources)
        if scale >= 1 or t.steps == 0:
            return t.steps
        return max(1, round(t.steps * scale))

    def training_deadline(self, kernel_seconds: float) -> float | None:
        """cost = "seconds": fine-tuning stops when it has taken the model's share of the next
        generation times this generation's kernel seconds (sources.training_budget); None
        (no time limit) with cost = "starts", where only the step count decides."""
        if self.task.sources.cost != "seconds":
            return None
        budget = S.training_budget(self.state.sources["shares"].get(S.MODEL), kernel_seconds)
        return None if budget is None else time.perf_counter() + budget

    def train(self, g: int, steps: int, selected: Pool | None, elite_rows: Pool | None, rng: np.random.Generator,
              progress: RunProgress, deadline: float | None = None,
              cancel: threading.Event | None = None) -> tuple[float, list[float]]:
        """`steps` fine-tuning steps on this generation's training mix (fewer if the clock
        passes `deadline`): (mean loss of the last steps, the loss of every step) for
        metrics.json; (nan, []) when no step runs."""
        t = self.task.train
        if self.model is None or steps == 0:
            return float("nan"), []
        sampler, self.state.repeated = training_sampler(self.problem, self.task, g == 0, selected, elite_rows,
                                                        self.state.repeated, rng, steps * t.batch_size,
                                                        self.model.shape.context)
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr(g)
        progress.phase(g, "training", total=steps)

        losses: list[torch.Tensor] = []  # kept on the device: read once, after the last step

        def on_step(step: int, loss: torch.Tensor) -> None:
            if cancel is not None and cancel.is_set():
                raise TrainingCancelled
            losses.append(loss)
            progress.advance(1, "steps")

        mean = train_steps(self.model, self.optimizer, sampler, steps, t.batch_size, rng, self.device,
                           on_step=on_step, deadline=deadline)
        if not losses:
            return mean, []
        return mean, [round(x, 5) for x in torch.stack(losses).double().cpu().tolist()]

    def train_overlapped(self, g: int, steps: int, selected: Pool | None, elite_rows: Pool | None,
                         rng: np.random.Generator, progress: RunProgress, deadline: float | None,
                         timings: dict[str, float]) -> tuple[float, list[float]]:
        """Fine-tune in a thread while this thread draws and searches generation g + 1's
        other sources (self.prefetched), then wait for the training. The result is the same
        as training first: those sources read neither the model nor the torch RNG, and every
        source draws from its own stream (source_rng). timings gets "train" (the wall time of
        the whole phase, so the phases still add up to "total"), "train_own" (the training's
        own seconds), "search_next" (the next generation's search, done meanwhile) and
        "train_wait" (how long the loop still waited for the training after it)."""
        cancel = threading.Event()

        def timed_train() -> tuple[float, list[float], float]:
            t0 = time.perf_counter()
            loss, losses = self.train(g, steps, selected, elite_rows, rng, progress, deadline, cancel)
            return loss, losses, time.perf_counter() - t0

        start = time.perf_counter()
        with ThreadPoolExecutor(1, thread_name_prefix="loopengine-train") as pool:
            future = pool.submit(timed_train)
            try:
                t0 = time.perf_counter()
                try:
                    self.prefetched = self.other_sources(g + 1)
                except BaseException as error:  # noqa: BLE001 - re-raised by generation(), after this one is written
                    # the next generation's failure (a kernel error, Ctrl-C) must not cost this
                    # one: it finishes training and is written, as in the sequential loop
                    self.deferred_error = error
                timings["search_next"] = time.perf_counter() - t0
                t0 = time.perf_counter()
                loss, losses, timings["train_own"] = future.result()
                timings["train_wait"] = time.perf_counter() - t0
            except BaseException:  # the training failed, or a second Ctrl-C while waiting for it
                cancel.set()  # the training stops at its next step; leaving the with-block waits for it
                self.prefetched = self.deferred_error = None  # this error supersedes a deferred one
                raise
        timings["train"] = time.perf_counter() - start
        return loss, losses

    def lr(self, g: int) -> float:
        t = self.task.train
        return generation_lr(t.lr, t.lr_final, g, self.task.task.generations)

    def model_metrics(self, g: int, generator: torch.Generator) -> dict[str, Any]:
        if self.model is None:
            return {}
        greedy = lambda prompts: self.generate(prompts, len(prompts), 0.0, generator)  # noqa: E731
        metrics = self.problem.model_metrics(greedy, np.random.default_rng([self.task.task.seed, g, 5]))
        note = self.problem.progress_note(metrics)
        if note is not None:
            metrics["progress_note"] = note  # the progress line shows it (progress.py)
        return metrics

    # ---- one generation -------------------------------------------------------------------
    def generation(self, g: int, progress: RunProgress, next_runs: bool = False) -> dict[str, Any]:
        """Run generation g. `next_runs`: generation g + 1 follows in this process, so with
        train.overlap its other sources can be searched while this generation's model trains."""
        seed = self.task.task.seed
        rng = np.random.default_rng([seed, g])
        torch.manual_seed(derived_seed(seed, g, 3))
        generator = torch.Generator(device=self.device).manual_seed(derived_seed(seed, g, 4))
        timings: dict[str, float] = {}
        events: list[dict[str, Any]] = []
        start = time.perf_counter()
        temperature = self.state.temperature

        pool, raw, shares = self.candidates(g, rng, generator, progress, timings, events)
        t0 = time.perf_counter()
        progress.phase(g, "verifying")
        self.problem.evaluate(pool, self.executor.threads)
        timings["verify"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        collapse = M.sample_metrics(self.problem, pool, raw, self.state.seen, self.executor.threads)
        selected = admissible(pool, self.problem, self.task.selection)
        best_before = self.state.elites.best_score()
        entered = self.state.elites.update(pool, self.problem)
        sources = self.account(pool, entered, best_before, shares, timings)
        fresh_rows, elite_rows = training_set(selected, self.state.elites, self.task.loop.keep,
                                              self.task.selection, self.problem)
        timings["select"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        # a run that stops after this generation (stop_at_best_known, reached) would never
        # sample from what it trained now: no training then
        last = self.reached_target()
        steps = self.train_steps(g) if self.model is not None and not last else 0
        deadline = self.training_deadline(timings["kernel"]) if steps else None
        overlapped = bool(steps) and next_runs and self.overlap
        if overlapped:
            events.extend(self.executor.take_events())  # this generation's own, before the next one's search
            loss, step_losses = self.train_overlapped(g, steps, fresh_rows, elite_rows, rng, progress, deadline,
                                                      timings)
        else:
            loss, step_losses = self.train(g, steps, fresh_rows, elite_rows, rng, progress, deadline)
            timings["train"] = time.perf_counter() - t0
        if self.task.sources.cost == "seconds" and steps:
            # charged to the model's next samples: the time training held the loop up (all of
            # it, unless it overlapped the next generation's search)
            self.state.sources["train_seconds"] = timings["train_wait"] if overlapped else timings["train"]

        t0 = time.perf_counter()
        progress.phase(g, "evaluating model")
        model_metrics = self.model_metrics(g, generator)
        timings["model_eval"] = time.perf_counter() - t0

        if g > 0:
            self.state.temperature = next_temperature(self.state.temperature, collapse["unique_fraction"],
                                                      self.task.sampling)
        timings["total"] = time.perf_counter() - start
        self.state.elapsed += timings["total"]
        self.state.next_generation = g + 1
        best_known, best_ever = self.problem.best_known(), self.state.elites.best_score()
        metrics = {
            "generation": g,
            "candidates": len(pool),
            "samples": 0 if raw is None else len(raw),
            "selected": 0 if fresh_rows is None else len(fresh_rows),
            "elites_replayed": 0 if elite_rows is None or self.model is None else len(elite_rows),
            **M.score_summary(pool.score, pool.valid),
            "best_ever": best_ever,
            "best_known": best_known,
            "gap": None if best_known is None or best_ever is None else best_known - best_ever,
            # rare-event problems (Problem.hits): distinct hits found so far in the run
            "distinct_hits": len(self.state.sources["hits"]) if S.has_hits(self.problem) else None,
            "valid_fraction": float(np.mean(pool.valid)) if len(pool) else 0.0,
            **collapse,
            "temperature": temperature,
            "next_temperature": self.state.temperature,
            "sources": sources,
            "next_shares": dict(self.state.sources["shares"]),
            "train_steps": len(step_losses),  # the steps that ran: fewer than planned when a time budget ran out
            "train_loss": loss,
            "train_losses": step_losses,  # the report's loss curve
            "train_lr": None if self.model is None else self.lr(g),
            "elapsed": self.state.elapsed,
            "timings": timings,
            "model": model_metrics,
            "execution_events": events + self.executor.take_events(),
        }
        best = None
        if len(self.state.elites):
            best = (self.problem.best_file_suffix, self.problem.describe_best(self.state.elites.pool, 0))
        archive.write_generation(self.run_dir, g, pool, self.problem, metrics, self.checkpoint(), best)
        self.last_pool = pool
        if self.deferred_error is not None:
            error, self.deferred_error = self.deferred_error, None
            raise error
        return metrics

    def reached_target(self) -> bool:
        """loop.stop_at_best_known: the best ever has reached the problem's best known value."""
        return self.task.loop.stop_at_best_known and reached_best_known(
            self.state.elites.best_score(), self.problem.best_known())

    def run(self, until: int) -> None:
        """Run generations up to (not including) `until`, or until the best known value is
        reached when the task says to stop there."""
        with RunProgress(until, quiet=self.quiet) as progress:
            try:
                for g in range(self.state.next_generation, until):
                    if self.reached_target():  # checked first, so a resumed finished run stays finished
                        break
                    progress.generation_done(self.generation(g, progress, next_runs=g + 1 < until))
            finally:
                self.executor.close()

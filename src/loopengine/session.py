"""From a task file (or a run directory) to a running Loop: load and check everything first
(problem, kernel and its parameters, executor, model), so a mistake is reported before anything
is written; then run, and finish with the problem's summary. `run` and `resume` hold the run
directory's lock (runlock.py) while they write; code a received task.toml names is imported
only with --trust (trust.py), and checkpoints load weights-only (checkpoint.py)."""
from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import torch

from loopengine.config import Task, load_task, read_toml, run_directory, validate_task
from loopengine.errors import ArchiveError, ConfigError
from loopengine.execution import make_executor
from loopengine.kernels.params import check_kernel_params
from loopengine.kernels.resolve import resolve_kernel
from loopengine.learn import model as model_lib
from loopengine.learn.transfer import warm_start
from loopengine.loop import Loop, derived_seed, reached_best_known
from loopengine.problems import make_problem
from loopengine.problems.base import Problem
from loopengine.progress import FinalizeProgress
from loopengine.rundir import archive
from loopengine.rundir.checkpoint import CheckpointFormatError
from loopengine.rundir.lock import run_lock
from loopengine.rundir.trust import named_code
from loopengine.sources import has_search_starts


def check_search_only(task: Task, problem: Problem, source: Path | str) -> None:
    """Every generation needs a start source that never runs dry: the model, random starts or
    curriculum seeds (the elites alone may be empty)."""
    if task.model.enabled:
        return
    if not has_search_starts(problem):
        raise ConfigError(source, "model.enabled", f"problem {problem.name!r} maps prompts to answers and defines "
                          "no search_starts(), so it cannot run without a model")
    if "random" in task.sources.exclude and not (problem.has_curriculum() and "curriculum" not in task.sources.exclude):
        raise ConfigError(source, "sources.exclude", "without a model, the random source (or curriculum seeds) "
                          "must stay: nothing else starts local search")


def thread_count(execution, which: str) -> int:
    """execution.torch_threads / kernel_threads when set, else the shared execution.threads."""
    value = getattr(execution, which)
    return execution.threads if value is None else value


def overlaps_training(mode: str, device: torch.device, kernel_threads: int, torch_threads: int) -> bool:
    """train.overlap: "on", "off", or "auto" = on when the model is on a GPU, or when the
    kernel's and torch's threads fit the cores together (0 = every core). Measured on 2 cores
    (benchmarks/results/overlap_*_cpu.md): one thread each, the overlap made trees n = 30 1.17x
    and C4-free n = 25 1.09x faster; the kernel on every core, 0.97x (they only compete)."""
    if mode != "auto":
        return mode == "on"
    cores = os.cpu_count() or 1
    return device.type == "cuda" or (kernel_threads or cores) + (torch_threads or cores) <= cores


def first_generation_at_best_known(run_dir: Path) -> int | None:
    """The first archived generation whose best_ever reached the best known value (read from
    the metrics, so it survives resumes)."""
    for g in archive.complete_generations(run_dir):
        m = archive.read_metrics(run_dir, g)
        if reached_best_known(m.get("best_ever"), m.get("best_known")):
            return g
    return None


def build_loop(task: Task, source: Path | str, task_dir: Path, run_dir: Path, quiet: bool,
               resuming: bool = False) -> Loop:
    """The loop a task describes; a new run's model starts from model.init_from when set
    (a resumed one from its own checkpoint, so the source run need not exist any more)."""
    problem = make_problem(task.task.problem, task.problem, source, task_dir)
    kernel = resolve_kernel(task.kernel.local_search, problem.default_kernel, source, task_dir,
                            own=type(problem).kernels)
    check_kernel_params(kernel, {"params": task.kernel.params, "elite_params": task.kernel.elite_params}, source)
    check_search_only(task, problem, source)
    device = model_lib.pick_device()
    torch_threads = thread_count(task.execution, "torch_threads")
    model_lib.set_cpu_threads(torch_threads)
    kernel_threads = thread_count(task.execution, "kernel_threads")
    executor = make_executor(task.execution.model_copy(update={"threads": kernel_threads}))
    model = optimizer = None
    if task.model.enabled:
        try:
            model, optimizer = model_lib.build(task, problem, derived_seed(task.task.seed, 0, 0), device)
        except ValueError as exc:  # e.g. model.width not a multiple of model.heads
            raise ConfigError(source, "model", str(exc)) from None
        if task.model.init_from is not None and not resuming:
            try:
                said = warm_start(model, task.model.init_from, problem.codec.vocabulary(), source)
            except ConfigError:
                executor.close()
                raise
            if not quiet:
                print(said)
    overlap = overlaps_training(task.train.overlap, device, kernel_threads, torch_threads)  # Loop: only with a model
    return Loop(task, problem, kernel, executor, run_dir, model, optimizer, device, quiet=quiet, overlap=overlap)


def finish(loop: Loop, run_dir: Path) -> dict[str, Any]:
    """The problem's final judgement and summary.json: on the last generation's candidates,
    or on the elites when this call ran no generation (resuming a run that had finished)."""
    start = time.perf_counter()
    final_pool = loop.last_pool or loop.state.elites.pool
    with FinalizeProgress(loop.problem, quiet=loop.quiet):
        summary = loop.problem.finalize(run_dir, final_pool).to_json() if final_pool is not None else {}
    summary = {"generations": len(archive.complete_generations(run_dir)),
               "best_ever": loop.state.elites.best_score(), "best_known": loop.problem.best_known(),
               "best_known_reached_at_generation": first_generation_at_best_known(run_dir),
               # wall time of the generations (over all resumes) and of this finalize
               "seconds": round(loop.state.elapsed + time.perf_counter() - start, 1), **summary}
    summary["headline"] = loop.problem.headline(summary)
    archive.write_json(run_dir / "summary.json", summary)
    return summary


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run: carries the run directory, so the message names what to resume."""

    def __init__(self, run_dir: Path) -> None:
        super().__init__(str(run_dir))
        self.run_dir = run_dir


def run_interruptible(loop: Loop, run_dir: Path, generations: int) -> dict[str, Any]:
    try:
        loop.run(generations)
        return finish(loop, run_dir)
    except KeyboardInterrupt:
        raise RunInterrupted(run_dir) from None


def start_run(task_file: Path, overrides: list[str], quiet: bool = False) -> tuple[Path, dict[str, Any]]:
    task, raw = load_task(task_file, overrides)
    task_dir = task_file.parent
    run_dir = run_directory(task, task_file)
    loop = build_loop(task, task_file, task_dir, run_dir, quiet)
    with run_lock(run_dir, "run"):
        archive.create_run(run_dir, raw, task_dir)
        return run_dir, run_interruptible(loop, run_dir, task.task.generations)


def check_trusted(source: Path, raw: dict[str, Any], task_dir: Path, trust: bool, action: str) -> None:
    code = named_code(raw, task_dir)
    if code and not trust:
        raise ArchiveError(f"{source} names code that {action} would run: {'; '.join(code)}. A run directory "
                           f"is data: read that code, then {action} with --trust to run it (docs/trust.md)")


def open_run(run_dir: Path, trust: bool, action: str) -> tuple[Task, Path]:
    """A received run directory's settings and task directory, refusing (without --trust) a
    task.toml that names code to import."""
    info = archive.read_format(run_dir)
    archive.check_resumable(run_dir, info)
    source = run_dir / "task.toml"
    raw = read_toml(source)
    task_dir = Path(info.get("task_dir", "."))
    check_trusted(source, raw, task_dir, trust, action)
    return validate_task(raw, source), task_dir


def resume_point(run_dir: Path) -> tuple[int, str | None]:
    """The generation whose checkpoint `resume` continues from, and, when the last generation
    must be redone first, why. Resume checks what it builds on, before it writes anything:

    - A name like gen_0003 held by a plain file: refused, naming it. A generation could not be
      renamed into place there, so the run would stop after that generation's work.
    - A generation before the last missing or damaged (archive.generation_damage; its model.pt
      is not needed, docs/archive.md lets users delete old ones): refused, naming the file. It
      cannot be redone without redoing every generation after it, and continuing on top of it
      ends in a run whose summary, report and export fail on it (every generation's metrics
      feed them).
    - The last generation damaged: redone from the one before, and said. A generation is a
      function of the settings and the checkpoint before it (resume is bit-identical), so
      redoing it loses nothing; a copy cut short damages exactly that one. Refused when there
      is no checkpoint to redo it from (it is the only generation, or the one before has no
      readable model.pt)."""
    archive.refuse_stray_generation_files(run_dir, "resume")
    done = archive.complete_generations(run_dir)
    if not done:
        raise ArchiveError(f"{run_dir} has no complete generation to resume from; "
                           "start it again with `loopengine run`")
    last = done[-1]
    for g in range(last):
        damage = (archive.generation_damage(run_dir, g, checkpoint=False) if g in done
                  else f"{run_dir / archive.gen_name(g)} is missing")
        if damage is not None:
            raise ArchiveError(f"cannot resume {run_dir}: {damage}, and generation {g} is not the last one, "
                               f"so resuming cannot redo it; restore that file, or start the run again "
                               f"with `loopengine run`")
    damage = archive.generation_damage(run_dir, last)
    if damage is None:
        return last, None
    if last == 0:
        raise ArchiveError(f"cannot resume {run_dir}: {damage}, and it is the run's only generation; "
                           f"remove {run_dir} and start it again with `loopengine run`")
    before = archive.generation_damage(run_dir, last - 1)
    if before is not None:
        raise ArchiveError(f"cannot resume {run_dir}: {damage}, and generation {last - 1}, which it would be "
                           f"redone from, cannot be used: {before}")
    return last - 1, f"{damage}: generation {last} will be redone from generation {last - 1}"


def resume_run(run_dir: Path, generations: int | None, quiet: bool = False, trust: bool = False) -> dict[str, Any]:
    task, task_dir = open_run(run_dir, trust, "resume")
    source = run_dir / "task.toml"
    with run_lock(run_dir, "resume"):
        start, redo = resume_point(run_dir)
        checkpoint = archive.load_checkpoint(run_dir, start)
        archive.remove_partial(run_dir)  # safe under the lock: no live run is writing them
        loop = build_loop(task, source, task_dir, run_dir, quiet, resuming=True)
        try:
            loop.restore(checkpoint)
        except (CheckpointFormatError, KeyError, TypeError) as exc:
            loop.executor.close()
            path = run_dir / archive.gen_name(start) / "model.pt"
            raise ArchiveError(f"cannot resume from {path}: not a loopengine checkpoint of this run "
                               f"({type(exc).__name__}: {exc})") from None
        until = generations or task.task.generations
        if redo is not None:
            print(f"resume: {redo}", file=sys.stderr)
            shutil.rmtree(run_dir / archive.gen_name(start + 1))  # a generation dir cannot be renamed onto
            until = max(until, start + 2)  # the damaged generation is redone even when --generations is below it
        return run_interruptible(loop, run_dir, until)

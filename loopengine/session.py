"""From a task file (or a run directory) to a running Loop: load and check everything
first, so a mistake is reported before anything is written. `run` and `resume` hold the
run directory's lock (runlock.py) while they write; `resume` imports code a received
task.toml names only with --trust (trust.py) and loads checkpoints weights-only."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from loopengine import archive
from loopengine.config import Task, load_task, read_toml, validate_task
from loopengine.checkpoint import CheckpointFormatError
from loopengine.errors import ArchiveError, ConfigError
from loopengine.kernel_params import check_kernel_params
from loopengine.kernels import resolve_kernel
from loopengine.loop import Loop
from loopengine.problems import make_problem
from loopengine.runlock import run_lock
from loopengine.trust import named_code


def build_loop(task: Task, source: Path | str, task_dir: Path, run_dir: Path, quiet: bool) -> Loop:
    problem = make_problem(task.task.problem, task.problem, source, task_dir)
    kernel = resolve_kernel(task.kernel.local_search, problem.default_kernel, source, task_dir,
                            own=type(problem).kernels)
    check_kernel_params(kernel, {"params": task.kernel.params, "elite_params": task.kernel.elite_params}, source)
    try:
        return Loop(task, problem, kernel, run_dir, quiet=quiet)
    except ValueError as exc:  # e.g. model.width not a multiple of model.heads
        raise ConfigError(source, "model", str(exc)) from None


def start_run(task_file: Path, overrides: list[str], quiet: bool = False) -> tuple[Path, dict[str, Any]]:
    task, raw = load_task(task_file, overrides)
    task_dir = task_file.parent
    run_dir = Path(task.task.out) / f"{task.task.name}-{task.task.seed}"
    loop = build_loop(task, task_file, task_dir, run_dir, quiet)
    with run_lock(run_dir, "run"):
        archive.create_run(run_dir, raw, task_dir)
        return run_dir, loop.run(task.task.generations)


def check_trusted(source: Path, raw: dict[str, Any], task_dir: Path, trust: bool) -> None:
    code = named_code(raw, task_dir)
    if code and not trust:
        raise ArchiveError(f"{source} names code that resume would run: {'; '.join(code)}. A run directory "
                           "is data: read that code, then resume with --trust to run it (docs/trust.md)")


def resume_run(run_dir: Path, generations: int | None, quiet: bool = False, trust: bool = False) -> dict[str, Any]:
    info = archive.read_format(run_dir)
    archive.check_resumable(run_dir, info)
    source = run_dir / "task.toml"
    raw = read_toml(source)
    task_dir = Path(info.get("task_dir", "."))
    check_trusted(source, raw, task_dir, trust)
    task = validate_task(raw, source)
    with run_lock(run_dir, "resume"):
        done = archive.complete_generations(run_dir)
        if not done:
            raise ArchiveError(f"{run_dir} has no complete generation to resume from; start it again with `loopengine run`")
        checkpoint = archive.load_checkpoint(run_dir, done[-1])
        archive.remove_partial(run_dir)  # safe under the lock: no live run is writing them
        loop = build_loop(task, source, task_dir, run_dir, quiet)
        try:
            loop.restore(checkpoint)
        except (CheckpointFormatError, KeyError, TypeError) as exc:
            loop.executor.close()
            path = run_dir / archive.gen_name(done[-1]) / "model.pt"
            raise ArchiveError(f"cannot resume from {path}: not a loopengine checkpoint of this run "
                               f"({type(exc).__name__}: {exc})") from None
        return loop.run(generations or task.task.generations)

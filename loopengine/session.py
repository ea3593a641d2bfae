"""From a task file (or a run directory) to a running Loop: load and check everything
first, so a mistake is reported before anything is written."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from loopengine import archive
from loopengine.config import Task, load_task, read_toml, validate_task
from loopengine.errors import ConfigError
from loopengine.kernels import resolve_kernel
from loopengine.loop import Loop
from loopengine.problems import make_problem


def build_loop(task: Task, source: Path | str, task_dir: Path, run_dir: Path, quiet: bool) -> Loop:
    problem = make_problem(task.task.problem, task.problem, source, task_dir)
    kernel = resolve_kernel(task.kernel.local_search, problem.default_kernel, source, task_dir)
    try:
        return Loop(task, problem, kernel, run_dir, quiet=quiet)
    except ValueError as exc:  # e.g. model.width not a multiple of model.heads
        raise ConfigError(source, "model", str(exc)) from None


def start_run(task_file: Path, overrides: list[str], quiet: bool = False) -> tuple[Path, dict[str, Any]]:
    task, raw = load_task(task_file, overrides)
    task_dir = task_file.parent
    run_dir = Path(task.task.out) / f"{task.task.name}-{task.task.seed}"
    loop = build_loop(task, task_file, task_dir, run_dir, quiet)
    archive.create_run(run_dir, raw, task_dir)
    return run_dir, loop.run(task.task.generations)


def resume_run(run_dir: Path, generations: int | None, quiet: bool = False) -> dict[str, Any]:
    info = archive.read_format(run_dir)
    source = run_dir / "task.toml"
    task = validate_task(read_toml(source), source)
    done = archive.complete_generations(run_dir)
    if not done:
        raise archive.ArchiveError(f"{run_dir} has no complete generation to resume from; start it again with `loopengine run`")
    archive.remove_partial(run_dir)
    loop = build_loop(task, source, Path(info.get("task_dir", ".")), run_dir, quiet)
    loop.restore(archive.load_checkpoint(run_dir, done[-1]))
    return loop.run(generations or task.task.generations)

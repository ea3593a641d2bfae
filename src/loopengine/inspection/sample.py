"""`loopengine sample RUN_DIR`: draw fresh objects from a run's trained model, judged by the
problem's verifier, without running a generation (nothing in the run directory changes)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console

from loopengine.errors import ArchiveError
from loopengine.learn import model as model_lib
from loopengine.learn.train import prompt_tokens, sample
from loopengine.pool import Pool
from loopengine.problems import make_problem
from loopengine.rundir import archive
from loopengine.rundir.checkpoint import CheckpointFormatError, decode


def draw(run_dir: Path, gen: int | None, count: int, temperature: float, seed: int, trust: bool = False) -> Pool:
    from loopengine.session import open_run

    task, task_dir = open_run(run_dir, trust, "sample")
    done = archive.complete_generations(run_dir)
    if not done:
        raise ArchiveError(f"{run_dir} has no complete generation to sample from")
    g = done[-1] if gen is None else gen
    if g not in done:
        raise ArchiveError(f"{run_dir} has no complete generation {g} (complete: {done[0]}..{done[-1]})")
    if not task.model.enabled:
        raise ArchiveError(f"{run_dir} ran search only ([model] enabled = false): there is no model to sample")
    problem = make_problem(task.task.problem, task.problem, run_dir / "task.toml", task_dir)
    device = model_lib.pick_device()
    model = model_lib.Transformer(model_lib.shape_for(task, problem)).to(device)  # weights come from the run
    try:
        model.load_state_dict(decode(archive.load_checkpoint(run_dir, g))["model"])
    except (KeyError, RuntimeError, TypeError, CheckpointFormatError) as exc:
        raise ArchiveError(f"{run_dir}: generation {g}'s model does not fit its task.toml: {exc}") from None
    rng = np.random.default_rng(seed)
    prompts = problem.target_prompts(rng, count) if problem.conditional else None
    generator = torch.Generator(device=device).manual_seed(seed)
    # the same decoding constraint as the loop: a C4-free run's model never emits a 4-cycle
    # there, so sampling it without the constraint would judge a model the run never used
    tokens = sample(model, prompt_tokens(problem, prompts, count), problem.codec.max_answer_tokens(), temperature,
                    task.sampling.batch_size, generator, device, problem.decoding_constraint())
    pool = problem.codec.decode(tokens, prompts)
    problem.evaluate(pool, task.execution.threads)
    pool.extra.update(problem.human_columns(pool))
    return pool


def rows(pool: Pool) -> list[dict[str, Any]]:
    return [{"score": float(pool.score[i]), "valid": bool(pool.valid[i]), **{k: v[i] for k, v in pool.extra.items()}}
            for i in range(len(pool))]


def print_samples(pool: Pool, console: Console, as_json: bool) -> None:
    from loopengine.inspection.tables import print_table

    out = rows(pool)
    if as_json:
        console.print_json(data=out)
        return
    columns = ["#", "valid", "score", *pool.extra]
    table = [[str(i), "yes" if r["valid"] else "no", f"{r['score']:g}", *[str(r[k]) for k in pool.extra]]
             for i, r in enumerate(out)]
    print_table(console, f"{len(out)} samples, {sum(r['valid'] for r in out)} valid", columns, table)

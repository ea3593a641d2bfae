"""The pretrained Lyapunov proposer: its learning curve, its proof rate, and shipping it.

    python benchmarks/lyapunov_proposer.py curve RUN_DIR
    python benchmarks/lyapunov_proposer.py measure (RUN_DIR | pretrained:NAME) [--systems 100] [--k 1 16]
    python benchmarks/lyapunov_proposer.py ship RUN_DIR [--name lyapunov] [--measured FILE.md]

RUN_DIR is a run of tasks/lyapunov_pretrain.toml (backward-generated pairs only).
- curve: per generation, examples seen, training loss and the greedy held-out valid fraction the
  run recorded (model.heldout_valid_fraction: sample-checked, not certified).
- measure: the proof rate in distribution: fresh backward-generated systems (a generator seed the
  run never used), k proposals each (k = 1 greedy; k > 1 sampled at --temperature), every
  proposal that passes the sampler through the exact certifier until one is proven; and the
  same on the main job's 14 target systems (out of distribution: typed and forward systems).
  "Proven" = globally asymptotically stable or globally stable, exact rational SOS check.
- ship: the run's last model as package data (src/loopengine/learn/pretrained/NAME.pt, float16,
  weights only) with NAME.json: the training task file, the generator settings and the curve.
"""
from __future__ import annotations

import argparse
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import torch

from loopengine.config import load_task
from loopengine.learn import model as model_lib
from loopengine.learn import pretrained
from loopengine.learn.train import prompt_tokens, sample
from loopengine.problems import make_problem
from loopengine.problems.lyapunov.certificate import PROVEN, certify
from loopengine.problems.lyapunov.falsify import check
from loopengine.rundir import archive
from loopengine.rundir.checkpoint import decode

REPO = Path(__file__).resolve().parents[1]
MAIN_TASK = REPO / "tasks" / "lyapunov.toml"
HELD_OUT_SEED = 987_654  # never a training seed: the run's generator draws from (task.seed, g)


def curve(run_dir: Path) -> list[dict]:
    task, _ = load_task(run_dir / "task.toml", [])
    t, rows, seen = task.train, [], 0
    for g in archive.complete_generations(run_dir):
        m = archive.read_metrics(run_dir, g)
        seen += (t.first_steps if g == 0 else t.steps) * t.batch_size
        rows.append({"generation": g, "examples": seen, "train_loss": m.get("train_loss"),
                     "heldout_valid_fraction": (m.get("model") or {}).get("heldout_valid_fraction"),
                     "elapsed_s": m.get("elapsed")})
    return rows


def load_model(source: str, problem, task, generation: int | None = None):
    """The proposer: a shipped model (pretrained:NAME) or a run's model (its last generation's
    unless `generation` is given)."""
    if source.startswith(pretrained.PREFIX):
        state, _, shape = pretrained.load(source[len(pretrained.PREFIX):])
        task = task.model_copy(update={"model": task.model.model_copy(update={
            "layers": shape["layers"], "heads": shape["heads"], "width": shape["width"]})})
    else:
        run_dir = Path(source)
        g = archive.complete_generations(run_dir)[-1] if generation is None else generation
        state = decode(archive.load_checkpoint(run_dir, g))["model"]
    model = model_lib.Transformer(model_lib.shape_for(task, problem))
    model.load_state_dict(state)
    return model.eval()


def propose(problem, model, prompts: np.ndarray, k: int, temperature: float, seed: int):
    """The distinct V (exact PolyDicts) the model proposes for each prompt row, k samples each
    (greedy when k = 1), keeping only those that pass the sampler: a list per prompt when
    several prompts are given, the list itself for one prompt."""
    generator = torch.Generator().manual_seed(seed)
    repeated = np.repeat(prompts, k, axis=0)
    tokens = sample(model, prompt_tokens(problem, repeated, len(repeated)), problem.codec.max_answer_tokens(),
                    0.0 if k == 1 else temperature, 256, generator, torch.device("cpu"))
    pool = problem.codec.decode(tokens, repeated)
    passed = check(pool.objects, problem.eval_points)[:, 0] == 0
    out = []
    for i in range(len(prompts)):
        seen, mine = set(), []
        for j in range(i * k, (i + 1) * k):
            key = pool.objects[j].tobytes()
            if passed[j] and key not in seen and (pool.objects[j][problem.layout.v_slice] != 0).any():
                seen.add(key)
                mine.append(problem.v_of(pool.objects[j]))
        out.append(mine)
    return out[0] if len(prompts) == 1 else out


def proof_rate(problem, model, prompts: np.ndarray, exact: list, k: int, temperature: float, seed: int,
               budget_s: float) -> dict:
    """Fraction of systems with a proven V among k proposals each, and seconds to each proof
    (the system's share of the sampling time plus its exact checks up to the proof)."""
    t0 = time.perf_counter()
    proposals = propose(problem, model, prompts, k, temperature, seed)
    sample_s = (time.perf_counter() - t0) / len(prompts)
    proven, seconds = 0, []
    for system, candidates in zip(exact, proposals):
        start = time.perf_counter()
        for v in candidates:
            if time.perf_counter() - start > budget_s:
                break
            if certify(v, system, len(system)).status in PROVEN:
                proven += 1
                seconds.append(sample_s + time.perf_counter() - start)
                break
    return {"systems": len(exact), "k": k, "proven": proven, "rate": proven / max(1, len(exact)),
            "sample_check_pass": float(np.mean([len(c) > 0 for c in proposals])),
            "median_s_to_proof": float(np.median(seconds)) if seconds else None}


def measure(source: str, systems: int, ks: list[int], temperature: float, budget_s: float,
            generation: int | None = None) -> list[dict]:
    task, _ = load_task(MAIN_TASK, [])
    problem = make_problem("lyapunov", task.problem, MAIN_TASK, MAIN_TASK.parent)
    model = load_model(source, problem, task, generation)
    held = problem.backward_pool(np.random.default_rng(HELD_OUT_SEED), systems)
    held_exact = [problem.system_of(p)[1] for p in held.prompts]
    targets = np.stack([row for _, row in problem.targets])
    out = []
    for k in ks:
        out.append({"set": "held-out backward pairs", **proof_rate(problem, model, held.prompts, held_exact, k,
                                                                   temperature, 1, budget_s)})
        out.append({"set": "main job targets", **proof_rate(problem, model, targets, problem.exact_systems, k,
                                                            temperature, 2, budget_s)})
    return out


def ship(run_dir: Path, name: str, measured: Path | None) -> Path:
    """The run's last model as pretrained NAME. A run that continued a shipped model
    (model.init_from = "pretrained:NAME", e.g. tasks/lyapunov_pretrain_continue.toml) keeps
    that model's record under "continues", and its curve counts examples from where the
    earlier stages ended, so the record always says everything the weights saw."""
    done = archive.complete_generations(run_dir)
    checkpoint = decode(archive.load_checkpoint(run_dir, done[-1]))
    task_text = (run_dir / "task.toml").read_text()
    task = tomllib.loads(task_text)
    rows = curve(run_dir)
    earlier = None
    init_from = task.get("model", {}).get("init_from") or ""
    if init_from.startswith(pretrained.PREFIX):
        earlier = pretrained.record(init_from[len(pretrained.PREFIX):])
        seen_before = earlier["curve"][-1]["examples"]
        rows = [{**r, "examples": r["examples"] + seen_before} for r in rows]
    record = {"name": name, "made_from": f"generation {done[-1]} of a run of tasks/{task['task']['name']}.toml",
              "task": task_text, "generator": task.get("problem", {}), "curve": rows,
              "continues": earlier,
              "measured": measured.read_text() if measured is not None else None}
    return pretrained.save(name, checkpoint["model"], checkpoint["vocabulary"], checkpoint["model_shape"], record)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    c = sub.add_parser("curve")
    c.add_argument("run_dir", type=Path)
    m = sub.add_parser("measure")
    m.add_argument("source", help="a run directory or pretrained:NAME")
    m.add_argument("--systems", type=int, default=100)
    m.add_argument("--gen", type=int, default=None, help="a run's generation (default: its last)")
    m.add_argument("--k", type=int, nargs="+", default=[1, 16])
    m.add_argument("--temperature", type=float, default=0.8)
    m.add_argument("--budget", type=float, default=10.0, help="seconds of exact checks per system")
    s = sub.add_parser("ship")
    s.add_argument("run_dir", type=Path)
    s.add_argument("--name", default="lyapunov")
    s.add_argument("--measured", type=Path, default=None, help="a measure output to keep beside the model")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.command == "curve":
        print("| generation | examples seen | train loss | held-out valid (greedy, sample-checked) |")
        print("|---|---|---|---|")
        for r in curve(args.run_dir):
            hv = r["heldout_valid_fraction"]
            print(f"| {r['generation']} | {r['examples']:,} | {r['train_loss']:.3f} | "
                  f"{'-' if hv is None else f'{hv:.1%}'} |")
    elif args.command == "measure":
        which = "" if args.gen is None else f" generation {args.gen}"
        print(f"proposer {args.source}{which}: {args.systems} held-out backward systems "
              f"(generator seed {HELD_OUT_SEED}) "
              f"and the main job's targets; T = {args.temperature} for k > 1; {args.budget:g} s of exact checks "
              "per system at most")
        print("| systems | k | proven | rate | a proposal passed the sampler | median s to a proof |")
        print("|---|---|---|---|---|---|")
        for r in measure(args.source, args.systems, args.k, args.temperature, args.budget, args.gen):
            med = "-" if r["median_s_to_proof"] is None else f"{r['median_s_to_proof']:.2f}"
            print(f"| {r['set']} ({r['systems']}) | {r['k']} | {r['proven']} | {r['rate']:.1%} | "
                  f"{r['sample_check_pass']:.1%} | {med} |", flush=True)
    else:
        path = ship(args.run_dir, args.name, args.measured)
        print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB) and {path.with_suffix('.json').name}")
    sys.exit(0)


if __name__ == "__main__":
    main()

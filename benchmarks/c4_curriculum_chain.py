"""Size curriculum along n: each size's run starts from the previous size's run.

For n = m+1, m+2, ... up to --to, this runs `loopengine run` on the preset with
`problem.seed_from` and `model.init_from` set to the run just finished (its best distinct
graphs plus an isolated vertex start generation 0; its last model starts the new one), and
`loop.stop_at_best_known` on, so a size ends once it reaches OEIS A006855's value (the proven
maximum for n <= 40, McKay's lower bound for 41..49) or after --generations generations.
The best graph of each size is then read from the run's candidates and checked with networkx
(the check shares no code with the engine's verifier or kernel): edge count, and no two
vertices with two common neighbours (no 4-cycle).

    python benchmarks/c4_curriculum_chain.py --from runs/c4free_n41-0 --to 49 --generations 8

Generation 0 of a size is the curriculum's starts through local search, before its model
samples once: the table's "generation" column says which sizes needed the model's samples.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import networkx as nx
import numpy as np

from loopengine.problems import make_problem
from loopengine.problems.c4free.curriculum import read_run_graphs

ROOT = Path(__file__).resolve().parents[1]


def best_graph(run_dir: Path) -> nx.Graph:
    """The run's candidate with the most edges, as a networkx graph (ties: the first stored)."""
    objects, n = read_run_graphs(run_dir)
    row = objects[int(np.argmax(objects.sum(axis=1)))]
    iu, ju = np.triu_indices(n, k=1)
    graph = nx.Graph()
    graph.add_nodes_from(range(n))
    graph.add_edges_from(zip(iu[row == 1].tolist(), ju[row == 1].tolist()))
    return graph


def c4_free(graph: nx.Graph) -> bool:
    """No pair of vertices with two common neighbours, i.e. no 4-cycle."""
    nodes = list(graph)
    return all(len(list(nx.common_neighbors(graph, u, v))) <= 1
               for i, u in enumerate(nodes) for v in nodes[i + 1:])


def run_size(n: int, source: Path, args) -> tuple[Path, float]:
    name = f"c4free_n{n}_chain"
    run_dir = args.out / f"{name}-{args.seed}"
    if run_dir.exists():
        shutil.rmtree(run_dir)  # a fresh run each time the chain is re-run
    beside = Path(sys.executable).with_name("loopengine")  # the CLI of this interpreter's environment,
    loopengine = str(beside) if beside.exists() else (shutil.which("loopengine") or "loopengine")  # not PATH's first
    command = [loopengine, "run", str(args.task), "--quiet", "--out", str(args.out),
               "--generations", str(args.generations), "--seed", str(args.seed),
               "--set", f"problem.n={n}", "--set", f"task.name={name}",
               "--set", f"problem.seed_from={source}", "--set", f"model.init_from={source}",
               "--set", "loop.stop_at_best_known=true",
               "--set", f"execution.threads={args.threads}", "--set", f"execution.kernel_threads={args.threads}",
               "--set", f"execution.torch_threads={args.threads}", *[x for kv in args.set for x in ("--set", kv)]]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL)  # the CLI's own 'run: ...' line
    if done.returncode:  # the CLI has printed its own clear error: end the chain there, no traceback
        raise SystemExit(f"c4_curriculum_chain: loopengine run failed at n = {n} (its error is above)")
    return run_dir, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--from", dest="source", type=Path, required=True, help="a finished C4-free run at the first size")
    ap.add_argument("--to", type=int, required=True, help="the last size of the chain")
    ap.add_argument("--generations", type=int, default=8, help="at most this many generations per size")
    ap.add_argument("--task", type=Path, default=ROOT / "tasks" / "c4free_n40.toml")
    ap.add_argument("--out", type=Path, default=ROOT / "runs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="preset override at every size")
    args = ap.parse_args()

    source = args.source.resolve()
    _, m = read_run_graphs(source)
    print(f"# C4-free: size curriculum chain from {source.name} (n = {m}) to n = {args.to}\n")
    print(f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, preset {args.task.name}, "
          f"at most {args.generations} generations per size, seed {args.seed}, {args.threads} thread(s), "
          f"overrides {args.set or 'none'}, {platform.machine()} with {os.cpu_count()} cores, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}.\n")
    print("| n | A006855 | best | reached in generation | generations | seconds | networkx: edges, C4-free | graph6 |")
    print("|---|---|---|---|---|---|---|---|")
    for n in range(m + 1, args.to + 1):
        run_dir, seconds = run_size(n, source, args)
        summary = json.loads((run_dir / "summary.json").read_text())
        graph = best_graph(run_dir)
        known = make_problem("c4free", {"n": n}, "benchmark", None).best_known()
        reached = summary.get("best_known_reached_at_generation")
        g6 = nx.to_graph6_bytes(graph, header=False).decode().strip()
        print(f"| {n} | {known:.0f} | {summary['best_ever']:.0f} | {'-' if reached is None else reached} | "
              f"{summary['generations']} | {seconds:.0f} | {graph.number_of_edges()}, {c4_free(graph)} | `{g6}` |",
              flush=True)
        source = run_dir


if __name__ == "__main__":
    main()

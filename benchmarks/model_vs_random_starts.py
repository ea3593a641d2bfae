"""Does the model earn its place? The same local-search budget from three kinds of start.

For each n:
1. elites: the best distinct (non-isomorphic) graphs found by the kernel alone from random
   starts within --elite-seconds: "the best constructions found so far";
2. a transformer (the loop's model, same encoding and decoding) is trained on them;
3. three arms of --starts starts each go through the *same* kernel call (same rounds, kick
   per round and tabu; only the starts differ):
   (a) model: raw samples of the trained model,
   (b) random: the problem's random starts (generation 0 of a run),
   (c) elites: the elites themselves, --perturb-kick random edges removed first.
The table gives, per arm, the final edge counts (mean, best, how many reach the best),
the number of non-isomorphic results and a histogram; the raw samples' own validity and
edge counts are printed too. The model wins only if (a) beats (b) on mean and best.

Options for the model's side (each reported in the header, so a table says what it ran):
--rounds takes several budgets: every arm is searched at each, from the same starts and
seed (a budget sweep: does the start matter once the search is long?). --chain-steps grows
the training set with perturbation chains of the elites (kick, short search, repeat), then
trains on the --train-graphs best distinct graphs; arm (c) kicks the best of that same set.
--order bfs trains on breadth-first vertex labels (problems/c4free/ordering.py). --prefix 0.5
adds an arm (d) that keeps only the first half of each sample's edges and lets the search
complete them. --complete 0.5 uses the model as a learnt perturbation: it writes the rest of
each elite after its first half of edges (arm e), against the search growing the same half
(arm f). --temperature takes several values (one model arm each). --transfer-from m trains
the same recipe at m < n vertices first and continues that model on n's graphs (arm g, the
size curriculum's `[model] init_from`), beside the model trained at n alone.

    python benchmarks/model_vs_random_starts.py [--n 35 40 45] [--starts 100] [--rounds 0 200 2000]
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import time
from collections import Counter

import numpy as np
import torch

from loopengine import _core
from loopengine.learn.model import N_SPECIAL, ModelShape, Transformer
from loopengine.learn.train import TwoSetSampler, from_pool, sample, train_steps
from loopengine.learn.transfer import load_matching
from loopengine.pool import Pool
from loopengine.problems.c4free.canonical import canonical_graph_keys
from loopengine.problems.c4free.curriculum import best_distinct
from loopengine.problems.c4free.problem import C4Free, C4FreeSettings, c4_free_mask


def search(objects: np.ndarray, seed: int, args, rounds: int, kick: int = 0) -> np.ndarray:
    return _core.c4_local_search(np.ascontiguousarray(objects), seed, args.threads, kick, rounds,
                                 args.round_kick, args.tabu, args.accept_worse)


def find_elites(problem: C4Free, rng: np.random.Generator, args) -> tuple[np.ndarray, int]:
    """Batches of random starts through the kernel until the time is up; the best distinct."""
    found, searched, t0 = [], 0, time.perf_counter()
    while time.perf_counter() - t0 < args.elite_seconds:
        starts = problem.initial_pool(rng, args.starts).objects
        found.append(search(starts, int(rng.integers(2**62)), args, args.elite_rounds))
        searched += len(starts)
    objects = np.concatenate(found)
    objects = objects[c4_free_mask(objects, problem.n)]
    return best_distinct(objects, canonical_graph_keys(objects, problem.n), args.elites), searched


def swap_step(objects: np.ndarray, n: int, kick: int, rng: np.random.Generator) -> np.ndarray:
    """One plateau move per graph: remove `kick` random edges, regrow greedily (random order)
    without them, so the graph has to change. The kernel alone cannot make this move: its
    kick is followed by a regrowth that may re-add the same edges, and its iterated search
    returns the first graph of the best size it saw, i.e. its start when nothing improved
    (a chain of kernel calls stayed on its elites: 313 distinct graphs from 2200)."""
    iu, ju = np.triu_indices(n, k=1)
    out = objects.copy()
    for row in out:
        adj = np.zeros((n, n), dtype=np.int64)
        adj[iu, ju] = row
        adj += adj.T
        edges = np.flatnonzero(row)
        removed = rng.choice(edges, size=min(kick, len(edges)), replace=False)
        adj[iu[removed], ju[removed]] = adj[ju[removed], iu[removed]] = 0
        allowed = row == 0
        for k in rng.permutation(np.flatnonzero(allowed)):
            u, v = iu[k], ju[k]
            if not adj[u] @ adj @ adj[v]:  # no path u-a-b-v: adding uv closes no 4-cycle
                adj[u, v] = adj[v, u] = 1
        row[:] = adj[iu, ju]
    return out


def chain_graphs(problem: C4Free, elites: np.ndarray, rng: np.random.Generator, args) -> np.ndarray:
    """The elites plus --chain-steps links of perturbation chains: each link makes a swap
    step (swap_step, --chain-kick edges) on every graph of the previous link, then searches
    it --chain-rounds rounds (0: just back to maximal); the --train-graphs best distinct
    graphs of everything seen are returned."""
    seen, current = [elites], elites
    for _ in range(args.chain_steps):
        current = swap_step(current, problem.n, args.chain_kick, rng)
        current = search(current, int(rng.integers(2**62)), args, args.chain_rounds)
        seen.append(current)
    objects = np.concatenate(seen)
    objects = objects[c4_free_mask(objects, problem.n)]
    return best_distinct(objects, canonical_graph_keys(objects, problem.n), args.train_graphs)


def train_model(problem: C4Free, elites: np.ndarray, args,
                start: tuple[Transformer, C4Free] | None = None) -> tuple[Transformer, float, float]:
    """A model trained on the elites; `start` = (model, its problem): begin from that model's
    weights, matched by token name as `[model] init_from` does (loopengine/transfer.py)."""
    torch.manual_seed(args.seed)
    shape = ModelShape(vocab=len(problem.codec.vocabulary()) + N_SPECIAL, context=problem.codec.max_answer_tokens() + 3,
                       layers=args.layers, heads=args.heads, width=args.width)
    model = Transformer(shape)
    if start is not None:
        load_matching(model, start[0].state_dict(), start[1].codec.vocabulary(), problem.codec.vocabulary())
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    examples = [([], tokens) for tokens in problem.codec.encode(Pool(objects=elites))]  # honours vertex_order
    t0 = time.perf_counter()
    loss = train_steps(model, optimizer, TwoSetSampler(from_pool(examples), []), args.train_steps,
                       args.batch_size, np.random.default_rng(args.seed), torch.device("cpu"))
    return model, loss, time.perf_counter() - t0


def model_samples(problem: C4Free, model: Transformer, count: int, temperature: float, decoding: str,
                  args, begun: list[list[int]] | None = None) -> list[list[int]]:
    """The sampled tokens, in the order the model emitted them, under the problem's own decoding
    constraint with `decoding` as its sorted_decoding setting; `begun`: given first tokens."""
    generator = torch.Generator().manual_seed(args.seed)
    decoder = C4Free(problem.settings.model_copy(update={"sorted_decoding": decoding == "sorted"}))
    return sample(model, [[] for _ in range(count)], problem.codec.max_answer_tokens(), temperature, 128,
                  generator, torch.device("cpu"), decoder.decoding_constraint(), begun)


def prefixes(tokens: list[list[int]], fraction: float) -> list[list[int]]:
    """The first `fraction` of each sample's edges: a partial start the search completes."""
    return [toks[:round(fraction * len(toks))] for toks in tokens]


def describe(name: str, problem: C4Free, objects: np.ndarray, seconds: float | None, known) -> str:
    valid = c4_free_mask(objects, problem.n)
    edges = objects.sum(axis=1)
    e = edges[valid]
    distinct = len(set(canonical_graph_keys(objects[valid], problem.n)))
    best = int(e.max()) if len(e) else 0
    hist = " ".join(f"{k}:{v}" for k, v in sorted(Counter(e.tolist()).items(), reverse=True)[:8])
    time_s = "-" if seconds is None else f"{seconds:.1f}"
    return (f"| {name} | {valid.mean():.2f} | {e.mean() if len(e) else 0:.2f} | {e.std() if len(e) else 0:.2f} | "
            f"{best} | {int((e == best).sum())} | {distinct} | {known} | {time_s} | {hist} |")


def c4_problem(n: int, args) -> C4Free:
    return C4Free(C4FreeSettings(n=n, constrained_decoding=not args.unconstrained, vertex_order=args.order,
                                 encoding=args.encoding))


def training_graphs(problem: C4Free, rng: np.random.Generator, args) -> tuple[np.ndarray, int, int]:
    """The elites (chained when asked), how many the kernel found, and how many starts it searched."""
    elites, searched = find_elites(problem, rng, args)
    found = len(elites)
    if args.chain_steps:
        elites = chain_graphs(problem, elites, rng, args)
    return elites, found, searched


def smaller_model(n: int, args) -> tuple[Transformer, C4Free, str]:
    """--transfer-from m: the same recipe at m vertices (elites, training), for arm (g) at n."""
    m = args.transfer_from
    if m >= n:
        raise SystemExit(f"--transfer-from {m}: needs fewer vertices than n = {n}")
    problem = c4_problem(m, args)
    t0 = time.perf_counter()
    elites, _, _ = training_graphs(problem, np.random.default_rng([args.seed, m]), args)
    model, loss, _ = train_model(problem, elites, args)
    return model, problem, (f"a model trained the same way at n = {m} ({len(elites)} graphs, mean "
                            f"{elites.sum(1).mean():.2f} edges, final loss {loss:.3f}; "
                            f"{time.perf_counter() - t0:.0f} s "
                            f"in all), then {args.train_steps} steps on the graphs above")


def run(n: int, args) -> None:
    problem = c4_problem(n, args)
    rng = np.random.default_rng([args.seed, n])
    t0 = time.perf_counter()
    elites, found, searched = training_graphs(problem, rng, args)
    elite_s = time.perf_counter() - t0
    model, loss, train_s = train_model(problem, elites, args)
    transferred = None
    if args.transfer_from:
        small, small_problem, story = smaller_model(n, args)
        transferred, transferred_loss, _ = train_model(problem, elites, args, (small, small_problem))
        story += f" (final loss {transferred_loss:.3f})"
    t0 = time.perf_counter()
    arms_of = [(t, d) for d in args.decoding for t in args.temperature]
    tokens = {(t, d): model_samples(problem, model, args.starts, t, d, args) for t, d in arms_of}
    raws = {f"T = {t}, {d} order": problem.codec.decode(toks).objects for (t, d), toks in tokens.items()}
    if transferred is not None:
        t, d = arms_of[0]
        raws[f"T = {t}, {d} order, (g) from n = {args.transfer_from}"] = problem.codec.decode(
            model_samples(problem, transferred, args.starts, t, d, args)).objects
    sample_s = time.perf_counter() - t0
    known = problem.best_known()
    known = "-" if known is None else f"{known:.0f}"
    training_keys = set(canonical_graph_keys(elites, problem.n))
    copies = [len(set(canonical_graph_keys(raw, problem.n)) & training_keys) for raw in raws.values()]

    seed = int(rng.integers(2**62))  # one kernel seed for every arm
    arms = {f"(a) model samples, {name}": (raw, 0) for name, raw in raws.items()}
    first = arms_of[0]
    for f in args.prefix:
        arms[f"(d) first {f:.0%} of each T = {first[0]}, {first[1]} order sample"] = (
            problem.codec.decode(prefixes(tokens[first], f)).objects, 0)
    arms["(b) random starts"] = (problem.initial_pool(rng, args.starts).objects, 0)
    best = elites[np.arange(args.starts) % len(elites)]
    completions = {}
    arms["(c) perturbed elites"] = (best, args.perturb_kick)
    for f in args.complete:  # the model as a learnt perturbation: it regrows the rest of an elite
        kept = prefixes(problem.codec.encode(Pool(objects=best)), f)
        grown = model_samples(problem, model, len(kept), first[0], first[1], args, kept)
        completed = problem.codec.decode(grown).objects
        completions[f"T = {first[0]}, completing the first {f:.0%} of each elite"] = completed
        arms[f"(e) the model completes the first {f:.0%} of each elite"] = (completed, 0)
        arms[f"(f) the first {f:.0%} of each elite, grown by the search"] = (problem.codec.decode(kept).objects, 0)
    chained = (f", then {args.chain_steps} chain links (swap {args.chain_kick} edges, {args.chain_rounds} rounds): "
               f"{len(elites)} best distinct"
               if args.chain_steps else "")
    print(f"\n## n = {n}\n")
    print(f"elites: {found} distinct graphs from {searched} random-start searches{chained}, in {elite_s:.0f} s "
          f"(edges {int(elites.sum(1).min())}..{int(elites.sum(1).max())}, mean {elites.sum(1).mean():.2f}); "
          f"model trained {args.train_steps} steps in {train_s:.0f} s (final loss {loss:.3f}); "
          f"{len(raws)} x {args.starts} samples in {sample_s:.1f} s, {' / '.join(map(str, copies))} of them "
          f"isomorphic to a training graph.\n")
    if transferred is not None:
        print(f"(g): {story}.\n")
    print("| rounds | starts | valid | mean edges | std | best | # at best | non-isomorphic | best known | kernel s "
          "| histogram (edges:count) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, raw in raws.items():
        print("| - " + describe(f"raw model samples, {name} (no search)", problem, raw, None, known))
    print("| - " + describe("elites (training set)", problem, elites, None, known))
    for name, raw in completions.items():
        print("| - " + describe(f"raw completions, {name} (no search)", problem, raw, None, known))
    if completions:
        memorised = [str(len(set(canonical_graph_keys(c, problem.n)) & training_keys)) for c in completions.values()]
        print(f"\n(raw completions isomorphic to a training graph: {' / '.join(memorised)} distinct)\n")
    for rounds in args.rounds:
        for name, (starts, kick) in arms.items():
            t0 = time.perf_counter()
            out = search(starts, seed, args, rounds, kick)
            print(f"| {rounds} " + describe(name, problem, out, time.perf_counter() - t0, known), flush=True)
    print(f"\nload average after n = {n}: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, nargs="+", default=[35, 40, 45])
    ap.add_argument("--starts", type=int, default=100, help="starts per arm (and per elite-search batch)")
    ap.add_argument("--elites", type=int, default=200, help="distinct best graphs that train the model")
    ap.add_argument("--elite-seconds", type=float, default=60.0, help="kernel time spent finding the elites")
    ap.add_argument("--rounds", type=int, nargs="+", default=[2000], help="kernel budgets (one table row per arm each)")
    ap.add_argument("--elite-rounds", type=int, default=20000, help="rounds of each elite-finding search")
    ap.add_argument("--chain-steps", type=int, default=0, help="perturbation-chain links that grow the training set")
    ap.add_argument("--chain-kick", type=int, default=12, help="edges each chain link removes (then regrows without)")
    ap.add_argument("--chain-rounds", type=int, default=2000, help="rounds of each chain link's search")
    ap.add_argument("--train-graphs", type=int, default=2000, help="with --chain-steps: best distinct graphs kept")
    ap.add_argument("--order", choices=["given", "bfs"], default="given", help="vertex labels the model trains on")
    ap.add_argument("--round-kick", type=int, default=2)
    ap.add_argument("--tabu", type=int, default=0)
    ap.add_argument("--accept-worse", type=float, default=0.0)
    ap.add_argument("--perturb-kick", type=int, default=4, help="edges removed from each elite in arm (c)")
    ap.add_argument("--train-steps", type=int, default=400)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--temperature", type=float, nargs="+", default=[1.0], help="one model arm per temperature")
    ap.add_argument("--prefix", type=float, nargs="*", default=[],
                    help="also start from these fractions of each sample's first edges (partial starts)")
    ap.add_argument("--complete", type=float, nargs="*", default=[],
                    help="also let the model complete these fractions of each elite's first edges (arm e), "
                         "against the search growing the same edges (arm f)")
    ap.add_argument("--transfer-from", type=int, default=0,
                    help="also train a model at this smaller n, continue it on n's graphs, and start from its "
                         "samples (arm g: does a model trained at m help at n?)")
    ap.add_argument("--encoding", choices=["edges", "bits"], default="edges", help="the model's tokens")
    ap.add_argument("--decoding", nargs="+", choices=["sorted", "any"], default=["any"],
                    help="edge encoding: constrained decoding in increasing pair order, or any legal edge "
                         "(one arm each)")
    ap.add_argument("--unconstrained", action="store_true", help="sample without the C4 decoding mask")
    ap.add_argument("--threads", type=int, default=1, help="kernel threads (torch always uses 1)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    print("# C4-free: local search from model samples vs random starts vs perturbed elites\n")
    print(f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()} with "
          f"{os.cpu_count()} cores (shared with other sessions; times are indicative), seed {args.seed}.")
    print(f"Kernel per start: rounds {' / '.join(map(str, args.rounds))}, round_kick {args.round_kick}, "
          f"tabu {args.tabu}, accept_worse {args.accept_worse}; {args.starts} starts per arm; elite searches of "
          f"{args.elite_rounds} rounds; decoding {'unconstrained' if args.unconstrained else 'C4-constrained'}, "
          f"temperature {' / '.join(map(str, args.temperature))}, order {' / '.join(args.decoding)}; "
          f"encoding {args.encoding}; vertex order {args.order}; model "
          f"{args.layers}x{args.width}, {args.train_steps} steps of {args.batch_size}; load average at start "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}.")
    for n in args.n:
        run(n, args)


if __name__ == "__main__":
    main()

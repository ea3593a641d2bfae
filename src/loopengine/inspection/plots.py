"""PNG plots of a run. Figures are built with matplotlib's object API (Figure + Agg canvas),
never pyplot, so nothing depends on a display or on global backend state."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from loopengine.errors import ArchiveError
from loopengine.inspection.render import PHASES
from loopengine.inspection.runs import Run
from loopengine.rundir import archive

DPI = 110


def save(fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    return path


def valid_scores(run: Run, g: int) -> np.ndarray:
    path = run.path / archive.gen_name(g) / "candidates.parquet"
    try:
        table = pq.read_table(path, columns=["score", "valid"])
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise ArchiveError(f"cannot read {path}: {exc}") from None
    score = table.column("score").to_numpy(zero_copy_only=False).astype(np.float64)
    valid = table.column("valid").to_numpy(zero_copy_only=False).astype(bool)
    score = score[valid]
    return score[np.isfinite(score)]


def _gens(run: Run) -> np.ndarray:
    return np.array(run.generations)


def _series(run: Run, key: str) -> np.ndarray:
    return np.array([np.nan if m.get(key) is None else float(m[key]) for m in run.metrics])


def integer_axes(ax: Axes, run: Run | None = None, x: bool = True) -> None:
    """Generations are whole numbers; so are scores like edge counts (no 44.25 ticks)."""
    if x:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if run is not None and all(float(v).is_integer() for m in run.metrics
                               for v in (m.get("best_ever"), m.get("best"), m.get("best_known")) if v is not None):
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))


def _best_known_line(ax: Axes, run: Run) -> None:
    known = run.best_known()
    if known is not None:
        ax.axhline(known, color="tab:red", linestyle="--", linewidth=1, label=f"best known ({known:g})")


def score_distribution(run: Run, path: Path) -> Path:
    """Box per generation over verified candidates (whiskers = min and max), best-ever line."""
    fig = Figure(figsize=(8, 4.2))
    ax = fig.add_subplot()
    data = [valid_scores(run, g) for g in run.generations]
    with_data = [i for i, d in enumerate(data) if len(d)]
    gens = _gens(run)
    if with_data:
        ax.boxplot([data[i] for i in with_data], positions=gens[with_data], whis=(0, 100), widths=0.6,
                   manage_ticks=False, patch_artist=True,
                   boxprops={"facecolor": "tab:blue", "alpha": 0.35}, medianprops={"color": "tab:blue"})
        ax.plot(gens, _series(run, "best_ever"), color="black", marker=".", linewidth=1.2, label="best ever")
        _best_known_line(ax, run)
        ax.legend(loc="lower right", fontsize=8)
    else:
        ax.text(0.5, 0.5, "no verified candidates yet", ha="center", va="center", transform=ax.transAxes)
    missing = [int(g) for i, g in enumerate(gens) if not len(data[i])]
    note = f" (no verified candidates in generation {', '.join(map(str, missing))})" if missing and with_data else ""
    ax.set_title(f"{run.name}: score of verified candidates per generation{note}", fontsize=10)
    ax.set_xlabel("generation")
    ax.set_ylabel("score")
    ax.set_xlim(gens[0] - 0.7, gens[-1] + 0.7)
    integer_axes(ax, run)
    return save(fig, path)


def time_unit(*runs: Run) -> tuple[float, str]:
    """Seconds for short runs (tests, smoke runs), minutes otherwise, hours for long ones."""
    longest = max(float(np.nanmax(_series(r, "elapsed"), initial=0.0)) for r in runs)
    if longest < 120:
        return 1.0, "seconds"
    return (60.0, "minutes") if longest < 3 * 3600 else (3600.0, "hours")


def plot_best_vs_time(ax: Axes, run: Run, label: str, unit: float, color: str | None = None) -> None:
    ax.step(_series(run, "elapsed") / unit, _series(run, "best_ever"), where="post", marker="o", markersize=3,
            label=label, color=color)


def best_vs_time(run: Run, path: Path) -> Path:
    fig = Figure(figsize=(8, 4.2))
    ax = fig.add_subplot()
    unit, unit_name = time_unit(run)
    plot_best_vs_time(ax, run, "best so far", unit, color="black")
    ax.plot(_series(run, "elapsed") / unit, _series(run, "best"), linestyle="none", marker="x",
            color="tab:blue", label="best of the generation")
    _best_known_line(ax, run)
    ax.set_title(f"{run.name}: best score against wall time", fontsize=10)
    ax.set_xlabel(f"wall time ({unit_name}, end of each generation)")
    ax.set_ylabel("score")
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    integer_axes(ax, run, x=False)
    return save(fig, path)


def collapse(run: Run, path: Path) -> Path:
    """Signs of mode collapse: fewer distinct or novel samples, lower token entropy."""
    fig = Figure(figsize=(8, 6))
    top, bottom = fig.subplots(2, 1, sharex=True)
    gens = _gens(run)
    # distinct markers and dashes: these lines often coincide (all at 1.0 in a healthy run)
    for (key, label), style in zip((("unique_fraction", "unique samples"), ("novelty", "novel (never seen before)"),
                                    ("valid_fraction", "valid candidates"), ("sample_valid_fraction", "valid samples")),
                                   ("o-", "s--", "^:", "x-.")):
        values = _series(run, key)
        if np.isfinite(values).any():
            top.plot(gens, values, style, markersize=5, fillstyle="none", label=label)
    top.set_ylim(-0.05, 1.05)
    top.set_ylabel("fraction")
    top.legend(fontsize=8, loc="lower left")
    top.grid(alpha=0.3)
    top.set_title(f"{run.name}: collapse metrics", fontsize=10)
    # axes start at 0: a drift of 0.01 bits must not look like a collapse
    entropy, temperature = _series(run, "token_entropy"), _series(run, "temperature")
    bottom.plot(gens, entropy, marker=".", color="tab:purple", label="token entropy")
    bottom.set_ylabel("token entropy (bits)", color="tab:purple")
    bottom.set_ylim(0, 1.15 * np.nanmax(entropy, initial=1.0))
    twin = bottom.twinx()
    twin.plot(gens, temperature, marker=".", linestyle="--", color="tab:orange", label="sampling temperature")
    twin.set_ylabel("sampling temperature (dashed)", color="tab:orange")
    twin.set_ylim(0, 1.3 * np.nanmax(temperature, initial=1.0))
    bottom.set_xlabel("generation")
    bottom.grid(alpha=0.3)
    integer_axes(bottom)
    return save(fig, path)


def phase_times(run: Run, path: Path) -> Path:
    fig = Figure(figsize=(8, 3.8))
    ax = fig.add_subplot()
    gens = _gens(run)
    below = np.zeros(len(gens))
    for phase in PHASES[:-1]:
        secs = np.array([float(m.get("timings", {}).get(phase) or 0.0) for m in run.metrics])
        ax.bar(gens, secs, bottom=below, label=phase, width=0.7)
        below += secs
    ax.set_ylim(0, 1.35 * max(below.max(initial=0.0), 1e-3))  # room for the legend above the bars
    ax.set_title(f"{run.name}: time per phase", fontsize=10)
    ax.set_xlabel("generation")
    ax.set_ylabel("seconds")
    ax.legend(fontsize=8, ncol=3)
    integer_axes(ax)
    return save(fig, path)


def model_metrics(run: Run, path: Path) -> Path | None:
    """Fractions the problem reports about its model (accuracy...), when it reports any."""
    keys = sorted({k for m in run.metrics for k, v in (m.get("model") or {}).items()
                   if isinstance(v, float) and 0 <= v <= 1})
    if not keys:
        return None
    fig = Figure(figsize=(8, 3.8))
    ax = fig.add_subplot()
    gens = _gens(run)
    for key in keys:
        values = [float((m.get("model") or {}).get(key, np.nan)) for m in run.metrics]
        ax.plot(gens, values, marker="o", markersize=3, label=key)
    ax.set_ylim(-0.05, 1.05)
    ax.set_title(f"{run.name}: model metrics", fontsize=10)
    ax.set_xlabel("generation")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    integer_axes(ax)
    return save(fig, path)


# ---- what the problem is judged on --------------------------------------------------------

def judged_by_targets(run: Run) -> bool:
    """Conditional problems with a list of targets (Lyapunov: systems) are judged on how many
    they solve, not on one best score."""
    return any("targets_found" in (m.get("model") or {}) for m in run.metrics) or run.results is not None


def targets_per_generation(run: Run, path: Path) -> Path | None:
    """Targets with a V that passes the sampler, per generation, and how many the run proved."""
    found = np.array([float((m.get("model") or {}).get("targets_found", np.nan)) for m in run.metrics])
    total = next(((m.get("model") or {}).get("targets") for m in run.metrics if (m.get("model") or {}).get("targets")),
                 None) or (run.summary or {}).get("targets")
    proven = (run.summary or {}).get("certified")
    if not np.isfinite(found).any() and proven is None:
        return None
    fig = Figure(figsize=(8, 3.8))
    ax = fig.add_subplot()
    gens = _gens(run)
    if np.isfinite(found).any():
        ax.plot(gens, found, marker="o", color="tab:blue", label="targets with a V passing the sampler")
    if proven is not None:
        ax.plot([gens[-1]], [proven], marker="*", markersize=14, linestyle="none", color="tab:green",
                label=f"proven by exact SOS at the end ({proven})")
    if total:
        ax.axhline(total, color="tab:red", linestyle="--", linewidth=1, label=f"targets ({total})")
        ax.set_ylim(-0.3, total + 0.8)
    ax.set_title(f"{run.name}: targets solved per generation", fontsize=10)
    ax.set_xlabel("generation")
    ax.set_ylabel("targets")
    ax.set_xlim(gens[0] - 0.5, gens[-1] + 0.5)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    integer_axes(ax)
    return save(fig, path)


def best_per_generation(run: Run, path: Path) -> Path | None:
    """Optimisation: the best score so far and of each generation, against the best known."""
    ever, best = _series(run, "best_ever"), _series(run, "best")
    if not np.isfinite(ever).any() and not np.isfinite(best).any():
        return None
    fig = Figure(figsize=(8, 3.8))
    ax = fig.add_subplot()
    gens = _gens(run)
    ax.plot(gens, ever, marker="o", color="black", label="best so far")
    if np.isfinite(best).any():
        ax.plot(gens, best, linestyle="none", marker="x", color="tab:blue", label="best of the generation")
    _best_known_line(ax, run)
    ax.set_title(f"{run.name}: best score per generation", fontsize=10)
    ax.set_xlabel("generation")
    ax.set_ylabel("score")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    integer_axes(ax, run)
    return save(fig, path)


def training_loss(run: Run, path: Path) -> Path | None:
    """The loss of every training step, generation after generation (dotted lines between
    generations); the per-generation mean where the run recorded no steps (older runs)."""
    steps = [m.get("train_losses") or [] for m in run.metrics]
    fig = Figure(figsize=(8, 3.5))
    ax = fig.add_subplot()
    if any(steps):
        start = 0
        for losses in steps:
            if losses:
                ax.plot(np.arange(start, start + len(losses)), losses, color="tab:blue", linewidth=0.8)
                ax.axvline(start, color="grey", linestyle=":", linewidth=0.6)
                start += len(losses)
        ax.set_xlabel("training step (dotted: a new generation begins)")
    else:
        mean = _series(run, "train_loss")
        if not np.isfinite(mean).any():
            plt_close(fig)
            return None
        ax.plot(_gens(run), mean, marker="o", color="tab:blue")
        ax.set_xlabel("generation (mean loss of its last steps)")
        integer_axes(ax)
    ax.set_ylabel("cross-entropy loss")
    ax.set_title(f"{run.name}: training loss", fontsize=10)
    ax.grid(alpha=0.3)
    return save(fig, path)


def raw_vs_searched(run: Run, path: Path) -> Path | None:
    """What the model sampled against what local search made of it, per generation: the
    share that passes the verifier (and the best score, for optimisation problems)."""
    sampled = [i for i, m in enumerate(run.metrics) if m.get("samples")]
    if not sampled:
        return None
    gens = _gens(run)[sampled]
    raw_valid = _series(run, "sample_valid_fraction")[sampled]
    valid = _series(run, "valid_fraction")[sampled]
    scores = not judged_by_targets(run) and np.isfinite(_series(run, "sample_best")[sampled]).any()
    fig = Figure(figsize=(8, 3.6))
    axes = fig.subplots(1, 2) if scores else [fig.add_subplot()]
    ax = axes[0]
    width = 0.38
    ax.bar(gens - width / 2, raw_valid, width, label="model samples, as sampled", color="tab:orange")
    ax.bar(gens + width / 2, valid, width, label="after local search", color="tab:blue")
    ax.set_ylim(0, 1.25)
    ax.set_ylabel("share passing the verifier")
    ax.set_xlabel("generation")
    ax.set_title(f"{run.name}: raw samples against searched", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", ncol=2)
    ax.set_xlim(gens[0] - 0.7, gens[-1] + 0.7)
    if len(gens) <= 12:
        ax.set_xticks(gens)
    integer_axes(ax)
    if scores:
        right = axes[1]
        right.plot(gens, _series(run, "sample_best")[sampled], marker="o", color="tab:orange", label="best sample")
        right.plot(gens, _series(run, "best")[sampled], marker="s", color="tab:blue", label="best after search")
        _best_known_line(right, run)
        right.set_xlabel("generation")
        right.set_ylabel("score")
        right.legend(fontsize=8, loc="lower right")
        right.grid(alpha=0.3)
        integer_axes(right, run)
    return save(fig, path)


def best_graph(run: Run, path: Path) -> Path | None:
    """A drawing of the best graph found (graph problems), vertices on a circle."""
    import networkx as nx

    from loopengine.inspection.render import parse_graph6
    from loopengine.inspection.runs import best_over_run

    best = best_over_run(run, 1)
    if best.empty or "graph6" not in best.columns or not bool(best["valid"].iloc[0]):
        return None
    graph = parse_graph6(str(best["graph6"].iloc[0]))
    fig = Figure(figsize=(5, 5))
    ax = fig.add_subplot()
    pos = nx.circular_layout(graph)
    nx.draw_networkx_edges(graph, pos, ax=ax, width=0.8, edge_color="#456")
    nx.draw_networkx_nodes(graph, pos, ax=ax, node_size=60, node_color="tab:blue")
    ax.set_title(f"best graph: {graph.number_of_edges()} edges on {graph.number_of_nodes()} vertices "
                 f"(generation {int(best['generation'].iloc[0])})", fontsize=10)
    ax.set_axis_off()
    return save(fig, path)


def plt_close(fig: Figure) -> None:
    """Figures made with the object API need no pyplot bookkeeping; dropping them is enough."""
    fig.clear()


def plot_source_shares(generations: list[dict], path: Path) -> Path | None:
    """The start sources of a run (sources.py): each source's share of the starts per
    generation (stacked) and its yield (credited rows per start). `generations` are the
    generations' metrics.json dicts; None when no generation split its starts."""
    names = [n for n in ("model", "random", "curriculum", "elites")
             if any(n in (m.get("sources") or {}) for m in generations)]
    if not names:
        return None
    gens = np.array([m["generation"] for m in generations])
    fig = Figure(figsize=(8, 5.5))
    top, bottom = fig.subplots(2, 1, sharex=True)
    share = {n: np.array([((m.get("sources") or {}).get(n) or {}).get("share") or 0.0 for m in generations])
             for n in names}
    top.stackplot(gens, *[share[n] for n in names], labels=names, alpha=0.8, step="mid")
    top.set_ylim(0, 1)
    top.set_ylabel("share of the starts")
    top.legend(fontsize=8, loc="upper left", ncol=len(names))
    top.set_title("start sources: share of each generation's starts, and yield", fontsize=10)
    for n in names:
        y = [((m.get("sources") or {}).get(n) or {}).get("yield") for m in generations]
        top_y = np.array([np.nan if v is None else float(v) for v in y])
        bottom.plot(gens, top_y, marker="o", markersize=3, label=n)
    bottom.set_ylabel("yield (credited rows per start)")
    bottom.set_xlabel("generation")
    bottom.legend(fontsize=8)
    bottom.grid(alpha=0.3)
    integer_axes(bottom)
    return save(fig, path)

"""Candidates and model metrics in a form a person reads: shared by show (terminal) and
report (HTML). Known human columns get a special rendering (graph6 -> edge count and
adjacency picture, V -> expression with its certificate status); any other column a
problem adds is shown as `name: value`, so new problems need no change here."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from loopengine.inspection.runs import Run

# How each integer problem labels the entries of model["per_class_accuracy"].
CLASS_LABELS = {"gcd": ("gcd", 1), "modmul": ("residue", 0), "modadd": ("residue", 0)}
EDGE, NO_EDGE = "#", "."


@dataclass
class Rendered:
    """One candidate: a headline and labelled detail lines."""

    headline: str
    details: list[tuple[str, str]]
    picture: list[str]


def parse_graph6(text: str) -> nx.Graph:
    return nx.from_graph6_bytes(text.strip().encode())


def adjacency_picture(graph: nx.Graph) -> list[str]:
    nodes = sorted(graph.nodes)
    return ["".join(EDGE if graph.has_edge(u, v) else NO_EDGE for v in nodes) for u in nodes]


class Certificates:
    """Certificate status of Lyapunov candidates, from the run's certificates/*.json
    (written by finalize); candidates never certified are reported by their sample check."""

    def __init__(self, run_dir: Path) -> None:
        self.status: dict[tuple[str, str], str] = {}
        for path in sorted((run_dir / "certificates").glob("*.json")):
            try:
                data = json.loads(path.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue
            # the typed system, and the system as the candidates' column writes it (scaled to
            # integer coefficients; runs before archived_system matched only the first)
            for system in {str(data.get("system", "")), str(data.get("archived_system", data.get("system", "")))}:
                for tried in data.get("tried", []):
                    self.status[(system, str(tried.get("V")))] = str(tried.get("status"))
                if data.get("V") not in (None, "-"):
                    self.status.setdefault((system, str(data["V"])), str(data.get("status")))

    def of(self, system: str, v: str, violations: Any) -> str:
        found = self.status.get((system, v))
        if found is not None:
            proven = ("certified", "globally asymptotically stable", "globally stable")  # old and new runs
            return found + (" (exact SOS check)" if found in proven else "")
        if violations is None or _missing(violations):
            return "not certified"
        if int(violations) == 0:
            return "sample-checked, not certified (0 violating sample points)"
        return f"rejected by the sampler ({int(violations)} violating sample points)"


def render_candidate(row: pd.Series, columns: list[str], certs: Certificates | None) -> Rendered:
    score = "-" if _missing(row["score"]) else fmt(row["score"])
    headline = f"score {score}  {'valid' if row['valid'] else 'INVALID'}  gen {row['generation']}  {row['origin']}"
    details: list[tuple[str, str]] = []
    picture: list[str] = []
    shown = set()
    if "graph6" in columns and isinstance(row["graph6"], str):
        graph = parse_graph6(row["graph6"])
        headline += f"  {graph.number_of_edges()} edges on {graph.number_of_nodes()} vertices"
        details.append(("graph6", row["graph6"]))
        picture = adjacency_picture(graph)
        shown.add("graph6")
    if "V" in columns:
        system = str(row.get("system", ""))
        details.append(("V", str(row["V"])))
        if "system" in columns:
            details.append(("system", f"x' = [{system}]"))
        if certs is not None:
            details.append(("status", certs.of(system, str(row["V"]), row.get("violations"))))
        shown.update({"V", "system", "violations"})
    details.extend((c, _text(row[c])) for c in columns if c not in shown)
    return Rendered(headline, details, picture)


def model_scalars(model: dict[str, Any]) -> list[tuple[str, str]]:
    """The model{} metrics that fit in one cell (lists go to per_class_rows or are shortened)."""
    rows = []
    for key, value in model.items():
        if key == "per_class_accuracy":
            continue
        if isinstance(value, float) and 0 <= value <= 1 and ("accuracy" in key or "fraction" in key
                                                              or key in ("ceiling", "chance", "rule_agreement",
                                                                         "invalid_answers")):
            rows.append((key, f"{value:.2%}"))
        elif isinstance(value, list):
            text = ", ".join(map(str, value[:30])) + (" ..." if len(value) > 30 else "")
            rows.append((key, text or "-"))
        elif isinstance(value, dict):
            rows.append((key, json.dumps(value)[:120]))
        else:
            rows.append((key, _text(value)))
    return rows


def per_class_rows(model: dict[str, Any], problem: str, width: int = 10) -> tuple[str, list[str], list[list[str]]]:
    """model["per_class_accuracy"] as a grid of `width` classes per row: (title, header, rows).
    Row r, column c is class first + r * width + c, its accuracy in percent: 4 characters
    a cell, so 100 gcds fit an 80-column terminal."""
    acc = model.get("per_class_accuracy")
    if not isinstance(acc, list) or not acc:
        return "", [], []
    label, first = CLASS_LABELS.get(problem, ("class", 0))
    cells = ["-" if a is None else f"{100 * a:.0f}" for a in acc]
    rows = [[str(first + i)] + cells[i:i + width] for i in range(0, len(cells), width)]
    rows[-1] += [""] * (width + 1 - len(rows[-1]))
    header = [label] + [f"+{c}" for c in range(width)]
    return f"per-{label} accuracy in % ({label} = row + column)", header, rows


# Per-generation model metrics worth a column, with their header and how they are shown.
MODEL_COLUMNS = (("accuracy", "acc%", "pct"), ("correct_gcds", "gcds", "int"),
                 ("classes_learned", "classes", "int"), ("invalid_answers", "malformed%", "pct"),
                 ("rule_agreement", "rule%", "pct"))


def model_table(run: Run) -> tuple[list[str], list[list[str]]]:
    """The model's held-out metrics per generation (accuracy, correct gcds, ...), only the
    columns some generation has; ([], []) for problems without model metrics."""
    models = [m.get("model") or {} for m in run.metrics]
    shown = [(key, head, kind) for key, head, kind in MODEL_COLUMNS if any(key in mm for mm in models)]
    if not shown:
        return [], []
    cell = lambda v, kind: pct(v) if kind == "pct" else fmt(v)  # noqa: E731
    rows = [[str(m["generation"]), *(cell(mm.get(key), kind) for key, _, kind in shown), fmt(m.get("train_loss"), 3)]
            for m, mm in zip(run.metrics, models)]
    return ["gen", *(head for _, head, _ in shown), "loss"], rows


SOURCE_NAMES = ("model", "random", "curriculum", "elites")  # sources.py's order


def paid_in_seconds(run: Run) -> bool:
    """Whether the run's sources paid in seconds (sources.cost), so yields are per second."""
    return (run.task.get("sources") or {}).get("cost") == "seconds"


def sources_table(run: Run) -> tuple[list[str], list[list[str]]]:
    """Per generation, each start source's share of the starts and its yield (credited rows
    per start, or per second where the run's sources paid in seconds; sources.py), and the
    fine-tuning steps run; ([], []) when no generation split its starts (generation 0 alone,
    or a run older than start sources)."""
    split = [m for m in run.metrics if m.get("sources")]
    names = [n for n in SOURCE_NAMES if any(n in m["sources"] for m in split)]
    if not names:
        return [], []
    key = "yield_per_s" if paid_in_seconds(run) else "yield"

    def cell(m: dict, name: str) -> str:
        s = m["sources"].get(name)
        return "-" if not s else f"{pct(s.get('share'))}% / {fmt(s.get(key), 3)}"

    rows = [[str(m["generation"]), *(cell(m, n) for n in names), fmt(m.get("train_steps"))] for m in split]
    return ["gen", *names, "train steps"], rows


PHASES = ("sample", "search", "verify", "select", "train", "model_eval", "total")
PHASE_HEADERS = {"model_eval": "eval"}


def generation_table(run: Run) -> tuple[list[str], list[list[str]]]:
    """Scores and collapse metrics per generation."""
    columns = ["gen", "best", "median", "best_ever", "valid%", "uniq%", "novel%", "entropy", "temp", "loss"]
    rows = [[str(m["generation"]), fmt(m.get("best")), fmt(m.get("median")), fmt(m.get("best_ever")),
             pct(m.get("valid_fraction")), pct(m.get("unique_fraction")), pct(m.get("novelty")),
             fmt(m.get("token_entropy"), 3), fmt(m.get("temperature"), 3), fmt(m.get("train_loss"), 3)]
            for m in run.metrics]
    return columns, rows


def timing_table(run: Run) -> tuple[list[str], list[list[str]]]:
    """Seconds per phase per generation, and the run's wall time so far."""
    columns = ["gen", *(PHASE_HEADERS.get(p, p) for p in PHASES), "elapsed"]
    rows = [[str(m["generation"]), *(seconds(m.get("timings", {}).get(p)) for p in PHASES),
             seconds(m.get("elapsed"))] for m in run.metrics]
    return columns, rows


def fmt(value: Any, digits: int = 4) -> str:
    """Numbers short and exact when they are integers (edge counts), '-' when missing."""
    if value is None or _missing(value):
        return "-"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    value = float(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.{digits}g}"


def pct(value: Any) -> str:
    return "-" if value is None or _missing(value) else f"{100 * float(value):.1f}"


def seconds(value: Any) -> str:
    if value is None or _missing(value):
        return "-"
    value = float(value)
    return f"{value:.3f}" if value < 1 else f"{value:.1f}"


def _missing(value: Any) -> bool:
    try:
        return value is None or (isinstance(value, (float, np.floating)) and math.isnan(value))
    except TypeError:
        return False


def _text(value: Any) -> str:
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (float, np.floating, int, np.integer)):
        return fmt(value)
    return str(value)

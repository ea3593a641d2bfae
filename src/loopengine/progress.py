"""What a user watches while a run works: phase, generation, best score, rate."""
from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


def fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def temperature_change(metrics: dict[str, Any]) -> str:
    """'->1.1' when diversity control raised the temperature for the next generation."""
    now, nxt = metrics.get("temperature"), metrics.get("next_temperature")
    return f"->{fmt(nxt, 2)}" if now is not None and nxt is not None and nxt != now else ""


def sampled_valid(metrics: dict[str, Any]) -> str:
    """' (sampled 0.08)' when local search changed how many of the model's samples are valid."""
    raw, pool = metrics.get("sample_valid_fraction"), metrics.get("valid_fraction")
    if not metrics.get("samples") or raw is None or raw == pool:
        return ""
    return f" (raw {percent(raw)})"


def class_note(metrics: dict[str, Any]) -> str:
    """Answer classes produced, against the true ones when the problem knows them."""
    made, true = metrics.get("classes_produced"), metrics.get("classes_true")
    return f"classes {made}" + (f"/{true}" if true is not None else "")


class RunProgress:
    """A rich progress bar for the current phase plus one summary line per generation."""

    def __init__(self, total_generations: int, quiet: bool = False, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.quiet = quiet
        self.total = total_generations
        self.bar = Progress(
            TextColumn("[bold]gen {task.fields[gen]}/{task.fields[gens]}[/] {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("best {task.fields[best]}"),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
            disable=quiet,
        )
        self.task_id = None
        self.generation = 0
        self.best: str = "-"
        self.phase_start = time.perf_counter()
        self.legend_shown = False

    def __enter__(self) -> RunProgress:
        self.bar.__enter__()
        self.task_id = self.bar.add_task("starting", total=None, gen=0, gens=self.total, best="-", rate="")
        return self

    def __exit__(self, *exc) -> None:
        self.bar.__exit__(*exc)

    def phase(self, generation: int, name: str, total: int | None = None) -> None:
        self.generation = generation
        self.phase_start = time.perf_counter()
        self.bar.reset(self.task_id, total=total, description=name, gen=generation,
                       gens=self.total, best=self.best, rate="")

    def advance(self, n: int = 1, unit: str = "it") -> None:
        task = self.bar.tasks[0] if self.bar.tasks else None
        done = (task.completed if task else 0) + n
        elapsed = max(time.perf_counter() - self.phase_start, 1e-9)
        self.bar.update(self.task_id, advance=n, rate=f"{done / elapsed:.1f} {unit}/s")

    def generation_done(self, metrics: dict[str, Any]) -> None:
        best = metrics.get("best_ever")
        self.best = fmt(best)
        if not self.quiet:
            if not self.legend_shown:
                self.console.print(LEGEND, highlight=False, style="dim")
                self.legend_shown = True
            for line in generation_lines(metrics):
                self.console.print(line, highlight=False, soft_wrap=True)


# What the per-generation line's words mean, printed once above the first one.
LEGEND = ("per generation: best = best score so far (/ best known), med = median score, valid / uniq / new = "
          "share of verified, distinct and never-seen candidates (raw: the model's samples before local "
          "search), H = token entropy of the samples (bits), T = sampling temperature (-> next)")
LINE_WIDTH = 80


def generation_lines(metrics: dict[str, Any]) -> list[str]:
    """The generation's numbers in lines of at most 80 columns: one when they fit, else the
    scores, then the diversity numbers, then the problem's notes (accuracy, answer classes)."""
    known = metrics.get("best_known")
    scores = [
        f"gen {metrics['generation']:>3}",
        f"{metrics['timings']['total']:.1f}s",
        f"best {fmt(metrics.get('best_ever'))}" + (f"/{fmt(known)}" if known is not None else ""),
        f"med {fmt(metrics.get('median'))}",
    ]
    if metrics.get("best_ever") is None and known is None:  # judged per target (see the note), not by a best
        del scores[2]
    diversity = [
        f"valid {percent(metrics.get('valid_fraction'))}" + sampled_valid(metrics),
        f"uniq {percent(metrics.get('unique_fraction'))}",
        f"new {percent(metrics.get('novelty'))}",
        f"H {fmt(metrics.get('token_entropy'), 2)}",
        f"T {fmt(metrics.get('temperature'), 2)}" + temperature_change(metrics),
    ]
    notes = []
    if metrics.get("classes_produced") is not None:
        notes.append(class_note(metrics))
    extra = metrics.get("progress_note") or (metrics.get("model") or {}).get("progress_note")
    if extra:
        notes.append(str(extra))
    lines: list[str] = []
    for group in (scores, diversity, notes):
        text = "  ".join(group)
        if not text:
            continue
        if lines and len(lines[-1]) + 2 + len(text) <= LINE_WIDTH:
            lines[-1] += "  " + text
        else:
            lines.append(text if not lines else "         " + text)
    return lines


def percent(value: Any) -> str:
    return "-" if value is None else f"{100 * float(value):.0f}%"


class FinalizeProgress:
    """A bar while the problem judges the run after the last generation ("certifying fwd1
    9/14"): installed as the problem's finalize_progress for the duration."""

    def __init__(self, problem, quiet: bool = False, console: Console | None = None) -> None:
        self.problem = problem
        self.bar = Progress(TextColumn("[bold]finishing[/] {task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), console=console or Console(stderr=True), transient=True,
                            disable=quiet)
        self.task_id = None

    def __enter__(self) -> FinalizeProgress:
        self.bar.__enter__()
        self.task_id = self.bar.add_task("", total=None)
        self.problem.finalize_progress = self.update  # an instance attribute: the class default stays silent
        return self

    def update(self, text: str, done: int, total: int) -> None:
        self.bar.update(self.task_id, description=text, completed=done, total=total)

    def __exit__(self, *exc) -> None:
        self.problem.__dict__.pop("finalize_progress", None)
        self.bar.__exit__(*exc)

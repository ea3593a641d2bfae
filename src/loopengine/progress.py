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
    return f" (sampled {fmt(raw, 2)})"


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
        known = metrics.get("best_known")
        parts = [
            f"gen {metrics['generation']:>3}",
            f"best {fmt(metrics.get('best'))}",
            f"best-ever {self.best}" + (f"/{fmt(known)}" if known is not None else ""),
            f"median {fmt(metrics.get('median'))}",
            f"valid {fmt(metrics.get('valid_fraction'), 2)}" + sampled_valid(metrics),
            f"unique {fmt(metrics.get('unique_fraction'), 2)}",
            f"novel {fmt(metrics.get('novelty'), 2)}",
            f"H {fmt(metrics.get('token_entropy'), 3)}",
            f"T {fmt(metrics.get('temperature'), 2)}" + temperature_change(metrics),
        ]
        if metrics.get("classes_produced") is not None:
            parts.append(class_note(metrics))
        parts.append(f"{metrics['timings']['total']:.1f}s")
        extra = (metrics.get("model") or {}).get("progress_note")  # Problem.progress_note
        if extra:
            parts.append(str(extra))
        if not self.quiet:
            self.console.print("  ".join(parts))

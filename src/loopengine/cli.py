"""Command line: parse, then hand over. `run`, `resume`, `show`, `report`, `export`,
`compare`, `sample`, `check`, `config`, `kernels`. Every user mistake ends as one message and exit code 2."""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperCommand, TyperGroup

from loopengine.errors import ArchiveError, ConfigError


class FlagsAsFlags:
    """Help lists a flag (--json, --trust, --help) bare: typer's rich help labels every boolean
    option `<bool>`, as if it took a value, which a flag never does."""

    def get_params(self, ctx):
        params = super().get_params(ctx)
        for param in params:
            if getattr(param, "is_flag", False) and param.metavar is None:
                param.metavar = ""  # typer shows a set metavar in place of the type
        return params


class Command(FlagsAsFlags, TyperCommand):
    pass


class Group(FlagsAsFlags, TyperGroup):
    pass


class App(typer.Typer):
    """typer.Typer whose commands are `Command`s, so a new command needs nothing to get it."""

    def command(self, *args, **kwargs):
        kwargs.setdefault("cls", Command)
        return super().command(*args, **kwargs)


app = App(cls=Group, add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
          help="Find mathematical objects by looping generate -> local search -> verify -> rank -> fine-tune.")
kernels_app = App(cls=Group, no_args_is_help=True, help="List and build local-search kernels.")
app.add_typer(kernels_app, name="kernels")
console = Console()
err_console = Console(stderr=True)


def user_errors(fn):
    """Turn the errors a user can fix into one line and exit code 2 (never a traceback)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from loopengine.errors import KernelCrashed, KernelError

        try:
            return fn(*args, **kwargs)
        except (ConfigError, ArchiveError, KernelError) as exc:
            # soft_wrap: a message is one line, whatever the terminal width (scripts grep it)
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            # a kernel that crashed its worker is a bug in the kernel, not a mistake in a file: exit 1
            raise typer.Exit(1 if isinstance(exc, KernelCrashed) else 2) from None
        except KeyboardInterrupt as exc:
            where = getattr(exc, "run_dir", None)  # session.RunInterrupted names the run
            target = escape(str(where)) if where is not None else "RUN_DIR"
            err_console.print(f"[yellow]interrupted:[/] every finished generation is on disk; "
                              f"continue with `loopengine resume {target}`", highlight=False, soft_wrap=True)
            raise typer.Exit(130) from None

    return wrapper


def show_version(value: bool) -> None:
    if value:
        from loopengine import __version__

        typer.echo(f"loopengine {__version__}")
        raise typer.Exit()


@app.callback()
def options(
    version: Annotated[bool, typer.Option("--version", callback=show_version, is_eager=True,
                                          help="print the version and exit")] = False,
) -> None:
    """Find mathematical objects by looping generate -> local search -> verify -> rank -> fine-tune."""


def print_summary(run_dir: Path, summary: dict) -> None:
    """The problem's table, the run directory, and last the headline (what the run achieved)."""
    from loopengine.inspection.tables import print_spec

    if "table" in summary:
        print_spec(console, summary["table"], run_dir)
    console.print(f"run: {escape(str(run_dir))}  generations: {summary.get('generations')}", highlight=False,
                  soft_wrap=True)
    headline = summary.get("headline")
    if headline:
        console.print(f"[bold]{escape(headline)}[/]", highlight=False, soft_wrap=True)


def announce(task_file: Path, overrides: list[str], quiet: bool) -> None:
    """The first line, before the heavy imports (torch, the kernels): where the run goes and
    what it will do. Reading the task here also reports a bad task file at once."""
    from loopengine.config import load_task, run_directory

    task, _ = load_task(task_file, overrides)
    run_dir, t = run_directory(task, task_file), task.task
    if not quiet:
        model = "search only" if not task.model.enabled else f"model {task.model.layers}x{task.model.width}"
        err_console.print(f"run {run_dir}: {t.problem}, {t.generations} generations, "
                          f"{task.loop.samples_per_generation} samples each, {model}, seed {t.seed}",
                          highlight=False, soft_wrap=True)


@app.command()
@user_errors
def run(
    task_file: Annotated[Path, typer.Argument(help="TOML task file")],
    generations: Annotated[int | None, typer.Option(help="override task.generations")] = None,
    seed: Annotated[int | None, typer.Option(help="override task.seed")] = None,
    out: Annotated[Path | None, typer.Option(help="directory that receives the run (default runs/)")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="override any key: section.key=value")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress display")] = False,
) -> None:
    """Start a run from a task file."""
    overrides = list(set_ or [])
    if generations is not None:
        overrides.append(f"task.generations={generations}")
    if seed is not None:
        overrides.append(f"task.seed={seed}")
    if out is not None:
        overrides.append(f"task.out={str(out)!r}")
    announce(task_file, overrides, quiet)
    from loopengine.session import start_run

    run_dir, summary = start_run(task_file, overrides, quiet=quiet)
    print_summary(run_dir, summary)


@app.command()
@user_errors
def resume(
    run_dir: Annotated[Path, typer.Argument(help="a run directory")],
    generations: Annotated[int | None, typer.Option(help="total generations to reach (default: the task's)")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress display")] = False,
    trust: Annotated[bool, typer.Option("--trust", help="import/compile the problem or kernel code the run's "
                                                        "task.toml names (see docs/trust.md)")] = False,
) -> None:
    """Continue a run from its last complete generation."""
    if not quiet:  # before the heavy imports below
        err_console.print(f"resume {escape(str(run_dir))}", highlight=False, soft_wrap=True)
    from loopengine.session import resume_run

    summary = resume_run(run_dir, generations, quiet=quiet, trust=trust)
    print_summary(run_dir, summary)


@app.command()
@user_errors
def show(
    run_dir: Annotated[Path, typer.Argument(help="a run directory")],
    gen: Annotated[int | None, typer.Option(help="generation to show candidates of (default: last)")] = None,
    top: Annotated[int, typer.Option(help="how many top candidates")] = 5,
    json_: Annotated[bool, typer.Option("--json", help="machine-readable summary")] = False,
) -> None:
    """Generations table and the best candidates of a run."""
    from loopengine.inspection.show import show_run

    show_run(run_dir, gen=gen, top=top, as_json=json_, console=console)


@app.command()
@user_errors
def report(
    run_dir: Annotated[Path, typer.Argument(help="a run directory")],
    out: Annotated[Path | None, typer.Option(help="where to write (default RUN_DIR/report)")] = None,
) -> None:
    """PNG plots and an HTML page for a run."""
    from loopengine.inspection.report import write_report

    path = write_report(run_dir, out)
    console.print(f"report: {path}")


@app.command()
@user_errors
def export(
    run_dir: Annotated[Path, typer.Argument(help="a run directory")],
    best: Annotated[int, typer.Option(help="how many of the best candidates")] = 10,
    format_: Annotated[str, typer.Option("--format", help="graph6 | json | sympy")] = "json",
    out: Annotated[Path | None, typer.Option(help="file to write (default: standard output)")] = None,
    raw: Annotated[bool, typer.Option("--raw", help="the best candidates with their raw arrays, not the "
                                                    "problem's results (e.g. one record per target system)")] = False,
) -> None:
    """Export a run's results (or with --raw its best candidates) for other tools."""
    from loopengine.inspection.export import export_best

    export_best(run_dir, best, format_, out, console=console, raw=raw)


@app.command()
@user_errors
def compare(
    run_a: Annotated[Path, typer.Argument(help="first run directory")],
    run_b: Annotated[Path, typer.Argument(help="second run directory")],
    out: Annotated[Path | None, typer.Option(help="also write a PNG of the two runs (best score against wall time, "
                                                  "or targets solved per generation) to this file")] = None,
) -> None:
    """Two runs side by side."""
    from loopengine.inspection.compare import compare_runs

    compare_runs(run_a, run_b, out, console=console)


@app.command("sample")
@user_errors
def sample_(
    run_dir: Annotated[Path, typer.Argument(help="a run directory")],
    gen: Annotated[int | None, typer.Option(help="generation whose model to use (default: last)")] = None,
    count: Annotated[int, typer.Option(min=1, max=100_000, help="how many samples")] = 10,
    temperature: Annotated[float, typer.Option(min=0.0, max=10.0, help="0 = greedy")] = 1.0,
    seed: Annotated[int, typer.Option(min=0, help="sampling seed")] = 0,
    json_: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    trust: Annotated[bool, typer.Option("--trust", help="import the problem code the run's task.toml names "
                                                        "(see docs/trust.md)")] = False,
) -> None:
    """Draw objects from a run's trained model, each judged by the problem's verifier."""
    from loopengine.inspection.sample import draw, print_samples

    print_samples(draw(run_dir, gen, count, temperature, seed, trust), console, json_)


@app.command()
@user_errors
def check(
    f: Annotated[str, typer.Option("--f", help='right-hand sides, e.g. "-x0**3 + x1; -x0 - x1"')],
    v: Annotated[str, typer.Option("--v", help='the Lyapunov function, e.g. "x0**2 + x1**2"')],
    json_out: Annotated[Path | None, typer.Option("--json", help="write the certificate data here")] = None,
) -> None:
    """Certify a given V for x' = f(x): exit 0 when a stability status is proven, 1 if not, 2 for bad input."""
    from loopengine.problems.lyapunov.check import check_lyapunov_cli

    raise typer.Exit(check_lyapunov_cli(f, v, json_out, console))


@app.command("config")
@user_errors
def config_(
    problem: Annotated[str | None, typer.Option(help="also this problem's own settings: c4free, lyapunov, gcd, "
                                                     "modmul, modadd or path/to/file.py:ClassName")] = None,
    all_: Annotated[bool, typer.Option("--all", help="the engine and every built-in problem's settings "
                                                     "(docs/task_reference.toml)")] = False,
) -> None:
    """Every task-file key with its default, bounds and meaning, as a TOML task file to start from."""
    from loopengine.task_reference import render_all, render_task

    if all_ and problem:
        raise ConfigError("--all", None, "lists every built-in problem already; use --problem or --all, not both")
    # plain output, not rich: [task] is a TOML table, not markup, and the text is meant for files
    typer.echo(render_all() if all_ else render_task(problem), nl=False)


@kernels_app.command("list")
@user_errors
def kernels_list() -> None:
    """Built-in kernels and cached user builds."""
    from loopengine.kernels.listing import list_kernels

    list_kernels(console)


@kernels_app.command("build")
@user_errors
def kernels_build(file: Annotated[Path, typer.Argument(help="a C++ kernel file")]) -> None:
    """Compile a user kernel now (it is otherwise compiled on first use)."""
    from loopengine.kernels.build import load_cpp_kernel

    console.print(f"built: {load_cpp_kernel(file, 'kernels build').build}")


def main() -> None:
    app(prog_name="loopengine")


if __name__ == "__main__":
    main()

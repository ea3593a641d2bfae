"""`loopengine kernels list`: the built-in kernels (as the built-in problems declare them)
and the user builds in the kernel cache."""
from __future__ import annotations

from rich.table import Table

from loopengine.kernels.build import cache_dir, cached_builds
from loopengine.kernels.resolve import builtin_kernels


def list_kernels(console) -> None:
    table = Table(title="built-in kernels")
    table.add_column("name")
    table.add_column("use in a task file")
    for name in sorted(builtin_kernels()):
        table.add_row(name, f'local_search = "{name}"')
    console.print(table)
    builds = cached_builds()
    table = Table(title=f"user kernel builds in {cache_dir()}")
    for col in ("source", "built", "state", "build"):
        table.add_column(col, overflow="fold")  # full paths, even in a narrow terminal
    for row in builds:
        table.add_row(str(row["source"]), row["built"], row["state"], f"{row['entry'].parent.name}/{row['entry'].name}")
    if builds:
        console.print(table)
    else:
        console.print(f"no user kernel builds in {cache_dir()} (a .cpp kernel is built on first use, "
                      "or with `loopengine kernels build FILE`)")

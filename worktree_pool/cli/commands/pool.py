"""`wtpool init`: make the pool, or top it up."""

from __future__ import annotations

from typing import Annotated

import typer

from worktree_pool.cli.invocation import repository
from worktree_pool.cli.options import JsonOption, commands, emit
from worktree_pool.cli.render import pool as render
from worktree_pool.pool import lifecycle as pool

app = commands()


@app.command()
def init(
    minimum: Annotated[int | None, typer.Option("--min", help="Fewest slots (default 3).")] = None,
    maximum: Annotated[int | None, typer.Option("--max", help="Most slots (default 10).")] = None,
    base: Annotated[
        str | None, typer.Option("--base", help="Base branch (default: the current branch).")
    ] = None,
    json: JsonOption = False,
) -> None:
    """Create the pool in this repository, or top it up to its minimum. Safe to rerun."""
    emit(pool.init_pool(repository(), minimum, maximum, base), json, render.show_init)

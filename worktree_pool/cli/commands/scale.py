"""`wtpool scale`: grow or shrink the pool within its bounds."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from worktree_pool.cli.invocation import repository
from worktree_pool.cli.options import JsonOption, commands, emit
from worktree_pool.cli.render.pool import show_scale
from worktree_pool.errors import bad_input
from worktree_pool.pool import scaling
from worktree_pool.pool.opening import open_store

app = commands()


class Direction(StrEnum):
    UP = "up"
    DOWN = "down"


@app.command()
def scale(
    direction: Annotated[Direction | None, typer.Argument(help="up or down.")] = None,
    by: Annotated[int | None, typer.Option("--by", help="Slots to add or remove (1).")] = None,
    to: Annotated[int | None, typer.Option("--to", help="Target number of slots.")] = None,
    json: JsonOption = False,
) -> None:
    """Grow or shrink the pool within its bounds; only idle, clean slots are removed."""
    if (direction is None) == (to is None):
        raise bad_input("use either `scale up|down [--by K]` or `scale --to N`")
    if by is not None and direction is None:
        raise bad_input("--by goes with `scale up` or `scale down`")
    step = by if by is not None else 1
    repo = repository()
    with open_store(repo) as store:
        result = scaling.scale_pool(
            repo,
            store,
            up=step if direction == Direction.UP else None,
            down=step if direction == Direction.DOWN else None,
            to=to,
        )
        emit(result, json, show_scale)

"""`wtpool acquire` and `release`: an agent takes a slot, and gives it back."""

from __future__ import annotations

from typing import Annotated

import typer

from worktree_pool.cli.invocation import repository
from worktree_pool.cli.options import JsonOption, commands, emit
from worktree_pool.cli.render import pool as render
from worktree_pool.pool import claims
from worktree_pool.pool.opening import open_store

app = commands()


@app.command()
def acquire(
    agent: Annotated[str, typer.Option("--agent", help="Name of the agent taking the slot.")],
    task: Annotated[str | None, typer.Option("--task", help="Task the agent works on.")] = None,
    scope: Annotated[
        list[str] | None,
        typer.Option("--scope", help="Pattern the slot shows and may commit (repeatable)."),
    ] = None,
    adhoc: Annotated[
        bool, typer.Option("--adhoc", help="Allow a --task that is in no task source.")
    ] = False,
    json: JsonOption = False,
) -> None:
    """Give an agent a slot: an idle one, a new one below max, or a place in the queue."""
    repo = repository()
    patterns = tuple(scope) if scope else None
    with open_store(repo) as store:
        claim = claims.acquire(repo, store, agent, task, patterns, adhoc=adhoc)
        emit(claim, json, render.show_acquire)


@app.command()
def release(
    slot: Annotated[
        str | None, typer.Argument(help="Slot to release (default: the slot you are in).")
    ] = None,
    json: JsonOption = False,
) -> None:
    """Take a slot back: save unique work, reset it to the base, hand it to the queue."""
    repo = repository()
    with open_store(repo) as store:
        emit(claims.release(repo, store, slot), json, render.show_release)

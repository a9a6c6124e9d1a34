"""`wtpool tracks analyze|recommend|conflicts|explain|pin|unpin`: read the task graph, and
correct a task's scope."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Annotated

import typer

from worktree_pool.cli.invocation import repository
from worktree_pool.cli.options import JsonOption, LenientOption, ModeArgument, commands, emit
from worktree_pool.cli.render.tracks import (
    show_analysis,
    show_conflicts,
    show_explanation,
    show_pin,
    show_recommendation,
)
from worktree_pool.config.settings import Mode
from worktree_pool.errors import bad_input
from worktree_pool.pool.opening import open_store, open_store_if_any
from worktree_pool.tasks import explaining, planning

app = commands(
    name="tracks",
    help="Read the task graph: its independent tracks, what spawn would pick, overlaps, and "
    "where each task's scope comes from; pin a scope by hand.",
    no_args_is_help=True,
)


@app.command("analyze")
def tracks_analyze(json: JsonOption = False, lenient: LenientOption = False) -> None:
    """Each track's tasks, readiness and scope (and where it came from), and dangling ids."""
    repo = repository()
    # The task graph can be read before there is a pool: then nothing is in use yet.
    with open_store_if_any(repo) or nullcontext() as store:
        emit(planning.analyze(repo, store, lenient), json, show_analysis)


@app.command("recommend")
def tracks_recommend(
    count: Annotated[
        int | None, typer.Argument(help="How many tracks (default: as many as possible).")
    ] = None,
    mode: ModeArgument = Mode.INDEPENDENT,
    json: JsonOption = False,
    lenient: LenientOption = False,
) -> None:
    """The tracks `wtpool spawn` would pick now, and why the others would be skipped."""
    if count is not None and count < 1:
        raise bad_input(f"count must be at least 1, got {count}")
    repo = repository()
    with open_store_if_any(repo) or nullcontext() as store:
        result = planning.recommend(repo, store, count, mode, lenient)
        emit(result, json, show_recommendation)


@app.command("conflicts")
def tracks_conflicts(json: JsonOption = False, lenient: LenientOption = False) -> None:
    """Pairs of tracks whose scopes overlap, with a path and the tracked files both match."""
    repo = repository()
    with open_store_if_any(repo) or nullcontext() as store:
        emit(planning.find_conflicts(repo, store, lenient), json, show_conflicts)


@app.command("explain")
def tracks_explain(
    tasks: Annotated[list[str], typer.Argument(help="Task ids.", show_default=False)],
    json: JsonOption = False,
    lenient: LenientOption = False,
) -> None:
    """Each task's scope, the source it came from, and the evidence that chose it."""
    repo = repository()
    with open_store_if_any(repo) or nullcontext() as store:
        emit(explaining.explain(repo, store, tasks, lenient), json, show_explanation)


@app.command("pin")
def tracks_pin(
    task: Annotated[str, typer.Argument(help="The task id.", show_default=False)],
    patterns: Annotated[
        list[str],
        typer.Argument(help="Its scope: patterns as in tasks' files.", show_default=False),
    ],
    json: JsonOption = False,
) -> None:
    """Pin a task's scope in the pool's state: it holds over every other source until unpinned."""
    repo = repository()
    with open_store(repo) as store:
        emit(explaining.pin(repo, store, task, patterns), json, show_pin)


@app.command("unpin")
def tracks_unpin(
    task: Annotated[str, typer.Argument(help="The task id.", show_default=False)],
    json: JsonOption = False,
) -> None:
    """Drop a task's pinned scope: it gets its scope from its other sources again."""
    with open_store(repository()) as store:
        emit(explaining.unpin(store, task), json, show_pin)

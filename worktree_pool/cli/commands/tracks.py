"""`wtpool tracks analyze|recommend|conflicts`: read the task graph."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Annotated

import typer

from worktree_pool.cli.options import (
    JsonOption,
    LenientOption,
    ModeArgument,
    commands,
    emit,
    repository,
)
from worktree_pool.cli.render.tracks import show_analysis, show_conflicts, show_recommendation
from worktree_pool.config.settings import Mode
from worktree_pool.errors import bad_input
from worktree_pool.pool.opening import open_store_if_any
from worktree_pool.tasks import planning

app = commands(
    name="tracks",
    help="Read the task graph: its independent tracks, what spawn would pick, and overlaps.",
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
    emit(planning.find_conflicts(repository(), lenient), json, show_conflicts)

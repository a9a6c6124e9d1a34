"""`wtpool merge` and `queue`: land finished branches on the base through the merge queue."""

from __future__ import annotations

from typing import Annotated

import typer

from worktree_pool.cli.invocation import repository
from worktree_pool.cli.options import JsonOption, commands, emit
from worktree_pool.cli.render.merges import show_merge, show_queue
from worktree_pool.errors import ExitCode
from worktree_pool.merge.report import queue_report
from worktree_pool.merge.submit import submit
from worktree_pool.pool.opening import open_store
from worktree_pool.store.merges import MergeState

app = commands()


@app.command()
def merge(
    target: Annotated[
        str | None,
        typer.Argument(help="Slot or task whose branch to land (default: the slot you are in)."),
    ] = None,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            help="Land it in this process, or wait while another does; exit 1 unless merged.",
        ),
    ] = False,
    release: Annotated[
        bool, typer.Option("--release", help="Release the slot once its branch has landed.")
    ] = False,
    priority: Annotated[
        int | None,
        typer.Option("--priority", help="0 (most urgent) to 4; default: the task's priority."),
    ] = None,
    json: JsonOption = False,
) -> int:
    """Queue a finished branch to land on the base; the queue never loses a commit."""
    repo = repository()
    with open_store(repo) as store:
        result = submit(repo, store, target, wait=wait, release=release, priority=priority)
        emit(result, json, show_merge)
    landed = not wait or result.entry.state == MergeState.MERGED
    return ExitCode.OK if landed else ExitCode.FAILED


@app.command()
def queue(
    run: Annotated[
        bool,
        typer.Option("--run", help="Work through the queue in this process until it is empty."),
    ] = False,
    json: JsonOption = False,
) -> None:
    """The merge queue's entries and their states."""
    repo = repository()
    with open_store(repo) as store:
        emit(queue_report(repo, store, run=run), json, show_queue)

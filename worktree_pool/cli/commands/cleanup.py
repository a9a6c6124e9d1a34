"""`wtpool cleanup`: end the session."""

from __future__ import annotations

from typing import Annotated

import typer

from worktree_pool.cli.invocation import repository
from worktree_pool.cli.options import JsonOption, commands, emit
from worktree_pool.cli.render.cleanup import show_cleanup
from worktree_pool.coord import cleanup as coordinator
from worktree_pool.errors import ExitCode

app = commands()


@app.command()
def cleanup(
    force: Annotated[
        bool, typer.Option("--force", help="Do not save unique work; list what is discarded.")
    ] = False,
    json: JsonOption = False,
) -> int:
    """End the session: save unique work to salvage branches, then remove every slot."""
    result = coordinator.cleanup(repository(), force=force)
    emit(result, json, show_cleanup)
    return ExitCode.OK if result.complete else ExitCode.FAILED

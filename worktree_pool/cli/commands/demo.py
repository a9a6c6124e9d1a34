"""`wtpool demo`: a short session in a throwaway repository."""

from __future__ import annotations

from typing import Annotated

import typer

from worktree_pool.cli.demo import run_demo
from worktree_pool.cli.options import commands

app = commands()


@app.command()
def demo(
    keep: Annotated[
        bool, typer.Option("--keep", help="Keep the throwaway repository to look around.")
    ] = False,
) -> None:
    """Run a short session in a throwaway repository and show each step."""
    run_demo(keep=keep)

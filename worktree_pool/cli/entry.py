"""The console script's first step: the commands agents run most (quick.py) are answered
before typer is imported; everything else goes to app.main."""

from __future__ import annotations

import sys

from worktree_pool.cli.quick import answer


def main() -> None:
    code = answer(sys.argv[1:])
    if code is not None:
        sys.exit(code)
    from worktree_pool.cli.app import main as run_command

    run_command()

"""The console script's first step: `wtpool --version` is answered before anything else is
imported (typer alone costs more than the whole answer); everything else goes to app.main."""

from __future__ import annotations

import sys

from worktree_pool import __version__


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        print(f"wtpool {__version__}")
        return
    from worktree_pool.cli.app import main as run_command

    run_command()

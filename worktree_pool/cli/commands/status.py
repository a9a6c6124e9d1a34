"""`wtpool status`: the pool, every slot and the queue.

The console script answers `wtpool status [--json]` before typer is imported (cli/quick.py);
this command is the same answer for every other way of asking (`--config`, `--debug`, tests).
"""

from __future__ import annotations

from worktree_pool.cli.options import JsonOption, commands
from worktree_pool.cli.quick import show_status

app = commands()


@app.command()
def status(json: JsonOption = False) -> None:
    """Show the pool, every slot and the queue."""
    show_status(as_json=json)

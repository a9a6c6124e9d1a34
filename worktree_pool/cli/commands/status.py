"""`wtpool status`: the pool, every slot and the queue.

A module of its own, so that the command agents call most imports only what showing the pool
needs, not what making it does.
"""

from __future__ import annotations

from worktree_pool.cli.options import JsonOption, commands, emit, repository
from worktree_pool.cli.render import pool as render
from worktree_pool.pool.opening import open_store
from worktree_pool.pool.status import pool_status

app = commands()


@app.command()
def status(json: JsonOption = False) -> None:
    """Show the pool, every slot and the queue."""
    repo = repository()
    with open_store(repo) as store:
        emit(pool_status(repo, store), json, render.show_status)

"""`wtpool hosts`: the machines sharing this repository's control plane."""

from __future__ import annotations

from worktree_pool.cli.invocation import repository
from worktree_pool.cli.options import JsonOption, commands, emit
from worktree_pool.cli.render.fleet import show_fleet
from worktree_pool.coord.fleet import fleet
from worktree_pool.pool.opening import open_store

app = commands()


@app.command()
def hosts(json: JsonOption = False) -> None:
    """List the hosts of the control plane: when each was heard from, its slots and claims."""
    repo = repository()
    with open_store(repo, reading=True) as store:
        emit(fleet(repo, store), json, show_fleet)

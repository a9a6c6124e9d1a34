"""`wtpool db list|url|reset`: each slot's PostgreSQL database."""

from __future__ import annotations

from typing import Annotated

import typer

from worktree_pool.cli.invocation import repository
from worktree_pool.cli.options import JsonOption, commands, emit
from worktree_pool.cli.render.common import printable
from worktree_pool.cli.render.pool import show_databases
from worktree_pool.db import slots as slot_databases
from worktree_pool.pool.opening import open_store
from worktree_pool.util.names import validate_name
from worktree_pool.util.redact import mask

app = commands(name="db", help="Each slot's PostgreSQL database.", no_args_is_help=True)


@app.command("list")
def db_list(json: JsonOption = False) -> None:
    """The pool's databases: slot, database, size and connections."""
    repo = repository()
    with open_store(repo) as store:
        emit(slot_databases.list_databases(repo, store), json, show_databases)


@app.command("url")
def db_url(
    slot: Annotated[str, typer.Argument(help="The slot.")],
    reveal: Annotated[
        bool, typer.Option("--reveal", help="Print the password instead of ***.")
    ] = False,
) -> None:
    """The slot's DATABASE_URL."""
    repo = repository()
    with open_store(repo) as store:
        url = slot_databases.database_url(repo, store, validate_name("slot", slot))
    # A URL may come from the repository's wtpool.yaml: shown, never acted on by the terminal.
    print(printable(url if reveal else mask(url)))


@app.command("reset")
def db_reset(slot: Annotated[str, typer.Argument(help="The slot.")]) -> None:
    """Drop the slot's database and clone it again from the template."""
    repo = repository()
    with open_store(repo) as store:
        url = slot_databases.reset_database(repo, store, validate_name("slot", slot))
    print(f"{slot}: a fresh clone of the template at {printable(mask(url))}")

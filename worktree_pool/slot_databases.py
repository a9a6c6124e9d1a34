"""Each slot's database through the slot's life: cloned when it is claimed, cloned afresh when it
is released, dropped at cleanup; and `wtpool db list|url|reset`.

The state's `databases` table records what this pool created, beside the comment on each
database (database.py); cleanup drops what either names, and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

from worktree_pool.database import (
    DatabaseInfo,
    Server,
    clone_for_slot,
    drop_owned,
    ensure_template,
    external_server,
    fingerprint,
    list_owned,
    slot_database_name,
)
from worktree_pool.errors import ExitCode, WtpoolError
from worktree_pool.repo import Repository
from worktree_pool.slots import lookup_slot, read_pool, require_pool, slot_number
from worktree_pool.state import StateStore, utc_now


def server_for(repo: Repository) -> Server | None:
    """The configured server, started if it is the embedded one; None when slots get no
    database."""
    settings = repo.config.database
    if settings.mode == "none":
        return None
    if settings.mode == "embedded":
        from worktree_pool import pgserver  # only the embedded mode runs a server

        return Server(pgserver.ensure_running(repo))
    return external_server(settings)


def clone_slot_database(
    repo: Repository, store: StateStore, slot: str, *, fresh: bool = True
) -> dict[str, str]:
    """Give the slot a clone of the template (a new one unless `fresh` is False and it has
    one); return the variables that point its agent at it."""
    server = server_for(repo)
    if server is None:
        return {}
    with store.snapshot() as conn:
        pool = read_pool(conn)
    if pool is None:
        raise WtpoolError(f"no wtpool pool in {repo.root}", "create one with `wtpool init`")
    number = slot_number(slot)
    if number is None:
        raise WtpoolError(f"{slot} is not a slot name", code=ExitCode.USAGE)
    settings = repo.config.database
    template = ensure_template(server, settings, repo.root, pool.pool_id)
    name = slot_database_name(repo.root, number)
    with store.transaction() as conn:  # recorded first: a crash mid-clone leaves it findable
        for database, kind, owner in ((template.name, "template", None), (name, "slot", slot)):
            conn.execute(
                "INSERT OR IGNORE INTO databases (name, slot, kind, created_at)"
                " VALUES (?, ?, ?, ?)",
                (database, owner, kind, utc_now()),
            )
    clone_for_slot(
        server, settings, template.name, name, slot, pool.pool_id, keep_existing=not fresh
    )
    return server.environment(name)


def check_template(repo: Repository, store: StateStore) -> None:
    """Build the template if it is missing or stale, before a claim takes a slot: a server that
    is down, or a setup that fails, then changes nothing."""
    if repo.config.database.mode == "none":
        return
    fingerprint(repo.config.database, repo.root)  # a missing setup file fails before any server
    server = server_for(repo)
    with store.snapshot() as conn:
        pool = read_pool(conn)
    if server is not None and pool is not None:
        ensure_template(server, repo.config.database, repo.root, pool.pool_id)


def drop_slot_database(repo: Repository, store: StateStore, slot: str, pool_id: str) -> None:
    """Drop the database of a slot that is gone. If the server cannot be reached, the record
    stays, and cleanup drops the database later."""
    number = slot_number(slot)
    server = server_for(repo)
    if server is None or number is None:
        return
    name = slot_database_name(repo.root, number)
    drop_owned(server, [name], pool_id)
    with store.transaction() as conn:
        conn.execute("DELETE FROM databases WHERE name = ?", (name,))


def drop_pool_databases(repo: Repository, store: StateStore, pool_id: str) -> list[str]:
    """Drop every database this pool created (recorded, or found by its comment)."""
    server = server_for(repo)
    if server is None:
        return []
    with store.snapshot() as conn:
        recorded = [row["name"] for row in conn.execute("SELECT name FROM databases")]
    found = [info.name for info in list_owned(server, pool_id)]
    dropped = drop_owned(server, sorted(set(recorded) | set(found)), pool_id)
    with store.transaction() as conn:
        conn.execute("DELETE FROM databases")
    return dropped


@dataclass(frozen=True)
class SlotDatabase:
    slot: str | None  # None for the template
    database: str
    size_bytes: int
    connections: int


def list_databases(repo: Repository, store: StateStore) -> list[SlotDatabase]:
    server = _require_server(repo)
    with store.snapshot() as conn:
        pool = require_pool(conn, repo)
    infos: list[DatabaseInfo] = list_owned(server, pool.pool_id)
    return [SlotDatabase(i.slot, i.name, i.size_bytes, i.connections) for i in infos]


def database_url(repo: Repository, store: StateStore, slot: str) -> str:
    server = _require_server(repo)
    with store.snapshot() as conn:
        require_pool(conn, repo)
        lookup_slot(conn, slot)
    number = slot_number(slot)
    assert number is not None  # lookup_slot found it, so it is a slot name
    return server.url_for(slot_database_name(repo.root, number))


def reset_database(repo: Repository, store: StateStore, slot: str) -> str:
    """Drop the slot's database and clone it again from the template."""
    _require_server(repo)
    with store.snapshot() as conn:
        require_pool(conn, repo)
        lookup_slot(conn, slot)
    return clone_slot_database(repo, store, slot)["DATABASE_URL"]


def _require_server(repo: Repository) -> Server:
    server = server_for(repo)
    if server is None:
        raise WtpoolError(
            "slots have no databases: database.mode is none",
            "set database.mode in wtpool.yaml",
            ExitCode.USAGE,
        )
    return server

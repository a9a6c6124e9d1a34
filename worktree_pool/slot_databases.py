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
    database_comment,
    drop_owned,
    ensure_template,
    external_server,
    fingerprint,
    list_owned,
    list_strangers,
    owned_by,
    slot_database_name,
)
from worktree_pool.errors import ExitCode, WtpoolError
from worktree_pool.repo import Repository
from worktree_pool.slots import lookup_slot, no_pool_error, read_pool, require_pool, slot_number
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


def running_server(repo: Repository) -> Server | None:
    """The configured server if it can be asked without starting it: a monitor that started
    the embedded server would hold resources nobody asked for."""
    mode = repo.config.database.mode
    if mode == "none":
        return None
    if mode == "embedded":
        from worktree_pool import pgserver

        return Server(pgserver.conninfo(repo)) if pgserver.is_running(repo) else None
    return external_server(repo.config.database)


@dataclass(frozen=True)
class Target:
    """An up-to-date template on a running server: what a clone needs."""

    server: Server
    pool_id: str
    template: str


def check_template(repo: Repository, store: StateStore) -> Target:
    """Build the template if it is missing or stale. Run before a claim takes a slot, a server
    that is down or a setup that fails changes nothing."""
    settings = repo.config.database
    wanted = fingerprint(settings, repo.root)  # a missing setup file fails before any server
    with store.snapshot() as conn:
        pool = read_pool(conn)
    if pool is None:
        raise no_pool_error(repo)
    server = _require_server(repo)
    built = ensure_template(server, settings, repo.root, pool.pool_id, wanted)
    return Target(server, pool.pool_id, built.name)


def clone_slot_database(
    repo: Repository,
    store: StateStore,
    slot: str,
    *,
    fresh: bool = True,
    target: Target | None = None,
) -> dict[str, str]:
    """Give the slot a clone of the template (a new one unless `fresh` is False and it has
    one); return the variables that point its agent at it. `target` is a template already
    checked in this command."""
    target = target or check_template(repo, store)
    name = _slot_database(repo, slot)
    with store.transaction() as conn:  # recorded first: a crash mid-clone leaves it findable
        for database, kind, owner in ((target.template, "template", None), (name, "slot", slot)):
            conn.execute(
                "INSERT OR IGNORE INTO databases (name, slot, kind, created_at)"
                " VALUES (?, ?, ?, ?)",
                (database, owner, kind, utc_now()),
            )
    try:
        clone_for_slot(
            target.server,
            repo.config.database,
            target.template,
            name,
            slot,
            target.pool_id,
            keep_existing=not fresh,
        )
    except BaseException:
        # No half-registered database: the record goes when the server shows that no database
        # of this pool is left under that name. When it cannot tell (the server is down), or
        # something of ours may be there, the record stays for cleanup.
        if _certainly_not_ours(target, name):
            with store.transaction() as conn:
                conn.execute("DELETE FROM databases WHERE name = ?", (name,))
        raise
    return target.server.environment(name)


def hand_out_database(
    repo: Repository, store: StateStore, slot: str, target: Target | None = None
) -> dict[str, str]:
    """The slot's database for the agent a claim hands the slot to: the clone release left if
    no agent has been given it since, else a fresh clone. Returns its variables.

    The invariant: a slot's `database_fresh` is set only in the transaction in which a release
    (or doctor finishing one) marks it idle right after cloning its database afresh, and it is
    cleared here before the database's name leaves for an agent. So a slot whose release was
    interrupted, a new slot whose number an earlier slot's database still carries, or a pool
    made before the flag existed all clone here; and every claim (acquire, the queue, doctor
    resuming one) comes through here.
    """
    with store.snapshot() as conn:
        fresh = lookup_slot(conn, slot).database_fresh
    environment = clone_slot_database(repo, store, slot, fresh=not fresh, target=target)
    with store.transaction() as conn:
        conn.execute("UPDATE slots SET database_fresh = 0 WHERE name = ?", (slot,))
    return environment


def _certainly_not_ours(target: Target, name: str) -> bool:
    try:
        comment = database_comment(target.server, name)
    except WtpoolError:
        return False
    # An empty comment may be a clone of ours that failed between CREATE and COMMENT.
    return comment is None or (comment != "" and not owned_by(comment, target.pool_id))


def drop_slot_databases(
    repo: Repository, store: StateStore, slots: list[str], pool_id: str
) -> None:
    """Drop the databases of slots that are gone. If the server cannot be reached, the records
    stay, and cleanup drops the databases later."""
    names = [_slot_database(repo, slot) for slot in slots]
    drop_owned(_require_server(repo), names, pool_id)
    with store.transaction() as conn:
        conn.executemany("DELETE FROM databases WHERE name = ?", [(name,) for name in names])


def _slot_database(repo: Repository, slot: str) -> str:
    number = slot_number(slot)
    if number is None:
        raise WtpoolError(f"{slot} is not a slot name", code=ExitCode.USAGE)
    return slot_database_name(repo.root, number)


@dataclass(frozen=True)
class PoolDrop:
    dropped: list[str]
    strangers: list[str]  # databases on the server that this pool did not create


def drop_pool_databases(repo: Repository, store: StateStore, pool_id: str) -> PoolDrop:
    """Drop every database this pool created (recorded, or found by its comment)."""
    mode = repo.config.database.mode
    if mode == "none" or (mode == "embedded" and not pgserver_has_data(repo)):
        # No server to ask, or one never started: starting it only to stop it would cost
        # seconds, and it holds nothing.
        _forget_databases(store)
        return PoolDrop([], [])
    server = _require_server(repo)
    with store.snapshot() as conn:
        recorded = [row["name"] for row in conn.execute("SELECT name FROM databases")]
    found = [info.database for info in list_owned(server, pool_id)]
    dropped = drop_owned(server, sorted(set(recorded) | set(found)), pool_id)
    _forget_databases(store)
    return PoolDrop(dropped, list_strangers(server) if mode == "embedded" else [])


def pgserver_has_data(repo: Repository) -> bool:
    from worktree_pool import pgserver  # only the embedded mode runs a server

    return pgserver.has_data(repo)


def _forget_databases(store: StateStore) -> None:
    with store.transaction() as conn:
        conn.execute("DELETE FROM databases")


def list_databases(repo: Repository, store: StateStore) -> list[DatabaseInfo]:
    server = _require_server(repo)
    with store.snapshot() as conn:
        pool = require_pool(conn, repo)
    return list_owned(server, pool.pool_id)


def database_url(repo: Repository, store: StateStore, slot: str) -> str:
    server = _require_server(repo)
    with store.snapshot() as conn:
        require_pool(conn, repo)
        lookup_slot(conn, slot)
    return server.url_for(_slot_database(repo, slot))


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

"""Each slot's database through the slot's life: cloned when it is claimed, cloned afresh when it
is released, dropped at cleanup; and `wtpool db list|url|reset`.

The state's `databases` table is the pool's ledger (db.ownership.Ledger): a name goes in just
before its CREATE DATABASE, with `intent` set, and out when the database is dropped. Cleanup
drops what the ledger or a comment marks as the pool's (db.ownership.Owner), and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

from worktree_pool.db import server as pgserver
from worktree_pool.db.clone import clone_for_slot, drop_owned
from worktree_pool.db.connection import Server, external_server
from worktree_pool.db.inventory import DatabaseInfo, list_owned, list_strangers
from worktree_pool.db.names import database_prefix, slot_database_named
from worktree_pool.db.ownership import Owner, check_owned
from worktree_pool.db.template import ensure_template, fingerprint
from worktree_pool.errors import ExitCode, WtpoolError
from worktree_pool.git.repo import Repository
from worktree_pool.store import databases
from worktree_pool.store.pool import PoolRecord, no_pool_error, read_pool, require_pool
from worktree_pool.store.protocol import Store
from worktree_pool.store.slots import clear_database_fresh, lookup_slot


def server_for(repo: Repository) -> Server | None:
    """The configured server, started if it is the embedded one; None when slots get no
    database."""
    settings = repo.config.database
    if settings.mode == "none":
        return None
    if settings.mode == "embedded":
        return Server(pgserver.ensure_running(repo))
    return external_server(settings)


def running_server(repo: Repository) -> Server | None:
    """The configured server if it can be asked without starting it: a monitor that started
    the embedded server would hold resources nobody asked for."""
    mode = repo.config.database.mode
    if mode == "none":
        return None
    if mode == "embedded":
        return Server(pgserver.conninfo(repo)) if pgserver.is_running(repo) else None
    return external_server(repo.config.database)


@dataclass(frozen=True)
class StateLedger:
    """The state's `databases` table as the pool's db.ownership.Ledger."""

    store: Store

    def intents(self) -> dict[str, str | None]:
        with self.store.snapshot() as conn:
            return databases.intents(conn)

    def record(self, name: str, slot: str | None) -> None:
        with self.store.transaction() as conn:
            databases.record_intent(conn, name, slot)

    def forget(self, name: str) -> None:
        with self.store.transaction() as conn:
            databases.forget(conn, [name])


def owner_of(repo: Repository, store: Store, pool: PoolRecord) -> Owner:
    return Owner(pool.pool_id, database_prefix(repo, pool), StateLedger(store))


@dataclass(frozen=True)
class Target:
    """An up-to-date template on a running server: what a clone needs."""

    server: Server
    owner: Owner
    template: str


def check_template(repo: Repository, store: Store) -> Target:
    """Build the template if it is missing or stale. Run before a claim takes a slot, a server
    that is down or a setup that fails changes nothing."""
    settings = repo.config.database
    wanted = fingerprint(settings, repo.root)  # a missing setup file fails before any server
    with store.snapshot() as conn:
        pool = read_pool(conn)
    if pool is None:
        raise no_pool_error(repo)
    server = _require_server(repo)
    owner = owner_of(repo, store, pool)
    built = ensure_template(server, settings, repo.root, owner, wanted)
    return Target(server, owner, built.name)


def clone_slot_database(
    repo: Repository,
    store: Store,
    slot: str,
    *,
    fresh: bool = True,
    target: Target | None = None,
) -> dict[str, str]:
    """Give the slot a clone of the template (a new one unless `fresh` is False and it has
    one); return the variables that point its agent at it. `target` is a template already
    checked in this command."""
    target = target or check_template(repo, store)
    name = slot_database_named(target.owner.prefix, slot)
    clone_for_slot(
        target.server,
        repo.config.database,
        target.template,
        name,
        slot,
        target.owner,
        keep_existing=not fresh,
    )
    return target.server.environment(name)


def hand_out_database(
    repo: Repository, store: Store, slot: str, target: Target | None = None
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
        clear_database_fresh(conn, slot)
    return environment


def drop_slot_databases(repo: Repository, store: Store, slots: list[str], pool: PoolRecord) -> None:
    """Drop the databases of slots that are gone. If the server cannot be reached, the records
    stay, and cleanup drops the databases later."""
    owner = owner_of(repo, store, pool)
    names = [slot_database_named(owner.prefix, slot) for slot in slots]
    drop_owned(_require_server(repo), names, owner)
    with store.transaction() as conn:
        databases.forget(conn, names)


@dataclass(frozen=True)
class PoolDrop:
    dropped: list[str]
    strangers: list[str]  # databases on the server that this pool did not create


def drop_pool_databases(repo: Repository, store: Store, pool: PoolRecord) -> PoolDrop:
    """Drop every database this pool created (recorded, or found by its comment)."""
    mode = repo.config.database.mode
    if mode == "none" or (mode == "embedded" and not pgserver.has_data(repo)):
        # No server to ask, or one never started: starting it only to stop it would cost
        # seconds, and it holds nothing.
        _forget_databases(store)
        return PoolDrop([], [])
    server = _require_server(repo)
    owner = owner_of(repo, store, pool)
    with store.snapshot() as conn:
        recorded = databases.names(conn)
    found = [info.database for info in list_owned(server, owner)]
    ours = sorted(set(recorded) | set(found))
    if mode == "embedded" and not set(list_strangers(server)) - set(recorded):
        # The whole server goes with the pool (server.stop deletes its data directory): that
        # takes every database at once, where a DROP DATABASE each costs a checkpoint each.
        _forget_databases(store)
        return PoolDrop(ours, [])
    dropped = drop_owned(server, ours, owner)
    _forget_databases(store)
    return PoolDrop(dropped, list_strangers(server) if mode == "embedded" else [])


def _forget_databases(store: Store) -> None:
    with store.transaction() as conn:
        databases.forget_all(conn)


def list_databases(repo: Repository, store: Store) -> list[DatabaseInfo]:
    server = _require_server(repo)
    with store.snapshot() as conn:
        pool = require_pool(conn, repo)
    return list_owned(server, owner_of(repo, store, pool))


def database_url(repo: Repository, store: Store, slot: str) -> str:
    return database_environment(repo, store, slot)["DATABASE_URL"]


def database_environment(repo: Repository, store: Store, slot: str) -> dict[str, str]:
    """The variables that point at the slot's database (DATABASE_URL, PGHOST, ...), once it is
    known to be the pool's."""
    server = _require_server(repo)
    with store.snapshot() as conn:
        pool = require_pool(conn, repo)
        lookup_slot(conn, slot)
    owner = owner_of(repo, store, pool)
    name = slot_database_named(owner.prefix, slot)
    check_owned(server, name, owner)
    return server.environment(name)


def reset_database(repo: Repository, store: Store, slot: str) -> str:
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

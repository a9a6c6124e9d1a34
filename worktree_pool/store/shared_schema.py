"""The control plane's schema on PostgreSQL: the tables several machines share.

Created and migrated by wtpool (postgres.py), one version at a time like schema.py, inside the
schema `state.schema` names, so that one server holds the control planes of several
repositories side by side. What is shared, and why:

    hosts           every machine of the control plane: its pool, and its heartbeat, which
                    tells a machine that went silent from one that is working
    claims          which slot of which pool holds each task: the key refuses a second claim
                    from any machine (claims.py)
    landed_tasks    every task a merge queue landed, so that no machine offers it as work again
    pinned_scopes   scopes pinned to tasks: a task's scope is the same on every machine

Slots, agent processes, slot databases and resource samples belong to one machine and stay in
its SQLite store. The columns match schema.py's tables of the same names, so the query modules
run unchanged on either; PostgreSQL's own types and defaults are used freely here.
"""

from __future__ import annotations

# Each entry upgrades the schema by one version; never edit one that has shipped.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE hosts (
        id TEXT PRIMARY KEY,
        pool_id TEXT NOT NULL,
        hostname TEXT NOT NULL,
        repository TEXT NOT NULL,
        started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        heartbeat_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        slots INTEGER NOT NULL DEFAULT 0,  -- as of its last heartbeat
        busy INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE claims (
        task TEXT PRIMARY KEY,
        pool_id TEXT NOT NULL,
        slot TEXT NOT NULL,
        agent TEXT,
        track TEXT,
        scope TEXT,  -- the slot's scope, as values.encode_scope writes it: for overlap checks
        claimed_at TEXT NOT NULL
    );
    CREATE INDEX claims_slot ON claims (pool_id, slot);
    CREATE TABLE landed_tasks (
        task TEXT PRIMARY KEY,
        commit_id TEXT,
        landed_at TEXT
    );
    CREATE TABLE pinned_scopes (
        task TEXT PRIMARY KEY,
        patterns TEXT NOT NULL,
        pinned_at TEXT
    );
    """,
)

# The tables above: a statement naming one of them runs on the control plane (split.py).
SHARED_TABLES = frozenset({"hosts", "claims", "landed_tasks", "pinned_scopes"})

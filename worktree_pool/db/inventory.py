"""What is on the server: this pool's databases with their size and connections, the server's
load, and the databases wtpool must leave alone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from worktree_pool.db.connection import Server, admin_connection
from worktree_pool.db.ownership import COMMENT_PREFIX, Owner, owned_by

if TYPE_CHECKING:
    import psycopg


def list_strangers(server: Server) -> list[str]:
    """The server's databases that no wtpool pool made, PostgreSQL's own aside."""
    with admin_connection(server) as connection:
        rows = connection.execute(
            "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database"
            " WHERE datname NOT IN ('postgres', 'template0', 'template1') ORDER BY datname"
        ).fetchall()
    return [name for name, comment in rows if not (comment or "").startswith(f"{COMMENT_PREFIX}:")]


def list_lookalikes(server: Server, owner: Owner) -> list[str]:
    """Databases named like this pool's slot databases that this pool did not make."""
    pattern = re.compile(re.escape(owner.prefix) + r"_wt_\d+")
    intents = owner.ledger.intents()
    with admin_connection(server) as connection:
        rows = connection.execute(
            "SELECT datname, coalesce(shobj_description(oid, 'pg_database'), '')"
            " FROM pg_database ORDER BY datname"
        ).fetchall()
    return [
        name
        for name, comment in rows
        if pattern.fullmatch(name) and not owner.owns(name, comment, intents)
    ]


@dataclass(frozen=True)
class DatabaseInfo:
    slot: str | None  # None for the template
    database: str
    size_bytes: int
    connections: int


def list_owned(server: Server, owner: Owner) -> list[DatabaseInfo]:
    with admin_connection(server) as connection:
        return _owned(connection, owner)


def _owned(connection: psycopg.Connection[Any], owner: Owner) -> list[DatabaseInfo]:
    """This pool's databases: those whose comment names it, and those its ledger names that
    have no comment (made, then killed before COMMENT)."""
    intents = owner.ledger.intents()
    # Filtered before sizing: pg_database_size of every database on a shared server would
    # cost far more than wtpool's own few.
    rows = connection.execute(
        "SELECT datname, comment, pg_database_size(oid),"
        " (SELECT count(*) FROM pg_stat_activity a WHERE a.datname = d.datname)"
        " FROM (SELECT oid, datname, coalesce(shobj_description(oid, 'pg_database'), '')"
        "       AS comment FROM pg_database) d"
        " WHERE comment LIKE %s OR (comment = '' AND datname = ANY(%s)) ORDER BY datname",
        (f"{COMMENT_PREFIX}:%:{owner.pool_id}:%", list(intents)),
    ).fetchall()
    found = []
    for name, comment, size, connections in rows:
        if not owner.owns(name, comment, intents):
            continue
        if owned_by(comment, owner.pool_id):
            kind, _pool, detail = comment.split(":", 3)[1:4]
            slot = detail if kind == "slot" else None
        else:
            slot = intents[name]
        found.append(DatabaseInfo(slot, name, size, connections))
    return found


@dataclass(frozen=True)
class ServerLoad:
    connections: int  # client connections to the whole server but this one, anyone's
    max_connections: int
    by_database: dict[str, int]
    databases: list[DatabaseInfo]  # this pool's


def server_load(server: Server, owner: Owner) -> ServerLoad:
    with admin_connection(server) as connection:
        rows = connection.execute(
            "SELECT coalesce(datname, ''), count(*) FROM pg_stat_activity"
            " WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
            " GROUP BY 1 ORDER BY 1"
        ).fetchall()
        row = connection.execute("SELECT current_setting('max_connections')::int").fetchone()
        by_database = {name: count for name, count in rows}
        return ServerLoad(
            connections=sum(by_database.values()),
            max_connections=row[0] if row else 0,
            by_database=by_database,
            databases=_owned(connection, owner),
        )

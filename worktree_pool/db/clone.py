"""Creating and dropping a pool's databases, and cloning each slot's from the template.

Cloning (`CREATE DATABASE x TEMPLATE t`) takes tens of milliseconds where re-running a project's
schema and seed data takes seconds. Every CREATE is recorded in the pool's ledger first, and a
failure after CREATE drops what it made before reporting, so nothing half-made is left unknown.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from worktree_pool.config.settings import DatabaseSettings
from worktree_pool.db.connection import Server, admin_connection, identifier, sql_naming
from worktree_pool.db.ownership import COMMENT_PREFIX, Owner, comment_of, owned_by, set_comment
from worktree_pool.errors import WtpoolError
from worktree_pool.util import testpoints

if TYPE_CHECKING:
    import psycopg

DUPLICATE_DATABASE = "42P04"  # SQLSTATE duplicate_database


def check_can_create(connection: psycopg.Connection[Any]) -> None:
    row = connection.execute(
        "SELECT rolsuper OR rolcreatedb FROM pg_roles WHERE rolname = current_user"
    ).fetchone()
    if not row or not row[0]:
        user = connection.execute("SELECT current_user").fetchone()
        raise WtpoolError(
            f"PostgreSQL role {user[0] if user else '?'} may not create databases",
            "connect as a superuser, or grant it CREATEDB: ALTER ROLE ... CREATEDB",
        )


def drop(connection: psycopg.Connection[Any], database: str) -> None:
    row = connection.execute(
        "SELECT datistemplate FROM pg_database WHERE datname = %s", (database,)
    ).fetchone()
    if row and row[0]:  # PostgreSQL refuses to drop a database marked as a template
        connection.execute(sql_naming("ALTER DATABASE {} WITH IS_TEMPLATE false", database))
    connection.execute(sql_naming("DROP DATABASE IF EXISTS {} WITH (FORCE)", database))


def create_recorded(
    connection: psycopg.Connection[Any], owner: Owner, name: str, slot: str | None, statement: Any
) -> None:
    """Run `statement`, a CREATE DATABASE of `name`, which the caller has seen free or the
    pool's. The intent is recorded first, so that a kill after the CREATE leaves a database the
    state names; a CREATE that fails forgets it again, unless the server cannot say whether the
    database exists."""
    import psycopg  # not at the top: see admin_connection

    owner.ledger.record(name, slot)
    try:
        connection.execute(statement)
    except BaseException as exc:
        # duplicate_database: someone else's, made since we looked. A database that is not
        # there was not made. A connection that broke cannot tell: the record stays.
        taken = isinstance(exc, psycopg.Error) and exc.sqlstate == DUPLICATE_DATABASE
        with contextlib.suppress(psycopg.Error):
            if taken or comment_of(connection, name) is None:
                owner.ledger.forget(name)
        raise


def undo_create(connection: psycopg.Connection[Any], owner: Owner, name: str) -> None:
    """Drop a database this command made, and its record: nothing half-made is left."""
    drop(connection, name)
    owner.ledger.forget(name)


def clone_for_slot(
    server: Server,
    settings: DatabaseSettings,
    template: str,
    database: str,
    slot: str,
    owner: Owner,
    *,
    keep_existing: bool = False,
) -> None:
    """(Re)create the slot's database as a fresh clone of the template; with `keep_existing`,
    leave a finished clone this pool already made alone."""
    from psycopg import sql  # not at the top: see admin_connection

    with admin_connection(server) as connection:
        existing = comment_of(connection, database)
        if existing is not None and not owner.owns(database, existing):
            raise WtpoolError(
                f"database {database} exists and was not made by this wtpool pool",
                "drop or rename it yourself; wtpool never drops a database it did not create",
            )
        if keep_existing and owned_by(existing, owner.pool_id):  # not a half-made one
            return
        _clear_template(connection, settings, template)
        drop(connection, database)
        statement = sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY {}").format(
            identifier(database), identifier(template), sql.SQL(settings.strategy.upper())
        )
        create_recorded(connection, owner, database, slot, statement)
        testpoints.reached("clone.created")
        try:
            set_comment(connection, database, f"{COMMENT_PREFIX}:slot:{owner.pool_id}:{slot}")
        except BaseException:
            undo_create(connection, owner, database)
            raise


def _clear_template(
    connection: psycopg.Connection[Any], settings: DatabaseSettings, template: str
) -> None:
    """CREATE DATABASE fails while anyone is connected to the template: say who, or
    disconnect them when configured to. Clients only: an autovacuum worker (one comes after a
    large template is built) is PostgreSQL's own, and CREATE DATABASE stops it itself."""
    clients = connection.execute(
        "SELECT pid, usename, application_name, client_addr FROM pg_stat_activity"
        " WHERE datname = %s AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
        (template,),
    ).fetchall()
    if not clients:
        return
    if settings.terminate_template_connections:
        for pid, *_ in clients:
            connection.execute("SELECT pg_terminate_backend(%s)", (pid,))
        return
    who = ", ".join(
        f"pid {pid} ({', '.join(str(part) for part in (user or '?', app, addr) if part)})"
        for pid, user, app, addr in clients
    )
    raise WtpoolError(
        f"clients are connected to the template {template}: {who}",
        "disconnect them, or set database.terminate_template_connections: true",
    )


def drop_owned(server: Server, databases: list[str], owner: Owner) -> list[str]:
    """Drop those of `databases` this pool made; return the ones dropped."""
    dropped = []
    intents = owner.ledger.intents()
    with admin_connection(server) as connection:
        for database in databases:
            if owner.owns(database, comment_of(connection, database), intents):
                drop(connection, database)
                dropped.append(database)
    return dropped

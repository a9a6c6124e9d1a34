"""Which databases are this pool's: checked, never assumed from a name, before one is used,
cloned over or dropped.

A database is this pool's when its comment, `wtpool:<kind>:<pool id>:<fingerprint or slot>`,
names the pool, or when it has no comment and the pool's ledger (the state's `databases` table)
recorded the intent to create it: the intent is recorded after the server showed the name free
and before CREATE DATABASE, so a kill between CREATE and COMMENT leaves a database that is still
known to be the pool's. Anything else is never touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from worktree_pool.db.connection import Server, admin_connection, identifier
from worktree_pool.errors import WtpoolError

if TYPE_CHECKING:
    import psycopg

COMMENT_PREFIX = "wtpool"


class Ledger(Protocol):
    """The pool's record of the databases it creates (the state's `databases` table)."""

    def intents(self) -> dict[str, str | None]:
        """Names recorded just before their CREATE, each with its slot (None: the template)."""
        ...

    def record(self, name: str, slot: str | None) -> None: ...

    def forget(self, name: str) -> None: ...


@dataclass(frozen=True)
class Owner:
    """A pool as the owner of databases: the id its comments name, the prefix of its names, and
    its ledger."""

    pool_id: str
    prefix: str
    ledger: Ledger

    def owns(
        self, name: str, comment: str | None, intents: dict[str, str | None] | None = None
    ) -> bool:
        """Whether the database `name`, with `comment` (None: there is none), is this pool's.
        `intents` is the ledger's, when the caller has read it already."""
        if comment is None:
            return False
        if owned_by(comment, self.pool_id):
            return True
        return comment == "" and name in (self.ledger.intents() if intents is None else intents)


def comment_of(connection: psycopg.Connection[Any], database: str) -> str | None:
    row = connection.execute(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
        (database,),
    ).fetchone()
    return None if row is None else (row[0] or "")


def owned_by(comment: str | None, pool_id: str) -> bool:
    return (
        comment is not None
        and comment.startswith(f"{COMMENT_PREFIX}:")
        and (comment.split(":")[2:3] == [pool_id])
    )


def set_comment(connection: psycopg.Connection[Any], database: str, text: str) -> None:
    from psycopg import sql  # not at the top: see admin_connection

    connection.execute(
        sql.SQL("COMMENT ON DATABASE {} IS {}").format(identifier(database), sql.Literal(text))
    )


def check_owned(server: Server, name: str, owner: Owner) -> None:
    """Refuse to hand out `name` unless it exists and is this pool's."""
    with admin_connection(server) as connection:
        comment = comment_of(connection, name)
    if comment is None:
        raise WtpoolError(
            f"database {name} does not exist",
            "a slot gets its database when it is claimed; `wtpool db reset SLOT` makes one now",
        )
    if not owner.owns(name, comment):
        raise WtpoolError(
            f"database {name} exists and was not made by this wtpool pool",
            "drop or rename it yourself; wtpool never hands out a database it did not create",
        )

"""The databases table: the pool's ledger of the databases it creates (see db.slots).

A name goes in just before its CREATE DATABASE, with `intent` set, and out once the database
is dropped, so cleanup finds every database even when a slot's record is gone.
"""

from __future__ import annotations

from collections.abc import Iterable

from worktree_pool.errors import ExitCode, WtpoolError
from worktree_pool.git.repo import Repository
from worktree_pool.store.protocol import Connection
from worktree_pool.store.values import utc_now


def names(conn: Connection) -> list[str]:
    """Every database the ledger holds, by name."""
    return [row["name"] for row in conn.execute("SELECT name FROM databases ORDER BY name")]


def intents(conn: Connection) -> dict[str, str | None]:
    """The databases recorded before their CREATE DATABASE: name -> slot (None: the template)."""
    rows = conn.execute("SELECT name, slot FROM databases WHERE intent = 1").fetchall()
    return {row["name"]: row["slot"] for row in rows}


def record_intent(conn: Connection, name: str, slot: str | None) -> None:
    conn.execute(
        "INSERT INTO databases (name, slot, kind, created_at, intent)"
        " VALUES (?, ?, ?, ?, 1) ON CONFLICT (name) DO UPDATE"
        " SET slot = excluded.slot, kind = excluded.kind, intent = 1",
        (name, slot, "template" if slot is None else "slot", utc_now()),
    )


def forget(conn: Connection, names: Iterable[str]) -> None:
    conn.executemany("DELETE FROM databases WHERE name = ?", [(name,) for name in names])


def forget_all(conn: Connection) -> None:
    conn.execute("DELETE FROM databases")


def check_databases_visible(conn: Connection, repo: Repository) -> None:
    """Refuse a release, scale-down or cleanup that would run blind to the pool's databases:
    with database.mode none (WTPOOL_DATABASE_MODE=none, say) it could neither clone a slot's
    database afresh nor drop them, and cleanup would forget them for good."""
    if repo.config.database.mode != "none":
        return
    recorded = names(conn)
    if recorded:
        raise WtpoolError(
            f"the pool has databases ({', '.join(recorded)}), but database.mode is none",
            "run it with the mode the pool was made with (is WTPOOL_DATABASE_MODE set?)",
            ExitCode.USAGE,
        )

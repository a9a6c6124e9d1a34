"""The pool table: its one row (bounds, base branch, pool id), and the cleanup that closes it.

A pool with `closing_pid` set is being ended by that `wtpool cleanup`: nothing may claim,
land or scale in it (require_pool refuses), and cleanup reopens it if it stops short.
"""

from __future__ import annotations

from dataclasses import dataclass

from worktree_pool.errors import WtpoolError
from worktree_pool.git.repo import Repository
from worktree_pool.store.protocol import Connection
from worktree_pool.store.slots import pid_alive
from worktree_pool.store.values import utc_now


@dataclass(frozen=True)
class PoolRecord:
    min: int
    max: int
    base: str
    closing_pid: int | None  # the `wtpool cleanup` that is ending the session
    pool_id: str  # marks the databases this pool creates as its own
    database_prefix: str | None  # starts its database names; None: a pool made before (legacy)


def read_pool(conn: Connection) -> PoolRecord | None:
    row = conn.execute("SELECT * FROM pool WHERE id = 1").fetchone()
    if row is None:
        return None
    return PoolRecord(
        row["min_slots"],
        row["max_slots"],
        row["base_branch"],
        row["closing_pid"],
        row["pool_id"],
        row["database_prefix"],
    )


def require_pool(conn: Connection, repo: Repository) -> PoolRecord:
    pool = read_pool(conn)
    if pool is None:
        raise no_pool_error(repo)
    if pool.closing_pid is not None:
        raise closing_error(pool.closing_pid)
    return pool


def closing_error(pid: int) -> WtpoolError:
    if pid_alive(pid):
        return WtpoolError(
            f"the pool is being cleaned up by wtpool process {pid}",
            "wait for `wtpool cleanup` to finish",
        )
    return WtpoolError(
        "an interrupted `wtpool cleanup` left the pool closed",
        "run `wtpool cleanup` again to finish, or `wtpool doctor --fix` to reopen the pool",
    )


def no_pool_error(repo: Repository) -> WtpoolError:
    return WtpoolError(f"no wtpool pool in {repo.root}", "create one with `wtpool init`")


def create_pool(
    conn: Connection, minimum: int, maximum: int, base: str, pool_id: str, database_prefix: str
) -> None:
    conn.execute(
        "INSERT INTO pool (id, min_slots, max_slots, base_branch, created_at, pool_id,"
        " database_prefix) VALUES (1, ?, ?, ?, ?, ?, ?)",
        (minimum, maximum, base, utc_now(), pool_id, database_prefix),
    )


def set_bounds(conn: Connection, minimum: int, maximum: int) -> None:
    conn.execute("UPDATE pool SET min_slots = ?, max_slots = ? WHERE id = 1", (minimum, maximum))


def close_pool(conn: Connection, closing_pid: int) -> None:
    """Mark the pool closed to new work by the cleanup running as `closing_pid`."""
    conn.execute("UPDATE pool SET closing_pid = ?", (closing_pid,))


def reopen_pool(conn: Connection, closing_pid: int | None) -> None:
    """Undo a cleanup's closing of the pool, if that cleanup is still the one recorded."""
    conn.execute("UPDATE pool SET closing_pid = NULL WHERE closing_pid = ?", (closing_pid,))


def delete_pool(conn: Connection) -> None:
    """The session is over: forget the pool row (cleanup, last)."""
    conn.execute("DELETE FROM pool")

"""Which pool a row of a shared table comes from: its pool id (`pool.pool_id`), unique to one
pool on one machine. Claims and mail carry it; `hosts` maps it to the host's name."""

from __future__ import annotations

from worktree_pool.store.protocol import Connection


def with_host(table: str) -> str:
    """`SELECT` every column of `table` and, as `host`, the id of the host its row's pool is
    (NULL where no control plane lists one), to be followed by WHERE and ORDER BY clauses."""
    return (
        f"SELECT {table}.*, hosts.id AS host FROM {table}"
        f" LEFT JOIN hosts ON hosts.pool_id = {table}.pool_id"
    )


def this_pool(conn: Connection) -> str:
    """The pool id this pool's rows carry ('' before the pool row exists)."""
    row = conn.execute("SELECT pool_id FROM pool WHERE id = 1").fetchone()
    return (row["pool_id"] or "") if row else ""

"""Which pool a row of a shared table comes from: its pool id (`pool.pool_id`), unique to one
pool on one machine. Claims and mail carry it; `hosts` maps it to the host's name."""

from __future__ import annotations

from worktree_pool.store.protocol import Connection


def this_pool(conn: Connection) -> str:
    """The pool id this pool's rows carry ('' before the pool row exists)."""
    row = conn.execute("SELECT pool_id FROM pool WHERE id = 1").fetchone()
    return (row["pool_id"] or "") if row else ""

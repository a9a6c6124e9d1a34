"""The landed_tasks and pinned_scopes tables: what wtpool knows of tasks beyond their source.

`landed_tasks` holds every task the merge queue landed, written in the transaction that records
its entry merged (merge.after_landing), so the two never disagree. Readiness reads it to treat
those tasks as closed until the source says so (tasks.graph.TaskGraph.with_landed); once it
does, the row is dropped (tasks.planning), and the source alone decides. A task landed again
keeps its newest commit.

`pinned_scopes` holds the scope a user pinned to a task (`wtpool tracks pin`); the patterns
are stored as values.encode_scope writes a scope, and a pin replaces an older one.
"""

from __future__ import annotations

from collections.abc import Sequence

from worktree_pool.store.protocol import Connection
from worktree_pool.store.values import decode_scope, encode_scope, utc_now


def record_landed(conn: Connection, task: str, commit: str) -> None:
    conn.execute(
        "INSERT INTO landed_tasks (task, commit_id, landed_at) VALUES (?, ?, ?) ON CONFLICT"
        " (task) DO UPDATE SET commit_id = excluded.commit_id, landed_at = excluded.landed_at",
        (task, commit, utc_now()),
    )


def landed_tasks(conn: Connection) -> dict[str, str]:
    """Every landed task, by id, with the commit that landed it."""
    rows = conn.execute("SELECT task, commit_id FROM landed_tasks ORDER BY task").fetchall()
    return {row["task"]: row["commit_id"] for row in rows}


def landed_commit(conn: Connection, task: str) -> str | None:
    """The commit that landed `task`, if the merge queue landed it."""
    row = conn.execute("SELECT commit_id FROM landed_tasks WHERE task = ?", (task,)).fetchone()
    return row["commit_id"] if row else None


def forget_landed(conn: Connection, tasks: Sequence[str]) -> None:
    """Drop the ledger's rows for `tasks`: their source now says they are done, and from then
    on the source decides, so a task reopened there is work again."""
    conn.executemany("DELETE FROM landed_tasks WHERE task = ?", [(task,) for task in tasks])


def pin_scope(conn: Connection, task: str, patterns: Sequence[str]) -> None:
    conn.execute(
        "INSERT INTO pinned_scopes (task, patterns, pinned_at) VALUES (?, ?, ?) ON CONFLICT"
        " (task) DO UPDATE SET patterns = excluded.patterns, pinned_at = excluded.pinned_at",
        (task, encode_scope(tuple(patterns)), utc_now()),
    )


def unpin_scope(conn: Connection, task: str) -> bool:
    """Drop the task's pinned scope; False if it had none."""
    return conn.execute("DELETE FROM pinned_scopes WHERE task = ?", (task,)).rowcount > 0


def pinned_scopes(conn: Connection) -> dict[str, tuple[str, ...]]:
    """Every pinned scope, by task."""
    rows = conn.execute("SELECT task, patterns FROM pinned_scopes ORDER BY task").fetchall()
    return {row["task"]: decode_scope(row["patterns"]) or () for row in rows}

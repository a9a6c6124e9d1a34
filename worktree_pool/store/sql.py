"""The one place a column name from a Python keyword becomes SQL text.

`update_slot(conn, name, state=...)`, `find_slot(conn, agent=...)` and
`merges.update(conn, id, reason=...)` take columns as keywords; those names are spliced into
the statement, so each is checked against its table's whitelist first. An unknown name raises
ValueError before anything runs: a typo, or a keyword that reached here from input, never
becomes SQL and never changes a row.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from worktree_pool.store.protocol import Connection, Row

# The columns each table lets callers change by keyword (its key and bookkeeping stay out).
WRITABLE: Mapping[str, frozenset[str]] = {
    "slots": frozenset(
        {
            "state",
            "branch",
            "agent",
            "task",
            "owner_pid",
            "acquired_at",
            "updated_at",
            "scope",
            "track",
            "agent_pid",
            "agent_started",
            "database_fresh",
            "out_of_service",
        }
    ),
    "merges": frozenset(
        {
            "slot",
            "agent",
            "task",
            "branch",
            "tip",
            "base",
            "scope",
            "priority",
            "depends_on",
            "state",
            "release",
            "reason",
            "paths",
            "output",
            "candidate",
            "previous",
            "landed",
            "attempts",
            "notes",
            "finished_at",
            "pushed",
            "follow_up",
        }
    ),
}

# The columns a row can be found by: each names at most one row.
KEYS: Mapping[str, frozenset[str]] = {
    "slots": frozenset({"name", "agent", "task"}),
    "merges": frozenset({"id"}),
}


def _checked(table: str, columns: Mapping[str, frozenset[str]], names: list[str]) -> list[str]:
    allowed = columns.get(table, frozenset())
    unknown = [name for name in names if name not in allowed]
    if unknown or not names:
        raise ValueError(f"no such column to use in {table}: {', '.join(unknown) or '(none)'}")
    return names


def update(conn: Connection, table: str, key: str, value: Any, changes: Mapping[str, Any]) -> int:
    """Set `changes` (column: value) on the row of `table` whose `key` is `value`; returns
    the number of rows changed."""
    (key,) = _checked(table, KEYS, [key])
    columns = _checked(table, WRITABLE, list(changes))
    assignments = ", ".join(f"{column} = ?" for column in columns)
    statement = f"UPDATE {table} SET {assignments} WHERE {key} = ?"
    return conn.execute(statement, (*changes.values(), value)).rowcount


def find(conn: Connection, table: str, where: Mapping[str, Any]) -> Row | None:
    """The row of `table` whose one key column (of KEYS) has the given value, if any."""
    ((key, value),) = where.items()
    (key,) = _checked(table, KEYS, [key])
    return conn.execute(f"SELECT * FROM {table} WHERE {key} = ?", (value,)).fetchone()

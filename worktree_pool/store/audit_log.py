"""The audit_log table: one row for every reservation change and every message sent, written in
the transaction that makes the change, so a committed change never lacks its row and a change
rolled back leaves none. Where the control plane is shared, so is the log: every host's rows,
each with its pool."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from worktree_pool.store.origin import this_pool, with_host
from worktree_pool.store.protocol import Connection
from worktree_pool.store.values import utc_now


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: str
    event: str
    details: dict[str, Any]
    pool_id: str | None
    host: str | None  # that pool's host, where a control plane is shared


def append(conn: Connection, event: str, details: dict[str, Any]) -> None:
    conn.execute(
        "INSERT INTO audit_log (at, event, details, pool_id) VALUES (?, ?, ?, ?)",
        (utc_now(), event, json.dumps(details), this_pool(conn)),
    )


def latest(conn: Connection, limit: int) -> list[AuditEntry]:
    """The newest `limit` rows, oldest first."""
    rows = conn.execute(
        with_host("audit_log") + " ORDER BY audit_log.id DESC LIMIT ?",
        (limit,),
    ).fetchall()
    return [
        AuditEntry(
            row["id"],
            row["at"],
            row["event"],
            json.loads(row["details"]),
            row["pool_id"],
            row["host"],
        )
        for row in reversed(rows)
    ]

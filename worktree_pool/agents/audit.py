"""The audit log: who held what, and who said what, when. A row for every reservation change
and every message sent (store/audit_log.py), in the transaction that makes the change; shared
with every host where the control plane is."""

from __future__ import annotations

from typing import Any

from worktree_pool.errors import bad_input
from worktree_pool.git.repo import Repository
from worktree_pool.store import audit_log
from worktree_pool.store.audit_log import AuditEntry
from worktree_pool.store.pool import require_pool
from worktree_pool.store.protocol import Connection, Store


def audit(conn: Connection, event: str, **details: Any) -> None:
    audit_log.append(conn, event, details)


def audit_trail(repo: Repository, store: Store, limit: int) -> list[AuditEntry]:
    """The newest `limit` events, oldest first."""
    if limit < 1:
        raise bad_input(f"--limit must be at least 1, got {limit}")
    with store.snapshot() as conn:
        require_pool(conn, repo)
        return audit_log.latest(conn, limit)

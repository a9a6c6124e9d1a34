"""The queue table: claim requests waiting for a slot, served oldest first (pool.serving)."""

from __future__ import annotations

from dataclasses import dataclass

from worktree_pool.store import claims
from worktree_pool.store.claims import QUEUED
from worktree_pool.store.origin import this_pool
from worktree_pool.store.protocol import Connection, Row
from worktree_pool.store.slots import ClaimRequest
from worktree_pool.store.values import decode_scope, encode_scope


@dataclass(frozen=True)
class QueuedRequest:
    id: int
    agent: str
    task: str | None
    requested_at: str
    scope: tuple[str, ...] | None = None
    track: str | None = None
    launch: bool = False

    @classmethod
    def from_row(cls, row: Row) -> QueuedRequest:
        values = dict(row)
        values["scope"] = decode_scope(values["scope"])
        values["launch"] = bool(values["launch"])
        return cls(**values)

    @property
    def request(self) -> ClaimRequest:
        return ClaimRequest(self.agent, self.task, self.scope, self.track, self.launch)


def queued_requests(conn: Connection) -> list[QueuedRequest]:
    rows = conn.execute("SELECT * FROM queue ORDER BY id").fetchall()
    return [QueuedRequest.from_row(row) for row in rows]


def enqueue(
    conn: Connection,
    request: ClaimRequest,
    requested_at: str,
    request_id: int | None = None,
) -> None:
    """Queue a request; with `request_id`, put a popped request back in its old place. Its task
    is claimed for it (claims.QUEUED) in the same step."""
    conn.execute(
        "INSERT INTO queue (id, agent, task, scope, track, launch, requested_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            request_id,
            request.agent,
            request.task,
            encode_scope(request.scope),
            request.track,
            int(request.launch),
            requested_at,
        ),
    )
    if request.task is not None:
        scope = encode_scope(request.scope)
        pool_id = this_pool(conn)
        claims.take(conn, pool_id, request.task, QUEUED, request.agent, request.track, scope)


def queued_for(conn: Connection, agent: str) -> QueuedRequest | None:
    """The agent's place in the queue, if it has one."""
    row = conn.execute("SELECT * FROM queue WHERE agent = ?", (agent,)).fetchone()
    return QueuedRequest.from_row(row) if row else None


def agent_queued_for_task(conn: Connection, task: str) -> str | None:
    """The agent whose queued request is for `task`, if any."""
    row = conn.execute("SELECT agent FROM queue WHERE task = ?", (task,)).fetchone()
    return row["agent"] if row else None


def is_queued(conn: Connection, agent: str) -> bool:
    return conn.execute("SELECT 1 FROM queue WHERE agent = ?", (agent,)).fetchone() is not None


def anyone_waiting(conn: Connection) -> bool:
    return conn.execute("SELECT 1 FROM queue LIMIT 1").fetchone() is not None


def position(conn: Connection, request_id: int) -> int:
    """The request's place in the queue, counting from 1."""
    row = conn.execute("SELECT COUNT(*) AS ahead FROM queue WHERE id <= ?", (request_id,))
    return row.fetchone()["ahead"]


def oldest(conn: Connection) -> QueuedRequest | None:
    row = conn.execute("SELECT * FROM queue ORDER BY id LIMIT 1").fetchone()
    return QueuedRequest.from_row(row) if row else None


def remove(conn: Connection, request_id: int) -> None:
    """Take a request off the queue (enqueue with its id puts it back in its place), and its
    task's queued claim, unless serving it has moved that to a slot already."""
    row = conn.execute("SELECT task FROM queue WHERE id = ?", (request_id,)).fetchone()
    conn.execute("DELETE FROM queue WHERE id = ?", (request_id,))
    if row is not None and row["task"] is not None:
        claims.release_queued(conn, row["task"])


def clear(conn: Connection) -> list[str]:
    """Drop every queued request (cleanup); returns their agents, oldest first."""
    rows = conn.execute("SELECT agent, task FROM queue ORDER BY id").fetchall()
    conn.execute("DELETE FROM queue")
    if any(row["task"] is not None for row in rows):
        claims.release_queued(conn)
    return [row["agent"] for row in rows]

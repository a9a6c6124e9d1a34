"""The messages table: agent mail as stored (agents.mail checks and sends it)."""

from __future__ import annotations

from dataclasses import dataclass

from worktree_pool.store.origin import this_pool, with_host
from worktree_pool.store.protocol import Connection, Row
from worktree_pool.store.values import is_row_id, utc_now


@dataclass(frozen=True)
class Message:
    id: int
    sender: str
    recipient: str
    subject: str
    body: str
    thread: str
    created_at: str
    read_at: str | None
    acked_at: str | None
    pool_id: str | None = None  # the sender's pool
    host: str | None = None  # the sender's host, where a control plane is shared

    @classmethod
    def from_row(cls, row: Row) -> Message:
        return cls(**dict(row))


_SELECT = with_host("messages")


def insert(
    conn: Connection, sender: str, recipient: str, subject: str, body: str, thread: str | None
) -> int:
    """Store a message; one without a thread starts its own (`m<id>`). Returns its id."""
    row = conn.execute(
        "INSERT INTO messages (sender, recipient, subject, body, thread, created_at, pool_id)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (sender, recipient, subject, body, thread or "", utc_now(), this_pool(conn)),
    ).fetchone()
    message_id = int(row["id"])
    if not thread:
        conn.execute("UPDATE messages SET thread = ? WHERE id = ?", (f"m{message_id}", message_id))
    return message_id


def get(conn: Connection, message_id: int) -> Message | None:
    if not is_row_id(message_id):  # no row has any other id: see values.is_row_id
        return None
    row = conn.execute(_SELECT + " WHERE messages.id = ?", (message_id,)).fetchone()
    return Message.from_row(row) if row else None


def to(conn: Connection, recipient: str, *, unread: bool = False) -> list[Message]:
    """The recipient's messages (only the unread ones, if asked), oldest first."""
    rows = conn.execute(
        _SELECT
        + " WHERE messages.recipient = ?"
        + (" AND messages.read_at IS NULL" if unread else "")
        + " ORDER BY messages.id",
        (recipient,),
    ).fetchall()
    return [Message.from_row(row) for row in rows]


def mark_read(conn: Connection, message_id: int) -> None:
    """Mark the message read, unless it was already (the first time counts)."""
    conn.execute(
        "UPDATE messages SET read_at = coalesce(read_at, ?) WHERE id = ?", (utc_now(), message_id)
    )


def mark_acked(conn: Connection, message_id: int) -> None:
    """Acknowledge the message, which also marks it read; the first time counts for each."""
    now = utc_now()
    conn.execute(
        "UPDATE messages SET read_at = coalesce(read_at, ?),"
        " acked_at = coalesce(acked_at, ?) WHERE id = ?",
        (now, now, message_id),
    )


def retire_unread(conn: Connection, sender: str, subject_start: str) -> int:
    """Mark read what `sender` sent from this pool with a subject that starts `subject_start`
    and nobody read (cleanup: a session's task briefs must not greet the agents of the next
    session that share their names); how many."""
    return conn.execute(
        "UPDATE messages SET read_at = ? WHERE sender = ? AND pool_id = ? AND read_at IS NULL"
        " AND substr(subject, 1, ?) = ?",
        (utc_now(), sender, this_pool(conn), len(subject_start), subject_start),
    ).rowcount

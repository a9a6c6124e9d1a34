"""The reservations table: file reservations as stored (agents.reservations decides on them).

Times are seconds since the epoch, so that "active" (not released, not yet expired) is one
comparison with the clock that the caller passes in as `now`. `rules` is the patterns compiled
for the commit guard, which reads them here (exclusive_rules) with the standard library only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from worktree_pool.store.origin import this_pool, with_host
from worktree_pool.store.protocol import Connection, Row
from worktree_pool.store.values import is_row_id


@dataclass(frozen=True)
class StoredReservation:
    id: int
    agent: str
    patterns: tuple[str, ...]
    rules: str  # JSON, see scope.patterns.compile_rules
    exclusive: bool
    reason: str | None
    created_at: float
    expires_at: float
    released_at: float | None
    pool_id: str | None  # the pool it was made in (origin.py)
    host: str | None = None  # that pool's host, where a control plane is shared

    @classmethod
    def from_row(cls, row: Row) -> StoredReservation:
        values = dict(row)
        values["patterns"] = tuple(json.loads(values["patterns"]))
        values["exclusive"] = bool(values["exclusive"])
        return cls(**values)


# Each reservation with the host it was made on, where a control plane lists hosts.
_SELECT = with_host("reservations")


def _all(
    conn: Connection, where: str, parameters: Sequence[object] = ()
) -> list[StoredReservation]:
    rows = conn.execute(f"{_SELECT} {where} ORDER BY reservations.id", parameters)
    return [StoredReservation.from_row(row) for row in rows]


def active(conn: Connection, now: float) -> list[StoredReservation]:
    """Reservations neither released nor expired at `now`, oldest first."""
    return _all(conn, "WHERE released_at IS NULL AND expires_at > ?", (now,))


def every(conn: Connection) -> list[StoredReservation]:
    """Every reservation ever made in the pool, active or not."""
    return _all(conn, "")


def expired(conn: Connection, now: float) -> list[StoredReservation]:
    """Reservations past their expiry that nobody released."""
    return _all(conn, "WHERE released_at IS NULL AND expires_at <= ?", (now,))


def by_ids(conn: Connection, ids: list[int]) -> list[StoredReservation]:
    ids = [i for i in ids if is_row_id(i)]  # no row has any other id: see values.is_row_id
    marks = ", ".join("?" * len(ids))  # placeholders only: the ids themselves are bound
    return _all(conn, f"WHERE reservations.id IN ({marks})", ids)


def insert(
    conn: Connection,
    agent: str,
    patterns: tuple[str, ...],
    rules: str,
    exclusive: bool,
    reason: str | None,
    created: float,
    expires: float,
) -> int:
    """Record a reservation of this pool; returns its id."""
    row = conn.execute(
        "INSERT INTO reservations"
        " (agent, patterns, rules, exclusive, reason, created_at, expires_at, pool_id)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (
            agent,
            json.dumps(list(patterns)),
            rules,
            int(exclusive),
            reason,
            created,
            expires,
            this_pool(conn),
        ),
    ).fetchone()
    return int(row["id"])


def extend(conn: Connection, ids: list[int], until: float) -> None:
    """Make each reservation last until `until`, or longer if it already does."""
    conn.executemany(
        "UPDATE reservations SET expires_at = CASE WHEN expires_at > ? THEN expires_at"
        " ELSE ? END WHERE id = ?",
        [(until, until, rid) for rid in ids],
    )


def mark_released(conn: Connection, ids: list[int], now: float) -> None:
    conn.executemany(
        "UPDATE reservations SET released_at = ? WHERE id = ?", [(now, rid) for rid in ids]
    )


def release_pool(conn: Connection, pool_id: str, now: float) -> list[int]:
    """Release every active reservation made in the pool `pool_id` (a silent host's); their
    ids."""
    rows = conn.execute(
        "UPDATE reservations SET released_at = ? WHERE pool_id = ? AND released_at IS NULL"
        " AND expires_at > ? RETURNING id",
        (now, pool_id, now),
    ).fetchall()
    return sorted(row["id"] for row in rows)


def close_expired(conn: Connection, reservation_id: int, now: float) -> bool:
    """Mark an expired reservation released as of its expiry; False if it was released or
    renewed meanwhile."""
    changed = conn.execute(
        "UPDATE reservations SET released_at = expires_at"
        " WHERE id = ? AND released_at IS NULL AND expires_at <= ?",
        (reservation_id, now),
    ).rowcount
    return changed > 0


@dataclass(frozen=True)
class HeldRules:
    """What the commit guard needs of a reservation: who holds it, and its compiled rules."""

    id: int
    agent: str
    patterns: tuple[str, ...]
    rules: str


def exclusive_rules(conn: Connection, now: float, other_than: str | None) -> list[HeldRules]:
    """The active exclusive reservations of agents other than `other_than`, for the guard:
    only the columns every store since reservations has."""
    rows = conn.execute(
        "SELECT id, agent, patterns, rules FROM reservations WHERE released_at IS NULL"
        " AND expires_at > ? AND exclusive = 1",
        (now,),
    ).fetchall()
    return [
        HeldRules(row["id"], row["agent"], tuple(json.loads(row["patterns"])), row["rules"])
        for row in rows
        if row["agent"] != other_than
    ]

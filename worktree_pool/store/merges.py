"""The merges and merge_processor tables: the merge queue's entries, and the lock of the one
process working through them (merge.queue decides; see its docstring for the states)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum

from worktree_pool.store import sql
from worktree_pool.store.protocol import Connection, Row
from worktree_pool.store.values import decode_scope, encode_scope, utc_now


class MergeState(StrEnum):
    QUEUED = "queued"
    MERGING = "merging"
    MERGED = "merged"
    CONFLICT = "conflict"
    REJECTED = "rejected"
    FAILED_TESTS = "failed-tests"
    FAILED = "failed"  # an error, MAX_ERRORS times: it could not even be attempted


PENDING = (MergeState.QUEUED, MergeState.MERGING)


@dataclass(frozen=True)
class MergeEntry:
    id: int
    slot: str | None
    agent: str | None
    task: str | None
    branch: str
    tip: str  # the commit to land
    base: str
    scope: tuple[str, ...] | None  # what the branch may change; None for the whole tree
    priority: int
    depends_on: tuple[str, ...]  # tasks this one's task depends on
    state: MergeState
    release: bool  # release the slot once landed
    reason: str | None  # why it did not land, or why it waits
    paths: tuple[str, ...]  # the conflicted, out-of-scope or reserved paths
    output: str | None  # the end of the gate's output, when it failed
    candidate: str | None  # the commit that is landing it, recorded before the base moves
    previous: str | None  # the base the candidate replaces
    landed: str | None  # the base's new commit, once merged
    attempts: int  # runs that ended in an error
    notes: tuple[str, ...]  # what happened after landing: release, task closed, checkouts
    enqueued_at: str
    finished_at: str | None

    @classmethod
    def from_row(cls, row: Row) -> MergeEntry:
        values = dict(row)
        values["scope"] = decode_scope(values["scope"])
        values["depends_on"] = tuple(json.loads(values["depends_on"]))
        values["paths"] = tuple(json.loads(values["paths"]))
        values["notes"] = tuple(json.loads(values["notes"]))
        values["state"] = MergeState(values["state"])
        values["release"] = bool(values["release"])
        return cls(**values)


def get(conn: Connection, entry_id: int) -> MergeEntry | None:
    row = sql.find(conn, "merges", {"id": entry_id})
    return MergeEntry.from_row(row) if row else None


def update(conn: Connection, entry_id: int, **changes: object) -> None:
    """Change an entry's columns; `paths` and `notes` are given as sequences."""
    for column in ("paths", "notes"):
        if column in changes:
            changes[column] = json.dumps(list(changes[column]))  # type: ignore[call-overload]
    sql.update(conn, "merges", "id", entry_id, changes)


def every(conn: Connection) -> list[MergeEntry]:
    return [MergeEntry.from_row(row) for row in conn.execute("SELECT * FROM merges ORDER BY id")]


def in_state(conn: Connection, state: MergeState) -> list[MergeEntry]:
    """The entries in `state`, by priority, then arrival."""
    rows = conn.execute("SELECT * FROM merges WHERE state = ? ORDER BY priority, id", (state,))
    return [MergeEntry.from_row(row) for row in rows]


def pending_for(conn: Connection, branch: str) -> MergeEntry | None:
    """The branch's entry that is queued or being landed, if any."""
    row = conn.execute(
        "SELECT * FROM merges WHERE branch = ? AND state IN (?, ?)", (branch, *PENDING)
    ).fetchone()
    return MergeEntry.from_row(row) if row else None


def insert(
    conn: Connection,
    *,
    slot: str | None,
    agent: str | None,
    task: str | None,
    branch: str,
    tip: str,
    base: str,
    scope: tuple[str, ...] | None,
    priority: int,
    depends_on: list[str],
    release: bool,
) -> int:
    """Queue a new entry; returns its id."""
    row = conn.execute(
        "INSERT INTO merges (slot, agent, task, branch, tip, base, scope, priority, depends_on,"
        " state, release, enqueued_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (
            slot,
            agent,
            task,
            branch,
            tip,
            base,
            encode_scope(scope),
            priority,
            json.dumps(depends_on),
            MergeState.QUEUED,
            int(release),
            utc_now(),
        ),
    ).fetchone()
    return int(row["id"])


def clear(conn: Connection) -> list[str]:
    """Drop every entry and the processor lock (cleanup, whose check found no live
    processor); returns the branches that were still queued to land."""
    waiting = [entry.branch for entry in in_state(conn, MergeState.QUEUED)]
    conn.execute("DELETE FROM merges")
    conn.execute("DELETE FROM merge_processor")
    return waiting


# --- the processor lock ---------------------------------------------------------------------


def processor(conn: Connection) -> tuple[int, float] | None:
    """The process recorded as running the queue (pid, start marker), alive or not."""
    row = conn.execute("SELECT pid, started FROM merge_processor").fetchone()
    return (row["pid"], row["started"]) if row is not None else None


def take_processor(conn: Connection, pid: int, started: float) -> None:
    conn.execute(
        "INSERT INTO merge_processor (id, pid, started, since) VALUES (1, ?, ?, ?) ON CONFLICT"
        " (id) DO UPDATE SET pid = excluded.pid, started = excluded.started,"
        " since = excluded.since",
        (pid, started, utc_now()),
    )


def drop_processor(conn: Connection, pid: int) -> None:
    """Give up the lock, if `pid` still holds it."""
    conn.execute("DELETE FROM merge_processor WHERE pid = ?", (pid,))

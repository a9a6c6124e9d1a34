"""The merges and merge_processor tables: the merge queue's entries, and the record of the one
process working through them (merge.queue decides; see its docstring for the states). Both
carry the pool they come from: where a control plane is shared, so is the queue."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum

from worktree_pool.store import sql
from worktree_pool.store.origin import this_pool, with_host
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
    pool_id: str | None  # the pool that queued it (origin.py)
    pushed: bool  # its branch was pushed to merge.remote, so any host's processor may land it
    follow_up: bool  # landed by another host: its own host still releases the slot, closes the task
    host: str | None = None  # that pool's host, where a control plane is shared and lists it

    @classmethod
    def from_row(cls, row: Row) -> MergeEntry:
        values = dict(row)
        values["scope"] = decode_scope(values["scope"])
        values["depends_on"] = tuple(json.loads(values["depends_on"]))
        values["paths"] = tuple(json.loads(values["paths"]))
        values["notes"] = tuple(json.loads(values["notes"]))
        values["state"] = MergeState(values["state"])
        values["release"] = bool(values["release"])
        values["pushed"] = bool(values["pushed"])
        values["follow_up"] = bool(values["follow_up"])
        return cls(**values)


@dataclass(frozen=True)
class Processor:
    """The process recorded as running the queue, alive or not."""

    pid: int
    started: float
    pool_id: str | None
    host: str | None  # its host's id, where a control plane is shared


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
    """Every entry, with the host it came from where a control plane names it."""
    rows = conn.execute(with_host("merges") + " ORDER BY merges.id")
    return [MergeEntry.from_row(row) for row in rows]


def in_state(conn: Connection, state: MergeState) -> list[MergeEntry]:
    """The entries in `state`, by priority, then arrival."""
    rows = conn.execute("SELECT * FROM merges WHERE state = ? ORDER BY priority, id", (state,))
    return [MergeEntry.from_row(row) for row in rows]


def landed_elsewhere(conn: Connection) -> list[MergeEntry]:
    """This pool's entries that another host landed, whose follow-up is still to do."""
    rows = conn.execute(
        "SELECT * FROM merges WHERE follow_up = 1 AND pool_id = ? ORDER BY id", (this_pool(conn),)
    )
    return [MergeEntry.from_row(row) for row in rows]


def abandon_pool(conn: Connection, pool_id: str, reason: str) -> int:
    """A silent host's entries: those no other host can land (never pushed) fail with
    `reason`, and none waits for its follow-up any more; how many failed."""
    failed = conn.execute(
        "UPDATE merges SET state = ?, reason = ?, finished_at = ? WHERE pool_id = ?"
        " AND state = ? AND pushed = 0",
        (MergeState.FAILED, reason, utc_now(), pool_id, MergeState.QUEUED),
    ).rowcount
    conn.execute("UPDATE merges SET follow_up = 0 WHERE pool_id = ?", (pool_id,))
    return failed


def last_for(conn: Connection, branch: str) -> MergeEntry | None:
    """This pool's newest entry of the branch, in whatever state."""
    row = conn.execute(
        "SELECT * FROM merges WHERE branch = ? AND pool_id = ? ORDER BY id DESC LIMIT 1",
        (branch, this_pool(conn)),
    ).fetchone()
    return MergeEntry.from_row(row) if row else None


def pending_for(conn: Connection, branch: str) -> MergeEntry | None:
    """This pool's entry of the branch that is queued or being landed, if any (a branch of
    another host may have the same name: an agent's, `wtpool/agent/<agent>`)."""
    row = conn.execute(
        "SELECT * FROM merges WHERE branch = ? AND pool_id = ? AND state IN (?, ?)",
        (branch, this_pool(conn), *PENDING),
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
    pushed: bool,
) -> int:
    """Queue a new entry of this pool; returns its id."""
    row = conn.execute(
        "INSERT INTO merges (slot, agent, task, branch, tip, base, scope, priority, depends_on,"
        " state, release, enqueued_at, pool_id, pushed)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
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
            this_pool(conn),
            int(pushed),
        ),
    ).fetchone()
    return int(row["id"])


def clear(conn: Connection, *, keep_merging: bool) -> list[str]:
    """Drop this pool's entries and its processor record (cleanup, whose check found no live
    processor of this pool); returns the branches that were still queued to land.
    `keep_merging`: another host's processor is landing some of them, and records the end."""
    pool = this_pool(conn)
    waiting = [e.branch for e in in_state(conn, MergeState.QUEUED) if e.pool_id == pool]
    landing = " AND state <> 'merging'" if keep_merging else ""
    conn.execute(f"DELETE FROM merges WHERE pool_id = ?{landing}", (pool,))
    conn.execute("DELETE FROM merge_processor WHERE pool_id = ?", (pool,))
    return waiting


# --- the processor record -------------------------------------------------------------------


def processor(conn: Connection) -> Processor | None:
    row = conn.execute(with_host("merge_processor")).fetchone()
    if row is None:
        return None
    return Processor(row["pid"], row["started"], row["pool_id"], row["host"])


def take_processor(conn: Connection, pid: int, started: float) -> None:
    conn.execute(
        "INSERT INTO merge_processor (id, pid, started, since, pool_id) VALUES (1, ?, ?, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET pid = excluded.pid, started = excluded.started,"
        " since = excluded.since, pool_id = excluded.pool_id",
        (pid, started, utc_now(), this_pool(conn)),
    )


def drop_processor(conn: Connection, pid: int) -> None:
    """Give up the record, if `pid` of this pool still holds it."""
    conn.execute(
        "DELETE FROM merge_processor WHERE pid = ? AND pool_id = ?", (pid, this_pool(conn))
    )

"""The pool, slot and queue records in the state store, and the states a slot moves through.

    preparing -> idle <-> busy -> releasing -> idle
    idle -> removing -> (gone)
    preparing -> busy            (a new slot created for an acquire, or a queued hand-off)

`preparing`, `releasing` and `removing` are transient: the process that set them (`owner_pid`)
is doing git work on the slot outside any transaction. If it dies, `wtpool doctor --fix` finishes
or undoes that work; while it lives, nobody else touches the slot.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from worktree_pool.errors import ExitCode, WtpoolError
from worktree_pool.git.repo import Repository
from worktree_pool.store.sqlite import utc_now

SLOT_PREFIX = "pool-wt-"


class SlotState(StrEnum):
    PREPARING = "preparing"
    IDLE = "idle"
    BUSY = "busy"
    RELEASING = "releasing"
    REMOVING = "removing"


TRANSIENT_STATES = (SlotState.PREPARING, SlotState.RELEASING, SlotState.REMOVING)


@dataclass(frozen=True)
class Slot:
    name: str
    number: int
    state: SlotState
    branch: str | None
    agent: str | None
    task: str | None
    owner_pid: int | None
    acquired_at: str | None
    updated_at: str
    scope: tuple[str, ...] | None = None  # the task's patterns; None for the whole tree
    track: str | None = None  # set by spawn and assign
    agent_pid: int | None = None  # the agent process spawn started, if any
    agent_started: float | None = None  # its start marker, see agents.start_marker
    # A clone of the template that no agent has been given yet: see hand_out_database.
    database_fresh: bool = False

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Slot:
        values = dict(row)
        values["state"] = SlotState(values["state"])
        values["scope"] = decode_scope(values["scope"])
        values["database_fresh"] = bool(values["database_fresh"])
        return cls(**values)


@dataclass(frozen=True)
class ClaimRequest:
    """What an agent asks for: a slot for a task, with a scope, on a track."""

    agent: str
    task: str | None = None
    scope: tuple[str, ...] | None = None  # None: the whole tree
    track: str | None = None  # set by spawn and assign
    launch: bool = False  # start the configured agent command once the slot is ready


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
    def from_row(cls, row: sqlite3.Row) -> QueuedRequest:
        values = dict(row)
        values["scope"] = decode_scope(values["scope"])
        values["launch"] = bool(values["launch"])
        return cls(**values)

    @property
    def request(self) -> ClaimRequest:
        return ClaimRequest(self.agent, self.task, self.scope, self.track, self.launch)


def encode_scope(scope: tuple[str, ...] | None) -> str | None:
    return json.dumps(list(scope)) if scope is not None else None


def decode_scope(text: str | None) -> tuple[str, ...] | None:
    return tuple(json.loads(text)) if text is not None else None


def slot_name(number: int) -> str:
    return f"{SLOT_PREFIX}{number}"


def slot_number(name: str) -> int | None:
    suffix = name.removeprefix(SLOT_PREFIX)
    if name.startswith(SLOT_PREFIX) and suffix.isdigit() and not suffix.startswith("0"):
        return int(suffix)
    return None


def all_slots(conn: sqlite3.Connection) -> list[Slot]:
    rows = conn.execute("SELECT * FROM slots ORDER BY number").fetchall()
    return [Slot.from_row(row) for row in rows]


def find_slot(conn: sqlite3.Connection, **where: str) -> Slot | None:
    ((column, value),) = where.items()
    if column not in ("name", "agent", "task"):
        raise ValueError(column)
    row = conn.execute(f"SELECT * FROM slots WHERE {column} = ?", (value,)).fetchone()
    return Slot.from_row(row) if row else None


def insert_slot(
    conn: sqlite3.Connection,
    number: int,
    state: SlotState,
    request: ClaimRequest | None = None,
    branch: str | None = None,
) -> str:
    now = utc_now()
    name = slot_name(number)
    agent = request.agent if request else None
    conn.execute(
        "INSERT INTO slots (name, number, state, agent, task, scope, track, branch, owner_pid,"
        " acquired_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            name,
            number,
            state,
            agent,
            request.task if request else None,
            encode_scope(request.scope) if request else None,
            request.track if request else None,
            branch,
            os.getpid() if state in TRANSIENT_STATES else None,
            now if agent else None,
            now,
        ),
    )
    return name


def update_slot(conn: sqlite3.Connection, name: str, **changes: Any) -> None:
    """Change a slot's columns; entering a transient state records this process as the owner."""
    if "state" in changes:
        changes.setdefault(
            "owner_pid", os.getpid() if changes["state"] in TRANSIENT_STATES else None
        )
    changes["updated_at"] = utc_now()
    assignments = ", ".join(f"{column} = ?" for column in changes)
    conn.execute(f"UPDATE slots SET {assignments} WHERE name = ?", (*changes.values(), name))


def mark_idle(conn: sqlite3.Connection, name: str) -> None:
    """The slot belongs to nobody again: no agent, task, branch or claim time."""
    update_slot(
        conn,
        name,
        state=SlotState.IDLE,
        agent=None,
        task=None,
        track=None,
        branch=None,
        acquired_at=None,
        agent_pid=None,
        agent_started=None,
    )


def delete_slot(conn: sqlite3.Connection, name: str) -> None:
    conn.execute("DELETE FROM slots WHERE name = ?", (name,))


def queued_requests(conn: sqlite3.Connection) -> list[QueuedRequest]:
    rows = conn.execute("SELECT * FROM queue ORDER BY id").fetchall()
    return [QueuedRequest.from_row(row) for row in rows]


def owner_alive(slot: Slot) -> bool:
    """Whether the process that put `slot` in a transient state is still running."""
    return pid_alive(slot.owner_pid)


def in_use_error(slot: Slot, hint: str = "wait for it to finish, then try again") -> WtpoolError:
    """For a slot another live wtpool process is working on."""
    return WtpoolError(f"{slot.name} is {slot.state} by wtpool process {slot.owner_pid}", hint)


def enqueue(
    conn: sqlite3.Connection,
    request: ClaimRequest,
    requested_at: str,
    request_id: int | None = None,
) -> None:
    """Queue a request; with `request_id`, put a popped request back in its old place."""
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


def reopen_pool(conn: sqlite3.Connection, closing_pid: int | None) -> None:
    """Undo a cleanup's closing of the pool, if that cleanup is still the one recorded."""
    conn.execute("UPDATE pool SET closing_pid = NULL WHERE closing_pid = ?", (closing_pid,))


def pid_alive(pid: int | None) -> bool:
    # A recycled pid makes a dead owner look alive; the cost is that doctor leaves that slot
    # alone and says so, never that it touches a slot someone is working on.
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class PoolRecord:
    min: int
    max: int
    base: str
    closing_pid: int | None  # the `wtpool cleanup` that is ending the session
    pool_id: str  # marks the databases this pool creates as its own
    database_prefix: str | None  # starts its database names; None: a pool made before (legacy)


def read_pool(conn: sqlite3.Connection) -> PoolRecord | None:
    row = conn.execute("SELECT * FROM pool WHERE id = 1").fetchone()
    if row is None:
        return None
    return PoolRecord(
        row["min_slots"],
        row["max_slots"],
        row["base_branch"],
        row["closing_pid"],
        row["pool_id"],
        row["database_prefix"],
    )


def require_pool(conn: sqlite3.Connection, repo: Repository) -> PoolRecord:
    pool = read_pool(conn)
    if pool is None:
        raise no_pool_error(repo)
    if pool.closing_pid is not None:
        raise closing_error(pool.closing_pid)
    return pool


def closing_error(pid: int) -> WtpoolError:
    if pid_alive(pid):
        return WtpoolError(
            f"the pool is being cleaned up by wtpool process {pid}",
            "wait for `wtpool cleanup` to finish",
        )
    return WtpoolError(
        "an interrupted `wtpool cleanup` left the pool closed",
        "run `wtpool cleanup` again to finish, or `wtpool doctor --fix` to reopen the pool",
    )


def no_pool_error(repo: Repository) -> WtpoolError:
    return WtpoolError(f"no wtpool pool in {repo.root}", "create one with `wtpool init`")


def lookup_slot(conn: sqlite3.Connection, name: str) -> Slot:
    slot = find_slot(conn, name=name)
    if slot is None:
        known = ", ".join(s.name for s in all_slots(conn)) or "none"
        raise WtpoolError(f"no slot named {name!r}", f"slots in this pool: {known}", ExitCode.USAGE)
    return slot


def check_databases_visible(conn: sqlite3.Connection, repo: Repository) -> None:
    """Refuse a release, scale-down or cleanup that would run blind to the pool's databases:
    with database.mode none (WTPOOL_DATABASE_MODE=none, say) it could neither clone a slot's
    database afresh nor drop them, and cleanup would forget them for good."""
    if repo.config.database.mode != "none":
        return
    names = [row["name"] for row in conn.execute("SELECT name FROM databases ORDER BY name")]
    if names:
        raise WtpoolError(
            f"the pool has databases ({', '.join(names)}), but database.mode is none",
            "run it with the mode the pool was made with (is WTPOOL_DATABASE_MODE set?)",
            ExitCode.USAGE,
        )

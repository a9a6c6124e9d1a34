"""The slots table: the slot record, the queries on it, and the states a slot moves through.

    preparing -> idle <-> busy -> releasing -> idle
    idle -> removing -> (gone)
    preparing -> busy            (a new slot created for an acquire, or a queued hand-off)

`preparing`, `releasing` and `removing` are transient: the process that set them (`owner_pid`)
is doing git work on the slot outside any transaction. If it dies, `wtpool doctor --fix` finishes
or undoes that work; while it lives, nobody else touches the slot.

Imported by the commit guard (agent_in): standard library and store modules only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from worktree_pool.errors import ExitCode, WtpoolError
from worktree_pool.store import claims, sql
from worktree_pool.store.origin import this_pool
from worktree_pool.store.protocol import Connection, Row
from worktree_pool.store.values import decode_scope, encode_scope, utc_now

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
    # The task's patterns; None for the whole tree, IDLE_SCOPE (empty) for nothing but the root.
    scope: tuple[str, ...] | None = None
    track: str | None = None  # set by spawn and assign
    agent_pid: int | None = None  # the agent process spawn started, if any
    agent_started: float | None = None  # its start marker, see agents.start_marker
    # A clone of the template that no agent has been given yet: see hand_out_database.
    database_fresh: bool = False
    # Why the slot is not handed out (a setup hook failed, and where its log is); None: it is.
    out_of_service: str | None = None

    @classmethod
    def from_row(cls, row: Row) -> Slot:
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


def slot_name(number: int) -> str:
    return f"{SLOT_PREFIX}{number}"


def slot_number(name: str) -> int | None:
    suffix = name.removeprefix(SLOT_PREFIX)
    if name.startswith(SLOT_PREFIX) and suffix.isdigit() and not suffix.startswith("0"):
        return int(suffix)
    return None


def all_slots(conn: Connection) -> list[Slot]:
    rows = conn.execute("SELECT * FROM slots ORDER BY number").fetchall()
    return [Slot.from_row(row) for row in rows]


def find_slot(conn: Connection, **where: str) -> Slot | None:
    """The slot with this name, agent or task (one keyword), if any."""
    row = sql.find(conn, "slots", where)
    return Slot.from_row(row) if row else None


def agent_in(conn: Connection, name: str) -> str | None:
    """The agent holding slot `name`: one column, so that it reads a store of any version."""
    row = conn.execute("SELECT agent FROM slots WHERE name = ?", (name,)).fetchone()
    return row["agent"] if row else None


# What an idle slot shows: no pattern, so its sparse checkout holds the root's files and
# nothing else. A slot is a full checkout only while an agent asked for the whole tree.
IDLE_SCOPE: tuple[str, ...] = ()


def insert_slot(
    conn: Connection,
    number: int,
    state: SlotState,
    request: ClaimRequest | None = None,
    branch: str | None = None,
    scope: tuple[str, ...] | None = IDLE_SCOPE,
) -> str:
    """Add a slot row; without a request its scope is `scope`, empty unless told otherwise."""
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
            encode_scope(request.scope if request else scope),
            request.track if request else None,
            branch,
            os.getpid() if state in TRANSIENT_STATES else None,
            now if agent else None,
            now,
        ),
    )
    if request is not None and request.task is not None:
        pool_id = this_pool(conn)
        scope = encode_scope(request.scope)
        claims.take(conn, pool_id, request.task, name, agent, request.track, scope)
    return name


def update_slot(conn: Connection, name: str, **changes: Any) -> None:
    """Change a slot's columns (values as stored: a scope through encode_scope); entering a
    transient state records this process as the owner."""
    if "state" in changes:
        changes.setdefault(
            "owner_pid", os.getpid() if changes["state"] in TRANSIENT_STATES else None
        )
    changes["updated_at"] = utc_now()
    held = _task_of(conn, name) if "task" in changes else None
    sql.update(conn, "slots", "name", name, changes)
    if "task" not in changes and "scope" in changes and _task_of(conn, name) is not None:
        claims.rescope(conn, name, changes["scope"])  # other hosts check overlap against it
    if "task" in changes:  # the claim goes with the task: see claims.py
        if held is not None:
            claims.release_slot(conn, name)
        if changes["task"] is not None:
            claim = {key: changes.get(key) for key in ("agent", "track", "scope")}
            claims.take(conn, this_pool(conn), changes["task"], name, **claim)


def mark_idle(conn: Connection, name: str) -> None:
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


def delete_slot(conn: Connection, name: str) -> None:
    held = _task_of(conn, name)
    conn.execute("DELETE FROM slots WHERE name = ?", (name,))
    if held is not None:
        claims.release_slot(conn, name)


def _task_of(conn: Connection, name: str) -> str | None:
    """The slot's task as recorded: a slot that held none has no claim to drop, and leaving
    the claims alone lets work without tasks go on while a shared control plane is down."""
    row = conn.execute("SELECT task FROM slots WHERE name = ?", (name,)).fetchone()
    return row["task"] if row else None


def clear_database_fresh(conn: Connection, name: str) -> None:
    """The slot's database is about to leave for an agent: see db.slots.hand_out_database."""
    conn.execute("UPDATE slots SET database_fresh = 0 WHERE name = ?", (name,))


def owner_alive(slot: Slot) -> bool:
    """Whether the process that put `slot` in a transient state is still running."""
    return pid_alive(slot.owner_pid)


def in_use_error(slot: Slot, hint: str = "wait for it to finish, then try again") -> WtpoolError:
    """For a slot another live wtpool process is working on."""
    return WtpoolError(f"{slot.name} is {slot.state} by wtpool process {slot.owner_pid}", hint)


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


def lookup_slot(conn: Connection, name: str) -> Slot:
    slot = find_slot(conn, name=name)
    if slot is None:
        known = ", ".join(s.name for s in all_slots(conn)) or "none"
        raise WtpoolError(f"no slot named {name!r}", f"slots in this pool: {known}", ExitCode.USAGE)
    return slot

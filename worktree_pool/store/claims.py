"""Task claims: which slot of which pool holds each task, one row per task.

The table's key makes a second claim of a task impossible, whatever the timing: `take` is one
`INSERT ... ON CONFLICT (task) DO NOTHING RETURNING`, and of any number of callers, on one
machine or many sharing a control plane, exactly one gets its row back. A slot's task and its
claim change together: slots.py calls `take` and `release_slot` whenever it gives a slot a
task or takes it away, inside the same transaction, so no caller can forget one.

A request waiting in this pool's queue for a slot claims its task already, with the slot
QUEUED: no other host may take a task that is promised here. Serving the request moves the
claim to the slot it gets.

A claim names its pool by the pool's id (origin.py); `hosts` maps it to the host's name where a
control plane is shared (and holds no row when the state is local, where every claim is this
pool's).
"""

from __future__ import annotations

from dataclasses import dataclass

from worktree_pool.errors import WtpoolError
from worktree_pool.store.origin import this_pool, with_host
from worktree_pool.store.protocol import Connection, Row
from worktree_pool.store.values import decode_scope, utc_now
from worktree_pool.util import testpoints

# The slot of a claim whose request waits in its pool's queue (queue.py).
QUEUED = "(queued)"


@dataclass(frozen=True)
class Claim:
    task: str
    pool_id: str
    slot: str
    agent: str | None
    track: str | None
    scope: tuple[str, ...] | None  # None: the whole tree
    claimed_at: str
    host: str | None  # the host whose pool holds it, when a control plane is shared

    @property
    def where(self) -> str:
        place = "the queue" if self.slot == QUEUED else self.slot
        return place + (f" on host {self.host}" if self.host else "")


def take(
    conn: Connection,
    pool_id: str,
    task: str,
    slot: str,
    agent: str | None,
    track: str | None,
    scope: str | None,
) -> None:
    """Claim `task` for `slot` of pool `pool_id` (its `scope` as stored), or raise naming who
    holds it. Claiming again what the slot already holds changes nothing."""
    taken = conn.execute(
        "INSERT INTO claims (task, pool_id, slot, agent, track, scope, claimed_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (task) DO NOTHING RETURNING task",
        (task, pool_id, slot, agent, track, scope, utc_now()),
    ).fetchone()
    if taken is not None:
        testpoints.reached("claims.taken")  # a test cuts the connection here, before the commit
        return
    holder = holder_of(conn, task)
    if holder is None:  # released between the two statements: only in another transaction
        raise WtpoolError(f"task {task} was claimed and released meanwhile", "try again")
    if holder.pool_id == pool_id and holder.slot == slot:
        return
    if holder.pool_id == pool_id and holder.slot == QUEUED and holder.agent == agent:
        conn.execute(  # its queued request gets its slot
            "UPDATE claims SET slot = ?, track = ?, scope = ? WHERE task = ? AND pool_id = ?",
            (slot, track, scope, task, pool_id),
        )
        return
    raise WtpoolError(
        f"task {task} is already held by agent {holder.agent} in {holder.where}",
        "one task, one slot: pick another task or wait for that agent to release it",
    )


def release_slot(conn: Connection, slot: str) -> None:
    """Drop the claim `slot` of this pool holds, if any."""
    conn.execute("DELETE FROM claims WHERE pool_id = ? AND slot = ?", (this_pool(conn), slot))


def release_queued(conn: Connection, task: str | None = None) -> None:
    """Drop the claims of this pool's queued requests: `task`'s, or all of them."""
    if task is None:
        conn.execute("DELETE FROM claims WHERE pool_id = ? AND slot = ?", (this_pool(conn), QUEUED))
    else:
        conn.execute(
            "DELETE FROM claims WHERE pool_id = ? AND slot = ? AND task = ?",
            (this_pool(conn), QUEUED, task),
        )


def rescope(conn: Connection, slot: str, scope: str | None) -> None:
    """The slot of this pool now shows `scope` (as stored): its claim says so to other hosts."""
    conn.execute(
        "UPDATE claims SET scope = ? WHERE pool_id = ? AND slot = ?", (scope, this_pool(conn), slot)
    )


def release_task(conn: Connection, task: str, pool_id: str) -> None:
    """Drop `task`'s claim if pool `pool_id` holds it (doctor's repairs)."""
    conn.execute("DELETE FROM claims WHERE task = ? AND pool_id = ?", (task, pool_id))


def holder_of(conn: Connection, task: str) -> Claim | None:
    row = conn.execute(_SELECT + " WHERE claims.task = ?", (task,)).fetchone()
    return _claim(row) if row else None


def every_claim(conn: Connection) -> list[Claim]:
    return [
        _claim(row) for row in conn.execute(_SELECT + " ORDER BY claims.claimed_at, claims.task")
    ]


_SELECT = with_host("claims")


def _claim(row: Row) -> Claim:
    values = dict(row)
    values["scope"] = decode_scope(values["scope"])
    return Claim(**values)

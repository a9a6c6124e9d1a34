"""The state of a machine that shares a control plane: its own SQLite store for what is local,
the PostgreSQL control plane for what is shared, behind the one protocol.Store callers hold.

A transaction here is a transaction of each: the local one begins first (it takes the local
write lock, as always), and the control plane's begins at the first statement that names a
shared table (shared_schema.SHARED_TABLES), so a command that touches only local tables never
connects. Each statement goes to the side whose tables it names; one that names both is a
defect in a query module, refused before it runs. The control plane commits first, then the
local store: a failure in the first rolls both back. Between the two commits only a crash can
come (the local write lock is already held), and what it leaves (a claim whose slot record
says otherwise) is what `wtpool doctor` compares and settles, as it does for git.

The lock order is always local, then shared, so two processes of one machine cannot wait on
each other across the two; processes of different machines share only the second lock.

Two things the control plane holds are needed where it must not be asked. The commit guard
reads file reservations on every commit, without a server: so every transaction that reaches
the control plane also brings this machine's copy of the active reservations (its own
`reservations` table, which nothing else writes here) up to date, and the local store then
publishes the guard's facts from it. And a lock held for as long as a process runs (the merge
queue's processor) is a session advisory lock (`running_alone`), which dies with its
holder's connection.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from typing import Any

from worktree_pool.errors import WtpoolError
from worktree_pool.store import hosts
from worktree_pool.store.postgres import ControlPlane
from worktree_pool.store.protocol import Connection, Cursor, Store
from worktree_pool.store.schema import MIGRATIONS
from worktree_pool.store.shared_schema import SHARED_TABLES
from worktree_pool.store.slots import SlotState, all_slots
from worktree_pool.store.sqlite import StateStore

_NAME = re.compile(r"\b(?:FROM|INTO|UPDATE|JOIN)\s+([A-Za-z_][A-Za-z0-9_]*)", re.IGNORECASE)
# The local store's tables: those its migrations create, but for the shared ones.
LOCAL_TABLES = frozenset(re.findall(r"CREATE TABLE (?:IF NOT EXISTS )?(\w+)", " ".join(MIGRATIONS)))
LOCAL_TABLES -= SHARED_TABLES


def is_shared(statement: str) -> bool:
    """Whether `statement` runs on the control plane; ValueError if it names tables of both
    sides. (Names that are no table, as in `DO UPDATE SET` or `extract(epoch FROM now())`,
    do not count.)"""
    names = set(_NAME.findall(statement))
    shared, local = names & SHARED_TABLES, names & LOCAL_TABLES
    if shared and local:
        raise ValueError(f"one statement names shared and local tables: {statement}")
    return bool(shared)


class SplitStore:
    def __init__(self, local: StateStore, shared: ControlPlane) -> None:
        self.local = local
        self.shared = shared

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """Every change that reaches the control plane also beats this host's heartbeat, with
        its slots as the change leaves them."""
        with self.local.transaction() as local, ExitStack() as stack:
            routed = _Routed(local, lambda: stack.enter_context(self.shared.transaction()))
            yield routed
            if routed.reached_shared:
                if not routed.beaten:
                    self._beat(routed)
                _copy_reservations(routed)

    @contextmanager
    def snapshot(self) -> Iterator[Connection]:
        with self.local.snapshot() as local, ExitStack() as stack:
            yield _Routed(local, lambda: stack.enter_context(self.shared.snapshot()))

    def heartbeat(self) -> None:
        """Tell the control plane this host is alive, and how many slots it has in use."""
        with self.transaction() as conn:
            self._beat(conn)

    def _beat(self, conn: _Routed) -> None:
        me = self.shared.host
        if me is not None:
            states = [slot.state for slot in all_slots(conn)]
            in_use = len(states) - states.count(SlotState.IDLE)
            if not hosts.heartbeat(conn, me, len(states), in_use):  # forgotten while silent
                hosts.register(conn, me, self.shared.host_ttl)
                hosts.heartbeat(conn, me, len(states), in_use)
        conn.beaten = True

    def leave(self) -> None:
        """This pool's session is over (cleanup): it is no longer one of the hosts."""
        me = self.shared.host
        if me is not None:
            with self.shared.transaction() as conn:
                hosts.forget(conn, me.id, me.pool_id)

    def close(self) -> None:
        try:
            self.shared.close()
        finally:
            self.local.close()

    def __enter__(self) -> SplitStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# Every column of a reservation, in both stores (schema.py, shared_schema.py).
_RESERVATION = (
    "id, agent, patterns, rules, exclusive, reason, created_at, expires_at, released_at, pool_id"
)


def _copy_reservations(conn: _Routed) -> None:
    """Bring the local copy of the active reservations, which the commit guard reads on every
    commit without a server (guard_facts.py, scope/guard.py), to what the control plane holds:
    in every transaction that reaches it, so a host's guard knows what any host reserved as
    of its last change, or its daemon's or monitor's last refresh (each beats the heartbeat)."""
    assert conn.shared is not None
    active = "SELECT {} FROM reservations WHERE released_at IS NULL AND expires_at > ? ORDER BY id"
    now = (time.time(),)
    wanted = [tuple(row.values()) for row in conn.shared.execute(active.format(_RESERVATION), now)]
    held = [tuple(row) for row in conn.local.execute(active.format(_RESERVATION), now)]
    if wanted != held:
        conn.local.execute("DELETE FROM reservations")
        marks = ", ".join("?" * len(_RESERVATION.split(",")))
        conn.local.executemany(
            f"INSERT INTO reservations ({_RESERVATION}) VALUES ({marks})", wanted
        )


class _Routed:
    """One transaction's connection: each statement to the side whose tables it names."""

    def __init__(self, local: Connection, open_shared: Callable[[], Connection]) -> None:
        self.local = local
        self._open_shared = open_shared
        self.shared: Connection | None = None  # opened by the first statement that needs it
        self.beaten = False  # this transaction has beaten the host's heartbeat already

    @property
    def reached_shared(self) -> bool:
        return self.shared is not None

    def _side(self, statement: str) -> Connection:
        if not is_shared(statement):
            return self.local
        if self.shared is None:
            self.shared = self._open_shared()
        return self.shared

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Cursor:
        return self._side(sql).execute(sql, parameters)

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Cursor:
        return self._side(sql).executemany(sql, parameters)


# Where no control plane announces changes, a waiting command looks again this often.
POLL_SECONDS = 0.5


@contextmanager
def waiting_for(
    store: Store, channel: str, poll: float = POLL_SECONDS
) -> Iterator[Callable[[float], object]]:
    """`wait(seconds)`: until the control plane announces `channel` (shared_schema.py) or
    `seconds` pass; where the state is local, a sleep of `poll` at most, as SQLite announces
    nothing. The
    caller looks again after each wait either way. Listening starts before the caller's first
    look, so nothing announced between that look and the wait is missed."""
    if isinstance(store, SplitStore):
        store.shared.listen(channel)
        yield store.shared.wait
    else:
        yield lambda seconds: time.sleep(min(seconds, poll))


@contextmanager
def running_alone(store: Store, name: str) -> Iterator[bool]:
    """Whether this process, of all the control plane's hosts, is the one running `name`:
    held for the block, and given up by a process that dies with its connection. Where the
    state is local, always True: the caller's own lock decides there."""
    if not isinstance(store, SplitStore):
        yield True
        return
    if not store.shared.try_lock(name):
        yield False
        return
    try:
        yield True
    finally:
        with suppress(WtpoolError):  # unreachable: the lock went with the connection
            store.shared.unlock(name)


def running_anywhere(store: Store, name: str) -> bool | None:
    """Whether a process of any host holds `name` (running_alone); None where the state is
    local, for the caller to judge by its own lock."""
    return store.shared.lock_held(name) if isinstance(store, SplitStore) else None


def heartbeat(store: Store) -> None:
    """A heartbeat, where the store shares a control plane (the daemon and monitor beat)."""
    if isinstance(store, SplitStore):
        store.heartbeat()


def leave(store: Store) -> None:
    """This pool no longer takes part in a shared control plane, if it did (cleanup)."""
    if isinstance(store, SplitStore):
        store.leave()

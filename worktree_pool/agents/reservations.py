"""File reservations: an agent claims patterns, exclusively (the default) or shared, for a time.

Two reservations conflict when they belong to different agents, both are active, at least one
is exclusive, and their patterns overlap: overlap is the exact glob intersection of
overlap.py, so `src/a/*.py` and `src/*/b.py` conflict (both take `src/a/b.py`), which matching
one pattern's text against the other misses.

Active means not released and not expired. Expiry is a comparison with the clock when a
reservation is read, so it takes effect on its own. Every check and grant happens in one
`BEGIN IMMEDIATE` transaction: of many agents reserving overlapping patterns at once, in
`enforce` mode exactly one holds each contested path.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from worktree_pool.agents.audit import audit
from worktree_pool.agents.mail import WTPOOL_SENDER, post
from worktree_pool.errors import WtpoolError, bad_input
from worktree_pool.git.repo import Repository
from worktree_pool.scope.guard import covered
from worktree_pool.scope.overlap import readable, scopes_overlap
from worktree_pool.scope.patterns import check_compiles, compile_rules
from worktree_pool.store import queue, reservations
from worktree_pool.store.origin import this_pool
from worktree_pool.store.pool import require_pool
from worktree_pool.store.protocol import Connection, Store
from worktree_pool.store.reservations import StoredReservation
from worktree_pool.store.slots import find_slot
from worktree_pool.util.names import validate_name
from worktree_pool.util.pattern_syntax import validate_patterns

MAX_TTL = 30 * 24 * 3600.0  # a month: anything longer is a mistake, not a reservation


@dataclass(frozen=True)
class Reservation:
    id: int
    agent: str
    patterns: tuple[str, ...]
    exclusive: bool
    reason: str | None
    created_at: str
    expires_at: str
    released_at: str | None
    active: bool
    pool_id: str | None = None  # the pool it was made in (store.origin)
    host: str | None = None  # that pool's host, where a control plane is shared

    @classmethod
    def of(cls, stored: StoredReservation, now: float) -> Reservation:
        """The reservation as shown: times in ISO form, and whether it is active at `now`."""
        released = stored.released_at
        return cls(
            id=stored.id,
            agent=stored.agent,
            patterns=stored.patterns,
            exclusive=stored.exclusive,
            reason=stored.reason,
            created_at=_iso(stored.created_at),
            expires_at=_iso(stored.expires_at),
            released_at=None if released is None else _iso(released),
            active=released is None and stored.expires_at > now,
            pool_id=stored.pool_id,
            host=stored.host,
        )


@dataclass(frozen=True)
class Conflict:
    holder: Reservation
    path: str  # a path both reservations take


@dataclass(frozen=True)
class ReserveResult:
    reservation: Reservation  # granted: in enforce mode a conflict raises instead
    conflicts: list[Conflict] = field(default_factory=list)  # advisory mode's
    mode: str = "enforce"


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


def _check_ttl(seconds: float, what: str) -> float:
    if not 0 < seconds <= MAX_TTL:  # also refuses nan
        raise bad_input(f"{what} must be between 0 and {MAX_TTL:.0f} seconds, got {seconds:g}")
    return seconds


def conflicts_with(
    held: list[Reservation], agent: str, patterns: tuple[str, ...], exclusive: bool
) -> list[Conflict]:
    """The active reservations of other agents that a reservation of `patterns` would meet."""
    found = []
    for other in held:
        if other.agent == agent or not other.active or not (exclusive or other.exclusive):
            continue
        path = scopes_overlap(patterns, other.patterns)
        if path is not None:
            found.append(Conflict(other, readable(path, patterns, other.patterns)))
    return found


def others_hold_exclusively(conn: Connection, agent: str | None) -> bool:
    """Whether any agent but `agent` holds an active exclusive reservation: when none does,
    nothing can be held by others, whatever the paths (see held_by_others)."""
    now = time.time()
    return any(s.exclusive and s.agent != agent for s in reservations.active(conn, now))


def held_by_others(
    conn: Connection, agent: str | None, paths: set[str]
) -> list[tuple[Reservation, list[str]]]:
    """Active exclusive reservations of agents other than `agent` that take any of `paths`,
    each with the paths it takes: what the commit guard refuses, for a merge to refuse too."""
    now = time.time()
    found = []
    for stored in reservations.active(conn, now):
        if stored.exclusive and stored.agent != agent:
            held = covered(stored.rules, paths)
            if held:
                found.append((Reservation.of(stored, now), held))
    return found


def reserve(
    repo: Repository,
    store: Store,
    agent: str,
    patterns: tuple[str, ...],
    *,
    ttl: float | None = None,
    shared: bool = False,
    reason: str | None = None,
) -> ReserveResult:
    validate_name("agent", agent)
    check_reservable(patterns)
    seconds = _check_ttl(repo.config.reservations.ttl if ttl is None else ttl, "--ttl")
    with store.transaction() as conn:
        require_pool(conn, repo)
        return grant(conn, repo, agent, patterns, shared=shared, reason=reason, ttl=seconds)


def check_reservable(patterns: tuple[str, ...]) -> None:
    if not patterns:
        raise bad_input("name at least one pattern to reserve")
    if any(pattern.startswith("!") for pattern in patterns):
        raise bad_input("a reservation names what it takes: negated patterns have no place in it")
    validate_patterns(patterns)
    check_compiles(patterns)


def grant(
    conn: Connection,
    repo: Repository,
    agent: str,
    patterns: tuple[str, ...],
    *,
    shared: bool = False,
    reason: str | None = None,
    ttl: float | None = None,
    overlap_on_purpose: bool = False,
) -> ReserveResult:
    """Reserve inside the caller's transaction (a claim's, say), so that the check and the
    grant are one step with whatever else it decides.

    `overlap_on_purpose` (spawn all, assign --force) reserves shared, and grants it whatever
    it meets: exclusive, the commit guard would block agents on the very files they were told
    to share. Files another agent holds exclusively stay that agent's at commit time.
    """
    mode = "advisory" if overlap_on_purpose else repo.config.reservations.mode
    seconds = repo.config.reservations.ttl if ttl is None else ttl
    now = time.time()
    held = [Reservation.of(stored, now) for stored in reservations.active(conn, now)]
    conflicts = conflicts_with(held, agent, patterns, not shared)
    if conflicts and mode == "enforce":
        raise _refusal(patterns, conflicts)
    shared = shared or overlap_on_purpose
    new_id = _insert(conn, agent, patterns, not shared, reason, now, now + seconds)
    (reservation,) = _by_ids(conn, [new_id], now)
    audit(
        conn,
        "reserve",
        id=reservation.id,
        agent=agent,
        patterns=list(patterns),
        exclusive=not shared,
        expires_at=reservation.expires_at,
        conflicts=[c.holder.id for c in conflicts],
    )
    return ReserveResult(reservation, conflicts, mode)


def _insert(
    conn: Connection,
    agent: str,
    patterns: tuple[str, ...],
    exclusive: bool,
    reason: str | None,
    created: float,
    expires: float,
) -> int:
    rules = json.dumps(compile_rules(patterns))  # for the commit guard
    return reservations.insert(conn, agent, patterns, rules, exclusive, reason, created, expires)


def _refusal(patterns: tuple[str, ...], conflicts: list[Conflict]) -> WtpoolError:
    holders = "; ".join(
        f"{c.holder.agent}{f' on host {c.holder.host}' if c.holder.host else ''} holds "
        f"{', '.join(c.holder.patterns)} (#{c.holder.id}, until {c.holder.expires_at}; "
        f"both take {c.path})"
        for c in conflicts
    )
    return WtpoolError(
        f"cannot reserve {', '.join(patterns)}: {holders}",
        "wait for it to be released or to expire, or ask its holder to release it",
    )


def list_reservations(
    repo: Repository, store: Store, *, include_inactive: bool = False
) -> list[Reservation]:
    with store.snapshot() as conn:
        require_pool(conn, repo)
        now = time.time()
        stored = reservations.every(conn) if include_inactive else reservations.active(conn, now)
    return [Reservation.of(one, now) for one in stored]


def renew(repo: Repository, store: Store, agent: str, by: float | None = None) -> list[Reservation]:
    """Extend each of the agent's active reservations to `by` seconds from now (the TTL by
    default). An expired reservation is not revived: another agent may have taken its files."""
    validate_name("agent", agent)
    seconds = _check_ttl(repo.config.reservations.ttl if by is None else by, "--by")
    with store.transaction() as conn:
        require_pool(conn, repo)
        now = time.time()
        ids = [r.id for r in reservations.active(conn, now) if r.agent == agent]
        if not ids:
            raise WtpoolError(f"agent {agent} holds no active reservation")
        reservations.extend(conn, ids, now + seconds)
        renewed = _by_ids(conn, ids, now)
        audit(conn, "renew", agent=agent, expires_at={r.id: r.expires_at for r in renewed})
    return renewed


def _by_ids(conn: Connection, ids: list[int], now: float) -> list[Reservation]:
    return [Reservation.of(stored, now) for stored in reservations.by_ids(conn, ids)]


def unreserve(
    repo: Repository, store: Store, agent: str, patterns: tuple[str, ...] = ()
) -> list[Reservation]:
    """Release the agent's active reservations, or only the given patterns of them: a
    reservation that keeps other patterns is replaced by one of those, with the same creation
    and expiry times. Returns the released ones, then the replacements."""
    validate_name("agent", agent)
    with store.transaction() as conn:
        require_pool(conn, repo)
        now = time.time()
        mine = [r for r in reservations.active(conn, now) if r.agent == agent]
        touched: list[int] = []
        kept: list[int] = []  # the replacements holding what was not released
        for stored in mine:
            held = list(stored.patterns)
            keep = [p for p in held if p not in patterns] if patterns else []
            if keep == held:
                continue
            reservations.mark_released(conn, [stored.id], now)
            touched.append(stored.id)
            if keep:
                kept.append(
                    _insert(
                        conn,
                        agent,
                        tuple(keep),
                        stored.exclusive,
                        stored.reason,
                        stored.created_at,
                        stored.expires_at,
                    )
                )
        if not touched:
            what = f" of {', '.join(patterns)}" if patterns else ""
            raise WtpoolError(f"agent {agent} holds no active reservation{what}")
        audit(conn, "unreserve", agent=agent, ids=touched, patterns=list(patterns), kept=kept)
        return _by_ids(conn, touched + kept, now)


def expired(store: Store) -> list[Reservation]:
    """Reservations past their expiry that nobody released: inactive already, but left over."""
    with store.snapshot() as conn:
        now = time.time()
        return [Reservation.of(stored, now) for stored in reservations.expired(conn, now)]


def close_expired(store: Store, reservation_id: int) -> None:
    """Mark an expired reservation released, as of its expiry."""
    with store.transaction() as conn:
        if not reservations.close_expired(conn, reservation_id, time.time()):
            raise WtpoolError(f"reservation #{reservation_id} was released or renewed meanwhile")
        audit(conn, "expire", id=reservation_id)


def release_held(store: Store, *, ids: list[int] | None = None) -> list[int]:
    """Release the active reservations of `ids`, or (none given) all of them; quietly, for
    cleanup and an undone claim. Returns the ids released."""
    with store.transaction() as conn:
        return release_in(conn, ids=ids)


def release_in(
    conn: Connection,
    *,
    agent: str | None = None,
    ids: list[int] | None = None,
) -> list[int]:
    """release_held inside the caller's transaction (a release's, with the slot going idle).
    Only this pool's: where reservations are shared, other hosts' are theirs to release."""
    now = time.time()
    pool = this_pool(conn)
    chosen = [
        r.id
        for r in reservations.active(conn, now)
        if r.pool_id == pool
        and (agent is None or r.agent == agent)
        and (ids is None or r.id in ids)
    ]
    if chosen:
        reservations.mark_released(conn, chosen, now)
        audit(conn, "unreserve", agent=agent, ids=chosen, patterns=[])
    return chosen


def force_release(repo: Repository, store: Store, reservation_id: int) -> Reservation:
    """Release a stale reservation, whoever holds it, and mail its holder why. Stale: its
    holder no longer holds a slot or waits in the queue, so nobody would ever release it."""
    with store.transaction() as conn:
        require_pool(conn, repo)
        now = time.time()
        found = _by_ids(conn, [reservation_id], now)
        if not found:
            raise bad_input(f"no reservation #{reservation_id}", "`wtpool reservations` lists them")
        reservation = found[0]
        if not reservation.active:
            raise WtpoolError(f"reservation #{reservation_id} is not active: nothing to release")
        agent = reservation.agent
        if reservation.host is not None and reservation.pool_id != this_pool(conn):
            # Its holder's slot is on that host, which alone can tell whether it is stale.
            raise WtpoolError(
                f"reservation #{reservation_id} was made on host {reservation.host}",
                f"release it there; if {reservation.host} is dead, `wtpool doctor --fix` "
                "releases its reservations once it has been silent for state.host_ttl",
            )
        place = _holder_place(conn, agent)
        if place is not None:
            raise WtpoolError(
                f"reservation #{reservation_id} is not stale: {agent} {place}",
                f"ask {agent} to release it, or wait for it to expire at {reservation.expires_at}",
            )
        reservations.mark_released(conn, [reservation_id], now)
        audit(conn, "unreserve", agent=agent, ids=[reservation_id], forced=True)
        post(
            conn,
            WTPOOL_SENDER,
            agent,
            f"reservation #{reservation_id} was released by force",
            f"Your reservation #{reservation_id} of {', '.join(reservation.patterns)} was "
            f"released with `wtpool unreserve --id {reservation_id} --force`, because you no "
            "longer held a slot or waited in the queue. Reserve again if you still need it.\n",
        )
        return _by_ids(conn, [reservation_id], now)[0]


def stale(store: Store) -> list[Reservation]:
    """Active reservations of this pool whose holder holds no slot and waits in no queue:
    nobody would ever release them (force_release may). Another host's holders are in its
    slots, not in this pool's (a silent host's: coord.control_plane)."""
    with store.snapshot() as conn:
        now = time.time()
        pool = this_pool(conn)
        return [
            Reservation.of(stored, now)
            for stored in reservations.active(conn, now)
            if stored.pool_id == pool and _holder_place(conn, stored.agent) is None
        ]


def _holder_place(conn: Connection, agent: str) -> str | None:
    """Where a reservation's holder is in the pool, in words; None when it is nowhere."""
    where = find_slot(conn, agent=agent)
    if where is not None:
        return f"holds {where.name}"
    return "waits in the queue" if queue.is_queued(conn, agent) else None

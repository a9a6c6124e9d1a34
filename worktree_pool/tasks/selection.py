"""Which tracks spawn picks, and which tracks' scopes collide.

`independent` picks tracks, best priority first and then by id, that have a ready task, are not
assigned yet, and whose scopes overlap neither each other nor the scope of any slot already in
use or request already queued. `all` ignores overlap, and warns about each overlapping pair it
picks. Only positive patterns decide overlap (see overlap.py): a pick is never less safe than
the check says.

A slot or queued request without a scope has the whole tree, so it overlaps every track.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from worktree_pool.config.settings import Mode
from worktree_pool.errors import WtpoolError
from worktree_pool.scope import guard
from worktree_pool.scope.overlap import readable, scopes_overlap
from worktree_pool.scope.patterns import check_compiles, compile_rules
from worktree_pool.store.claims import every_claim
from worktree_pool.store.protocol import Connection
from worktree_pool.store.queue import queued_requests
from worktree_pool.store.slots import ClaimRequest, SlotState, all_slots
from worktree_pool.tasks.tracks import Track
from worktree_pool.util.names import validate_name
from worktree_pool.util.pattern_syntax import validate_patterns

WHOLE_TREE = ("**",)


@dataclass(frozen=True)
class Occupant:
    """Something already working on the tree: a slot in use, or a queued request."""

    holder: str  # a slot name, "queued agent NAME", or "SLOT on host HOST"
    agent: str | None
    task: str | None
    track: str | None
    scope: tuple[str, ...] | None  # None: the whole tree


@dataclass(frozen=True)
class Pick:
    track: Track

    @property
    def task(self) -> str:
        """The track's first ready task, the one the slot starts on."""
        return self.track.ready[0]


class SkipKind(StrEnum):
    BLOCKED = "blocked"  # no ready task
    ASSIGNED = "assigned"  # a slot or queued request already works on it
    OVERLAP = "overlap"  # its scope overlaps a slot in use, a queued request or a pick
    UNUSABLE = "unusable"  # a task id or scope wtpool cannot use
    REFUSED = "refused"  # the claim itself failed (e.g. another spawn took it first)


@dataclass(frozen=True)
class Skip:
    track: str
    kind: SkipKind
    reason: str


@dataclass
class Selection:
    picks: list[Pick] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def occupants(conn: Connection) -> list[Occupant]:
    """Slots held by an agent (or holding adopted work), queued requests, and the slots of
    other hosts sharing the control plane."""
    found = [
        Occupant(slot.name, slot.agent, slot.task, slot.track, slot.scope)
        for slot in all_slots(conn)
        if slot.state != SlotState.IDLE and (slot.agent is not None or slot.state == SlotState.BUSY)
    ]
    found += [
        Occupant(f"queued agent {r.agent}", r.agent, r.task, r.track, r.scope)
        for r in queued_requests(conn)
    ]
    # Claims no slot here shows: other hosts' slots, and, for the moment between a claim's
    # two commits (split.py), this host's.
    shown = {occupant.task for occupant in found}
    found += [
        Occupant(claim.where, claim.agent, claim.task, claim.track, claim.scope)
        for claim in every_claim(conn)
        if claim.task not in shown
    ]
    return found


def slot_scope(track: Track) -> tuple[str, ...] | None:
    """The scope a slot for this track gets: None when the track may touch anything."""
    return None if set(track.scope) == set(WHOLE_TREE) else track.scope


def scope_problem(track: Track) -> str | None:
    """Why the track's scope cannot be applied to a slot, or None."""
    for task_id, scope in track.scopes.items():
        try:
            check_compiles(validate_patterns(scope.patterns))
        except WtpoolError as exc:
            return f"task {task_id}'s scope ({scope.source}) is unusable: {exc.message}"
    return None


def overlap_with(
    scope: tuple[str, ...] | None, others: list[Occupant]
) -> tuple[Occupant, str] | None:
    """The first occupant whose scope overlaps `scope`, with a path both could touch."""
    for other in others:
        path = _overlap(scope, other.scope)
        if path is not None:
            return other, path
    return None


def _overlap(first: tuple[str, ...] | None, second: tuple[str, ...] | None) -> str | None:
    """scopes_overlap, where None is the whole tree, its witness made readable."""
    found = scopes_overlap(first or WHOLE_TREE, second or WHOLE_TREE)
    return None if found is None else readable(found, first or WHOLE_TREE, second or WHOLE_TREE)


def assignment(track: Track, others: list[Occupant]) -> Occupant | None:
    return next(
        (o for o in others if o.track == track.id or (o.task and o.task in track.tasks)), None
    )


def independence_error(conn: Connection, request: ClaimRequest) -> WtpoolError | None:
    """Why `request` may not take its track now, checked inside the claim's transaction."""
    others = [o for o in occupants(conn) if o.agent != request.agent]
    taken = next((o for o in others if request.track and o.track == request.track), None)
    if taken is not None:
        return WtpoolError(
            f"{request.track} is already assigned to {taken.holder}",
            "pass --force to put a second agent on it",
        )
    found = overlap_with(request.scope, others)
    if found is not None:
        other, path = found
        return WtpoolError(
            f"the scope of {request.track or request.task} overlaps {other.holder}, e.g. at {path}",
            "wait for that slot to be released, or pass --force",
        )
    return None


def select(tracks: list[Track], others: list[Occupant], count: int | None, mode: Mode) -> Selection:
    """Up to `count` tracks (None: as many as possible), in priority order."""
    selection = Selection()
    for track in tracks:
        if count is not None and len(selection.picks) >= count:
            break
        skip = _unavailable(track, others)
        if skip is None and mode == Mode.INDEPENDENT:
            skip = _collision(track, others, selection.picks)
        if skip is not None:
            selection.skipped.append(skip)
            continue
        if mode == Mode.ALL:
            selection.warnings += _overlap_warnings(track, selection.picks)
        selection.picks.append(Pick(track))
    return selection


def _unavailable(track: Track, others: list[Occupant]) -> Skip | None:
    if not track.ready:
        return Skip(
            track.id,
            SkipKind.BLOCKED,
            f"no ready task: its {len(track.tasks)} task(s) are blocked or in progress",
        )
    holder = assignment(track, others)
    if holder is not None:
        work = f"task {holder.task}" if holder.task in track.tasks else str(holder.track)
        return Skip(track.id, SkipKind.ASSIGNED, f"already assigned: {holder.holder} has {work}")
    try:
        validate_name("task", track.ready[0])
    except WtpoolError as exc:
        reason = f"its ready task cannot name a branch: {exc.message}"
        return Skip(track.id, SkipKind.UNUSABLE, reason)
    problem = scope_problem(track)
    return None if problem is None else Skip(track.id, SkipKind.UNUSABLE, problem)


def _collision(track: Track, others: list[Occupant], picks: list[Pick]) -> Skip | None:
    scope = slot_scope(track)
    found = overlap_with(scope, others)
    if found is not None:
        other, path = found
        whole = "" if other.scope else ", which has the whole tree"
        reason = f"its scope overlaps {other.holder}{whole}, e.g. at {path}"
        return Skip(track.id, SkipKind.OVERLAP, reason)
    for pick in picks:
        path = _overlap(scope, slot_scope(pick.track))
        if path is not None:
            reason = f"its scope overlaps {pick.track.id}, picked first, e.g. at {path}"
            return Skip(track.id, SkipKind.OVERLAP, reason)
    return None


def _overlap_warnings(track: Track, picks: list[Pick]) -> list[str]:
    warnings = []
    for pick in picks:
        path = _overlap(slot_scope(track), slot_scope(pick.track))
        if path is not None:
            warnings.append(f"{track.id} and {pick.track.id} may both change {path}")
    return warnings


# --- conflicts ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Conflict:
    first: str
    second: str
    example: str  # a path both scopes could touch, tracked or not
    tracked: tuple[str, ...]  # tracked files both match, the first few
    tracked_count: int


def conflicts(tracks: list[Track], tracked: frozenset[str], shown: int = 5) -> list[Conflict]:
    """Every pair of tracks whose scopes overlap, with the tracked files both match."""
    usable = [t for t in tracks if scope_problem(t) is None]
    matched: dict[str, frozenset[str]] = {}

    def files_of(track: Track) -> frozenset[str]:
        if track.id not in matched:
            rules = guard.compiled(compile_rules(track.scope))
            matched[track.id] = frozenset(p for p in tracked if guard.allows(rules, p))
        return matched[track.id]

    found = []
    for index, first in enumerate(usable):
        for second in usable[index + 1 :]:
            witness = scopes_overlap(first.scope, second.scope)
            if witness is None:
                continue
            example = readable(witness, first.scope, second.scope)
            both = sorted(files_of(first) & files_of(second))
            found.append(Conflict(first.id, second.id, example, tuple(both[:shown]), len(both)))
    return found

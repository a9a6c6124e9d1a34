"""`wtpool tracks analyze|recommend|conflicts`: read-only views of the task graph's tracks.

Each one loads the graph from the configured source, splits it into tracks, and, when the
repository has a pool, takes the slots in use, the queue and the tasks already landed into
account, exactly as spawn will.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from worktree_pool.config.settings import Mode
from worktree_pool.errors import WtpoolError
from worktree_pool.git.repo import Repository
from worktree_pool.scope.sparse import tracked_files
from worktree_pool.store.protocol import Store
from worktree_pool.store.tasks import forget_landed, landed_tasks, pinned_scopes
from worktree_pool.tasks.graph import TaskGraph
from worktree_pool.tasks.scoping import repository_scoping
from worktree_pool.tasks.selection import (
    Conflict,
    Occupant,
    Skip,
    assignment,
    conflicts,
    occupants,
    scope_problem,
    select,
    slot_scope,
)
from worktree_pool.tasks.sources import load_task_graph
from worktree_pool.tasks.tracks import Scoping, Track, find_tracks


def load_tracks(
    repo: Repository, lenient: bool, store: Store | None = None
) -> tuple[TaskGraph, list[Track]]:
    """The graph and its tracks; with the pool's `store`, the tasks it landed count as closed
    and the scopes pinned there hold."""
    graph, scoping = load_graph(repo, lenient, store)
    return graph, find_tracks(graph, scoping)


def load_graph(
    repo: Repository, lenient: bool, store: Store | None = None
) -> tuple[TaskGraph, Scoping]:
    """The graph, with what the pool's `store` knows applied, and where its scopes come from."""
    graph = load_task_graph(
        repo.root, repo.config.tasks, lenient=lenient, timeout=repo.config.timeouts.git
    )
    pinned: dict[str, tuple[str, ...]] = {}
    if store is not None:
        with store.snapshot() as conn:
            landed = landed_tasks(conn)
            pinned = pinned_scopes(conn)
        agreed = [t for t in landed if t in graph.tasks and graph.tasks[t].done]
        if agreed:
            with store.transaction() as conn:
                forget_landed(conn, agreed)
        graph = graph.with_landed({t: c for t, c in landed.items() if t not in agreed})
    return graph, repository_scoping(repo, graph, pinned)


def current_occupants(store: Store | None) -> list[Occupant]:
    if store is None:
        return []
    with store.snapshot() as conn:
        return occupants(conn)


@dataclass(frozen=True)
class TaskView:
    id: str
    title: str
    status: str
    priority: int
    ready: bool
    patterns: tuple[str, ...]
    scope_source: str
    confidence: float | None  # for an inferred scope, or one inference was not sure of


@dataclass(frozen=True)
class TrackView:
    id: str
    priority: int
    ready: tuple[str, ...]
    patterns: tuple[str, ...]
    assigned_to: str | None  # the slot or queued request already working on it
    scope_problem: str | None
    tasks: list[TaskView]
    scope_sources: dict[str, int]  # how many of its tasks have their scope from each source


@dataclass(frozen=True)
class DanglingReference:
    task: str
    target: str
    kind: str


@dataclass(frozen=True)
class LandedTask:
    """A task the merge queue landed that its source does not call closed yet."""

    id: str
    title: str
    commit: str  # the commit that landed it


@dataclass(frozen=True)
class Analysis:
    source: str
    tasks: int
    ready: int
    tracks: list[TrackView]
    dangling: list[DanglingReference]
    warnings: list[str]
    landed_not_closed: list[LandedTask]  # treated as closed until the source agrees
    ready_whole_tree: int  # ready tasks whose scope is the whole tree: what spawn can't split


def analyze(repo: Repository, store: Store | None, lenient: bool) -> Analysis:
    graph, tracks = load_tracks(repo, lenient, store)
    others = current_occupants(store)
    views = []
    for track in tracks:
        holder = assignment(track, others)
        views.append(
            TrackView(
                id=track.id,
                priority=track.priority,
                ready=track.ready,
                patterns=track.scope,
                assigned_to=holder.holder if holder else None,
                scope_problem=scope_problem(track),
                tasks=[
                    TaskView(
                        id=task_id,
                        title=graph.tasks[task_id].title,
                        status=graph.tasks[task_id].status,
                        priority=graph.tasks[task_id].priority,
                        ready=task_id in track.ready,
                        patterns=track.scopes[task_id].patterns,
                        scope_source=track.scopes[task_id].source,
                        confidence=track.scopes[task_id].confidence,
                    )
                    for task_id in track.tasks
                ],
                scope_sources=dict(Counter(s.source for s in track.scopes.values())),
            )
        )
    return Analysis(
        source=graph.source,
        tasks=len(graph.tasks),
        ready=len(graph.ready()),
        tracks=views,
        dangling=[DanglingReference(task, dep.target, dep.kind) for task, dep in graph.dangling()],
        warnings=graph.warnings,
        landed_not_closed=[
            LandedTask(task, graph.tasks[task].title, commit)
            for task, commit in graph.landed.items()
        ],
        ready_whole_tree=sum(
            "**" in track.scopes[task].patterns for track in tracks for task in track.ready
        ),
    )


@dataclass(frozen=True)
class Recommended:
    track: str
    task: str  # the ready task a slot would start on
    priority: int
    patterns: tuple[str, ...] | None  # None: the whole tree


@dataclass(frozen=True)
class Recommendation:
    source: str
    mode: str
    picks: list[Recommended]
    skipped: list[Skip]
    warnings: list[str]


def recommend(
    repo: Repository, store: Store | None, count: int | None, mode: Mode, lenient: bool
) -> Recommendation:
    graph, tracks = load_tracks(repo, lenient, store)
    selection = select(tracks, current_occupants(store), count, mode)
    return Recommendation(
        source=graph.source,
        mode=mode,
        picks=[
            Recommended(p.track.id, p.task, p.track.priority, slot_scope(p.track))
            for p in selection.picks
        ],
        skipped=selection.skipped,
        warnings=[*graph.warnings, *selection.warnings],
    )


@dataclass(frozen=True)
class ConflictReport:
    source: str
    tracks: int
    conflicts: list[Conflict]
    warnings: list[str]


def find_conflicts(repo: Repository, store: Store | None, lenient: bool) -> ConflictReport:
    graph, tracks = load_tracks(repo, lenient, store)
    try:
        tracked = tracked_files(repo.git)
    except WtpoolError:  # no commit yet: nothing is tracked
        tracked = frozenset()
    return ConflictReport(graph.source, len(tracks), conflicts(tracks, tracked), graph.warnings)

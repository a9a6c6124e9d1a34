"""Tracks: the independent streams of work in a task graph, and each task's file scope.

A track is a connected component of the tasks that are not done, over the edges that affect
work (blocking edges and parent-child). Two tracks share no such edge, so agents on different
tracks never wait for each other; whether they would touch the same files is overlap.py's
question, asked of the tracks' scopes.

A track's id is `track:<smallest task id in it>`: stable while its membership holds, and
readable. Its tasks come in dependency order (what a task depends on comes first; a cycle,
which Beads allows, is broken by id order). Its priority is the best (lowest) of its tasks'.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from worktree_pool.config.settings import ScopeRule
from worktree_pool.tasks.description import listed_files
from worktree_pool.tasks.graph import BLOCKING_EDGES, PARENT_EDGE, Task, TaskGraph
from worktree_pool.tasks.inference.infer import Evidence, Knowledge, infer
from worktree_pool.tasks.inference.tree import TreeIndex

WORK_EDGES = BLOCKING_EDGES | {PARENT_EDGE}


@dataclass(frozen=True)
class TaskScope:
    patterns: tuple[str, ...]
    source: str  # one of SOURCES
    confidence: float | None = None  # how sure an inferred scope is; None for the others
    evidence: tuple[Evidence, ...] = ()
    notes: tuple[str, ...] = ()  # what was looked at and not used, and why


# Where a task's scope can come from, first to last: the first that has one gives it.
SOURCES = (
    "pinned",
    "metadata.files",
    "labels",
    "description",
    "scope_rules",
    "inferred",
    "default_files",
)


@dataclass(frozen=True)
class Scoping:
    """Everything a task's scope can come from besides the task itself."""

    rules: tuple[ScopeRule, ...] = ()
    default_files: tuple[str, ...] = ("**",)
    pinned: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    knowledge: Knowledge | None = None  # None: no inference
    min_confidence: float = 0.3
    tree: TreeIndex | None = None  # resolves files sections' paths; None: taken as written


@dataclass(frozen=True)
class Track:
    id: str
    tasks: tuple[str, ...]  # in dependency order
    ready: tuple[str, ...]
    priority: int
    scope: tuple[str, ...]  # the union of its tasks' scopes
    scopes: dict[str, TaskScope]  # each task's scope and where it came from


def task_scope(task: Task, scoping: Scoping | None = None) -> TaskScope:
    """The scope from the first source in SOURCES that gives one."""
    scoping = scoping or Scoping()
    if task.id in scoping.pinned:
        return TaskScope(scoping.pinned[task.id], "pinned")
    if task.files is not None:
        return TaskScope(task.files, "metadata.files")
    labelled = tuple(
        label.split(":", 1)[1]
        for label in task.labels
        if label.split(":", 1)[0] in ("files", "scope") and ":" in label
    )
    if labelled:
        return TaskScope(labelled, "labels")
    listed = listed_files("\n".join((task.description, task.design, task.notes)), scoping.tree)
    if listed.patterns:
        return TaskScope(listed.patterns, "description")
    notes = tuple(f"a files section holds no path: {p!r}" for p in listed.prose)
    for rule in scoping.rules:
        if any(re.search(rule.match, text) for text in (task.title, *task.labels)):
            return TaskScope(rule.files, "scope_rules", notes=notes)
    if scoping.knowledge is not None and task.work:
        found = infer(task, scoping.knowledge)
        if found.patterns and found.confidence >= scoping.min_confidence:
            return TaskScope(found.patterns, "inferred", found.confidence, found.evidence, notes)
        why = (
            f"inference was not sure enough (confidence {found.confidence:.2f}, below "
            f"{scoping.min_confidence:.2f})"
            if found.patterns
            else "inference found nothing in the repository that the task's text points at"
        )
        return TaskScope(
            scoping.default_files, "default_files", found.confidence, found.evidence, (*notes, why)
        )
    return TaskScope(scoping.default_files, "default_files", notes=notes)


def find_tracks(graph: TaskGraph, scoping: Scoping | None = None) -> list[Track]:
    """The tracks of the graph's unfinished work, best priority first, then by id."""
    live = {task_id: task for task_id, task in graph.tasks.items() if not task.done}
    neighbours: dict[str, set[str]] = defaultdict(set)
    for task in live.values():
        for dep in task.dependencies:
            if dep.kind in WORK_EDGES and dep.target in live and dep.target != task.id:
                neighbours[task.id].add(dep.target)
                neighbours[dep.target].add(task.id)
    ready = set(graph.ready())
    tracks = []
    seen: set[str] = set()
    for task_id in sorted(live):
        if task_id in seen:
            continue
        component = _component(task_id, neighbours)
        seen |= component
        ordered = _dependency_order(component, live)
        scopes = {t: task_scope(live[t], scoping) for t in ordered}
        tracks.append(
            Track(
                id=f"track:{min(component)}",
                tasks=ordered,
                ready=tuple(t for t in ordered if t in ready),
                priority=min(live[t].priority for t in component),
                scope=_union(
                    [s for t, s in scopes.items() if not _container(live[t], s)]
                    or list(scopes.values())
                ),
                scopes=scopes,
            )
        )
    return sorted(tracks, key=lambda track: (track.priority, track.id))


def _container(task: Task, scope: TaskScope) -> bool:
    """An epic (or an agent, a wisp, ...) that names no files: it is not work (so nothing is
    inferred for it), and its default scope, usually the whole tree, must not widen its
    track's."""
    return not task.work and scope.source == "default_files"


def _union(scopes: list[TaskScope]) -> tuple[str, ...]:
    """Every task's positive patterns, then the negations all of them share.

    A negation narrows only its own task's scope; carried into the union it would hide files
    another task of the track needs.
    """
    positive = [p for s in scopes for p in s.patterns if not p.startswith("!")]
    shared = [
        p
        for p in scopes[0].patterns
        if p.startswith("!") and all(p in s.patterns for s in scopes[1:])
    ]
    return tuple(dict.fromkeys(positive + shared))


def _component(start: str, neighbours: dict[str, set[str]]) -> set[str]:
    component, todo = {start}, [start]
    while todo:
        for nxt in neighbours[todo.pop()]:
            if nxt not in component:
                component.add(nxt)
                todo.append(nxt)
    return component


def _dependency_order(component: set[str], live: dict[str, Task]) -> tuple[str, ...]:
    """Kahn's algorithm, smallest id first among equals; a cycle is broken at its smallest id."""
    needs = {
        t: {
            d.target
            for d in live[t].dependencies
            if d.kind in WORK_EDGES and d.target in component and d.target != t
        }
        for t in component
    }
    ordered: list[str] = []
    while needs:
        free = sorted(t for t, deps in needs.items() if not deps)
        if not free:  # a cycle: take the smallest id and carry on
            free = [min(needs)]
        for t in free:
            ordered.append(t)
            del needs[t]
        for deps in needs.values():
            deps.difference_update(free)
    return tuple(ordered)

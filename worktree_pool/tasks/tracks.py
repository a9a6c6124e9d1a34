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
from dataclasses import dataclass

from worktree_pool.config.settings import ScopeRule
from worktree_pool.tasks.graph import BLOCKING_EDGES, PARENT_EDGE, Task, TaskGraph

WORK_EDGES = BLOCKING_EDGES | {PARENT_EDGE}


@dataclass(frozen=True)
class TaskScope:
    patterns: tuple[str, ...]
    source: str  # metadata.files, labels, description, scope_rules or default_files


@dataclass(frozen=True)
class Track:
    id: str
    tasks: tuple[str, ...]  # in dependency order
    ready: tuple[str, ...]
    priority: int
    scope: tuple[str, ...]  # the union of its tasks' scopes
    scopes: dict[str, TaskScope]  # each task's scope and where it came from


_SECTION_START = re.compile(r"^\s*(?:#+\s*files\s*:?|files\s*:)\s*(.*)$", re.IGNORECASE)
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])?\s*`?([^`\s]+)`?\s*$")


def task_scope(
    task: Task, rules: tuple[ScopeRule, ...] = (), default_files: tuple[str, ...] = ("**",)
) -> TaskScope:
    """The first of: metadata.files, files:/scope: labels, a Files section in the description,
    the first matching scope rule, the default."""
    if task.files is not None:
        return TaskScope(task.files, "metadata.files")
    labelled = tuple(
        label.split(":", 1)[1]
        for label in task.labels
        if label.split(":", 1)[0] in ("files", "scope") and ":" in label
    )
    if labelled:
        return TaskScope(labelled, "labels")
    listed = _description_files(task.description)
    if listed:
        return TaskScope(listed, "description")
    for rule in rules:
        if any(re.search(rule.match, text) for text in (task.title, *task.labels)):
            return TaskScope(rule.files, "scope_rules")
    return TaskScope(default_files, "default_files")


def _description_files(description: str) -> tuple[str, ...]:
    """Paths listed under a `Files:` line or a `## Files` heading, up to a blank line or the
    next heading."""
    files: list[str] = []
    inside = False
    for line in description.splitlines():
        start = _SECTION_START.match(line)
        if start and not inside:
            inside = True
            files += [p.strip("`") for p in re.split(r"[,\s]+", start.group(1)) if p.strip("`")]
            continue
        if inside:
            if not line.strip() or line.lstrip().startswith("#"):
                break
            item = _LIST_ITEM.match(line)
            if item is None:
                break
            files.append(item.group(1))
    return tuple(dict.fromkeys(files))


def find_tracks(
    graph: TaskGraph,
    rules: tuple[ScopeRule, ...] = (),
    default_files: tuple[str, ...] = ("**",),
) -> list[Track]:
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
        scopes = {t: task_scope(live[t], rules, default_files) for t in ordered}
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
    """An epic that names no files: it holds work, it is none, so its default scope (usually
    the whole tree) must not widen its track's."""
    return task.issue_type == "epic" and scope.source == "default_files"


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

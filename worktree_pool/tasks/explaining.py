"""`wtpool tracks explain|pin|unpin`: why a task has the scope it has, and fixing it by hand.

A pin is kept in the pool's state, not in the task source: wtpool never writes a Beads export,
and a scope is wtpool's business. It comes first among the sources, so it holds whatever the
task or inference says, until it is unpinned.
"""

from __future__ import annotations

from dataclasses import dataclass

from worktree_pool.errors import bad_input
from worktree_pool.git.repo import Repository
from worktree_pool.scope.patterns import check_compiles
from worktree_pool.store.protocol import Store
from worktree_pool.store.tasks import pin_scope, pinned_scopes, unpin_scope
from worktree_pool.tasks.inference.infer import Evidence
from worktree_pool.tasks.planning import load_graph
from worktree_pool.tasks.sources import check_task_id
from worktree_pool.tasks.tracks import task_scope
from worktree_pool.util.pattern_syntax import validate_patterns


@dataclass(frozen=True)
class TaskExplanation:
    id: str
    title: str
    patterns: tuple[str, ...]
    source: str  # pinned, metadata.files, labels, description, scope_rules, inferred, default_files
    confidence: float | None
    evidence: list[Evidence]
    notes: list[str]


@dataclass(frozen=True)
class Explanation:
    tasks: list[TaskExplanation]


def explain(
    repo: Repository, store: Store | None, task_ids: list[str], lenient: bool
) -> Explanation:
    graph, scoping = load_graph(repo, lenient, store)
    for task_id in task_ids:
        check_task_id(repo, task_id, "run `wtpool tracks analyze` to see the tasks", graph)
    found = []
    for task_id in dict.fromkeys(task_ids):
        task = graph.tasks[task_id]
        scope = task_scope(task, scoping)
        found.append(
            TaskExplanation(
                task_id,
                task.title,
                scope.patterns,
                scope.source,
                scope.confidence,
                list(scope.evidence),
                list(scope.notes),
            )
        )
    return Explanation(found)


@dataclass(frozen=True)
class Pin:
    task: str
    patterns: tuple[str, ...]  # () when unpinned
    replaced: tuple[str, ...] | None  # the pin it replaced or removed


def pin(repo: Repository, store: Store, task: str, patterns: list[str]) -> Pin:
    """Pin `patterns` as the task's scope, after checking the task and every pattern."""
    if not patterns:
        raise bad_input("give at least one pattern to pin", "to drop a pin: wtpool tracks unpin")
    checked = validate_patterns(tuple(patterns), "pattern")
    check_compiles(checked)
    check_task_id(repo, task, "pin only tasks of the task source")
    with store.transaction() as conn:
        before = pinned_scopes(conn).get(task)
        pin_scope(conn, task, checked)
    return Pin(task, checked, before)


def unpin(store: Store, task: str) -> Pin:
    with store.transaction() as conn:
        before = pinned_scopes(conn).get(task)
        if not unpin_scope(conn, task):
            raise bad_input(f"task {task!r} has no pinned scope", "tracks explain shows pins")
    return Pin(task, (), before)

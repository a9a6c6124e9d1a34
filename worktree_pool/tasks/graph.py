"""The task graph: tasks, the edges between them, and which tasks are ready.

A dependency `{target, kind}` of a task says that the task depends on `target`: for
`parent-child`, the target is the parent. Readiness follows `bd ready`: a task is ready when its
status is `open`, every target of its blocking edges (`blocks`, `conditional-blocks`,
`waits-for`) is closed, and no parent reached through `parent-child` is itself blocked. Other
edge types (`related`, `discovered-from`, ...) never block. A target that is not in the graph
blocks nothing; it is reported as dangling. A `tombstone` (a deleted issue) counts as closed.

Only work is ever ready, as in `bd ready`: epics are containers, and Beads keeps its own
machinery in the same table (agents, roles, rigs, messages, molecules, gates, merge requests,
convoys), plus ephemeral issues ("wisps") that no one is meant to pick up. Every status other
than `open` (`in_progress`, `blocked`, `deferred`, `hooked`, `pinned`, `closed`, `tombstone`,
and any a newer Beads adds) is not ready.

A task the merge queue landed is closed for readiness whatever its source says, until the
source agrees (`with_landed`): without `bd` installed nothing else tells the source, and spawn
would start finished work again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

BLOCKING_EDGES = frozenset({"blocks", "conditional-blocks", "waits-for"})
PARENT_EDGE = "parent-child"
DONE_STATUSES = frozenset({"closed", "tombstone"})
CLOSED = "closed"
# The one status that can be ready: an allow-list, so a status a newer Beads invents is not
# taken for work.
READY_STATUS = "open"
# Issue types that are not work, as `bd ready` leaves them out.
NOT_WORK_TYPES = frozenset(
    {"epic", "agent", "role", "rig", "message", "molecule", "gate", "merge-request", "convoy"}
)


@dataclass(frozen=True)
class Dependency:
    target: str
    kind: str


@dataclass(frozen=True)
class Task:
    id: str
    title: str
    status: str
    priority: int  # 0 is the most urgent, as in Beads
    issue_type: str = "task"
    description: str = ""
    design: str = ""
    notes: str = ""
    acceptance_criteria: str = ""
    labels: tuple[str, ...] = ()
    dependencies: tuple[Dependency, ...] = ()
    files: tuple[str, ...] | None = None  # metadata.files (Beads) or files (YAML)
    created_at: datetime | None = None
    ephemeral: bool = False  # a Beads wisp: short-lived, never work

    @property
    def done(self) -> bool:
        return self.status in DONE_STATUSES

    @property
    def work(self) -> bool:
        """Whether the task is something an agent could be given, whatever its status."""
        return self.issue_type not in NOT_WORK_TYPES and not self.ephemeral

    @property
    def parents(self) -> tuple[str, ...]:
        return tuple(d.target for d in self.dependencies if d.kind == PARENT_EDGE)


@dataclass(frozen=True)
class TaskGraph:
    source: str
    tasks: dict[str, Task]
    warnings: list[str] = field(default_factory=list)  # lines skipped with --lenient
    # Tasks the merge queue landed that the source does not yet call closed: task -> commit.
    landed: dict[str, str] = field(default_factory=dict)

    def dangling(self) -> list[tuple[str, Dependency]]:
        """Dependencies on ids the file does not contain: (task, dependency)."""
        return [
            (task.id, dep)
            for task in self.tasks.values()
            for dep in task.dependencies
            if dep.target not in self.tasks
        ]

    def blocked(self, task_id: str) -> bool:
        return _blocked(self.tasks, task_id, set())

    def ready(self) -> list[str]:
        return [
            task.id
            for task in self.tasks.values()
            if task.status == READY_STATUS and task.work and not self.blocked(task.id)
        ]

    def with_landed(self, landed: Mapping[str, str]) -> TaskGraph:
        """This graph with every task in `landed` (task -> the commit that landed it) closed;
        the ones the source does not call done yet are kept in `landed`. Ids the graph lacks
        are ignored: a task removed from the source, or a slot acquired by hand."""
        pending = {
            task_id: commit
            for task_id, commit in landed.items()
            if task_id in self.tasks and not self.tasks[task_id].done
        }
        tasks = {
            task_id: replace(task, status=CLOSED) if task_id in pending else task
            for task_id, task in self.tasks.items()
        }
        ordered = {task_id: pending[task_id] for task_id in self.tasks if task_id in pending}
        return TaskGraph(self.source, tasks, list(self.warnings), {**self.landed, **ordered})


def _blocked(tasks: dict[str, Task], task_id: str, visiting: set[str]) -> bool:
    task = tasks.get(task_id)
    if task is None or task_id in visiting:  # dangling, or a parent cycle: no further blocker
        return False
    visiting.add(task_id)
    for dep in task.dependencies:
        target = tasks.get(dep.target)
        if dep.kind in BLOCKING_EDGES and target is not None and not target.done:
            return True
        if dep.kind == PARENT_EDGE and _blocked(tasks, dep.target, visiting):
            return True
    return False

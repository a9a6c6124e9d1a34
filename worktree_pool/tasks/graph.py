"""The task graph: tasks, the edges between them, and which tasks are ready.

A dependency `{target, kind}` of a task says that the task depends on `target`: for
`parent-child`, the target is the parent. Readiness follows `bd ready`: a task is ready when its
status is `open`, every target of its blocking edges (`blocks`, `conditional-blocks`,
`waits-for`) is closed, and no parent reached through `parent-child` is itself blocked. Other
edge types (`related`, `discovered-from`, ...) never block. Epics are containers, not work. A
target that is not in the graph blocks nothing; it is reported as dangling. A `tombstone` (a
deleted issue) counts as closed and is not work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

BLOCKING_EDGES = frozenset({"blocks", "conditional-blocks", "waits-for"})
PARENT_EDGE = "parent-child"
DONE_STATUSES = frozenset({"closed", "tombstone"})


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

    @property
    def done(self) -> bool:
        return self.status in DONE_STATUSES

    @property
    def parents(self) -> tuple[str, ...]:
        return tuple(d.target for d in self.dependencies if d.kind == PARENT_EDGE)


@dataclass(frozen=True)
class TaskGraph:
    source: str
    tasks: dict[str, Task]
    warnings: list[str] = field(default_factory=list)  # lines skipped with --lenient

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
            if task.status == "open" and task.issue_type != "epic" and not self.blocked(task.id)
        ]


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

"""Tracks (connected components of unfinished work) and where each task's scope comes from."""

from __future__ import annotations

import pytest

from tests.tasks.test_graph import FIXTURES, needs_fixtures
from worktree_pool.config.settings import ScopeRule
from worktree_pool.tasks.graph import Dependency, Task, TaskGraph
from worktree_pool.tasks.sources import read_beads
from worktree_pool.tasks.tracks import WORK_EDGES, Scoping, find_tracks, task_scope


def _task(
    id: str, *deps: tuple[str, str], status: str = "open", priority: int = 2, **extra: object
) -> Task:
    return Task(
        id=id,
        title=extra.pop("title", id),
        status=status,
        priority=priority,
        dependencies=tuple(Dependency(t, k) for k, t in deps),
        **extra,
    )


def _graph(*tasks: Task) -> TaskGraph:
    return TaskGraph("test", {t.id: t for t in tasks})


def test_tracks_split_unfinished_work_into_independent_ordered_streams() -> None:
    graph = _graph(
        _task("db-2", ("blocks", "db-1")),
        _task("db-1", priority=3),
        _task("db-3", ("parent-child", "db-1"), ("related", "ui-1")),  # related does not join
        _task("ui-1", priority=1, files=("src/ui/",)),
        _task("done", status="closed"),
        _task("after-done", ("blocks", "done"), labels=("scope:docs/",)),
    )
    tracks = find_tracks(graph)
    assert [t.id for t in tracks] == ["track:ui-1", "track:after-done", "track:db-1"]
    ui, docs, db = tracks
    assert db.tasks == ("db-1", "db-2", "db-3")  # what a task depends on comes first
    # db-3's parent is open but not blocked, so db-3 is ready too (bd ready's rule).
    assert db.ready == ("db-1", "db-3") and db.priority == 2
    assert ui.priority == 1 and ui.scope == ("src/ui/",)
    assert docs.tasks == ("after-done",) and docs.ready == ("after-done",)
    assert docs.scopes["after-done"].source == "labels" and docs.scope == ("docs/",)
    assert db.scope == ("**",) and db.scopes["db-1"].source == "default_files"


def test_a_dependency_cycle_still_orders_every_task() -> None:
    graph = _graph(
        _task("b", ("blocks", "a")), _task("a", ("blocks", "b")), _task("c", ("blocks", "b"))
    )
    (track,) = find_tracks(graph)
    assert track.tasks == ("a", "b", "c")


@pytest.mark.parametrize(
    ("task", "patterns", "source"),
    [
        (_task("t", files=("src/a/",), labels=("files:x/",)), ("src/a/",), "metadata.files"),
        (
            _task("t", labels=("files:src/b/", "scope:docs/*.md", "bug")),
            ("src/b/", "docs/*.md"),
            "labels",
        ),
        (
            _task("t", description="Do it.\n\nFiles: `src/c.py`, tests/test_c.py\n"),
            ("src/c.py", "tests/test_c.py"),
            "description",
        ),
        (
            _task("t", description="## Files\n- `src/d/`\n- src/e.py\n\n## Notes\n- not/a/file\n"),
            ("src/d/", "src/e.py"),
            "description",
        ),
        (_task("t", title="Fix the login page"), ("web/login/",), "scope_rules"),
        (_task("t", title="Something else"), ("**",), "default_files"),
    ],
)
def test_a_tasks_scope_comes_from_the_first_source_that_has_one(
    task: Task, patterns: tuple[str, ...], source: str
) -> None:
    rules = (ScopeRule(match=r"(?i)login", files=("web/login/",)),)
    scope = task_scope(task, Scoping(rules))
    assert (scope.patterns, scope.source) == (patterns, source)


@needs_fixtures
@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.jsonl")) or ["none"])
def test_tracks_of_real_exports_partition_the_work_and_share_no_edge(name: str) -> None:
    graph = read_beads(FIXTURES / name)
    tracks = find_tracks(graph)
    owner = {task: track.id for track in tracks for task in track.tasks}
    unfinished = {t.id for t in graph.tasks.values() if not t.done}
    assert sorted(owner) == sorted(unfinished)  # every unfinished task, exactly once
    assert sum(len(t.tasks) for t in tracks) == len(unfinished)
    for task in unfinished:
        for dep in graph.tasks[task].dependencies:
            if dep.kind in WORK_EDGES and dep.target in owner:
                assert owner[dep.target] == owner[task]
    assert set().union(*(t.ready for t in tracks)) == set(graph.ready())
    assert [(t.priority, t.id) for t in tracks] == sorted((t.priority, t.id) for t in tracks)


def test_an_epic_without_files_does_not_widen_its_tracks_scope() -> None:
    graph = _graph(
        _task("epic", issue_type="epic"),
        _task("child-a", ("parent-child", "epic"), files=("src/a/",)),
        _task("child-b", ("parent-child", "epic"), files=("src/b/",)),
        _task("scoped-epic", issue_type="epic", files=("docs/",)),
        _task("docs-child", ("parent-child", "scoped-epic"), files=("docs/api/",)),
    )
    tracks = {track.id: track for track in find_tracks(graph)}
    assert tracks["track:child-a"].scope == ("src/a/", "src/b/")
    assert tracks["track:docs-child"].scope == ("docs/", "docs/api/")  # its files count

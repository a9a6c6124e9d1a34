"""The pick spawn makes: on generated graphs, and on the real Beads exports."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.tasks.test_graph import FIXTURES, needs_fixtures
from worktree_pool.config.settings import Mode, ScopeRule
from worktree_pool.scope import guard
from worktree_pool.scope.overlap import scopes_overlap
from worktree_pool.scope.patterns import compile_rules
from worktree_pool.tasks.graph import Dependency, Task, TaskGraph
from worktree_pool.tasks.selection import Occupant, SkipKind, select, slot_scope
from worktree_pool.tasks.sources import read_beads
from worktree_pool.tasks.tracks import WORK_EDGES, Scoping, Track, find_tracks

PATTERNS = ["a/", "b/", "a/x.py", "b/*.md", "*.md", "c/**/y.py", "a/*/z.py", "**"]
PATHS = [
    "a/x.py",
    "a/q/z.py",
    "b/r.md",
    "b/s.py",
    "top.md",
    "c/y.py",
    "c/d/y.py",
    "e/f.txt",
]


def _touch_same_path(first: tuple[str, ...] | None, second: tuple[str, ...] | None) -> bool:
    """Brute force over a fixed path set: enough to refute a claimed non-overlap here."""
    rules = [guard.compiled(compile_rules(s or ("**",))) for s in (first, second)]
    return any(all(guard.allows(r, path) for r in rules) for path in PATHS)


def _matches(scope: tuple[str, ...] | None, path: str) -> bool:
    return guard.allows(guard.compiled(compile_rules(scope or ("**",))), path)


@st.composite
def graphs(draw: st.DrawFn) -> TaskGraph:
    count = draw(st.integers(1, 9))
    ids = [f"t{i}" for i in range(count)]
    tasks = {}
    for index, task_id in enumerate(ids):
        targets = draw(st.lists(st.sampled_from(ids[:index] or ids), max_size=2, unique=True))
        kinds = draw(
            st.lists(
                st.sampled_from(["blocks", "parent-child", "related", "waits-for"]),
                min_size=len(targets),
                max_size=len(targets),
            )
        )
        tasks[task_id] = Task(
            id=task_id,
            title=task_id,
            status=draw(st.sampled_from(["open", "open", "open", "in_progress", "closed"])),
            priority=draw(st.integers(0, 3)),
            dependencies=tuple(
                Dependency(t, k) for t, k in zip(targets, kinds, strict=True) if t != task_id
            ),
            files=tuple(draw(st.lists(st.sampled_from(PATTERNS), min_size=1, max_size=2))),
        )
    return TaskGraph("generated", tasks)


def _connected(graph: TaskGraph, first: Track, second: Track) -> bool:
    return any(
        dep.kind in WORK_EDGES and dep.target in second.tasks
        for task in first.tasks
        for dep in graph.tasks[task].dependencies
    ) or any(
        dep.kind in WORK_EDGES and dep.target in first.tasks
        for task in second.tasks
        for dep in graph.tasks[task].dependencies
    )


@settings(max_examples=150)
@given(graphs(), st.integers(1, 5), st.sampled_from([None, ("a/",), ("e/",)]))
def test_independent_picks_are_ready_disjoint_unconnected_and_in_priority_order(
    graph: TaskGraph, count: int, busy: tuple[str, ...] | None
) -> None:
    tracks = find_tracks(graph)
    others = [Occupant("pool-wt-1", "someone", "elsewhere", "track:elsewhere", busy)]
    chosen = select(tracks, others, count, Mode.INDEPENDENT)
    picks = [pick.track for pick in chosen.picks]
    assert len(picks) <= count
    for pick in chosen.picks:
        assert pick.task == pick.track.ready[0]
        assert not _touch_same_path(slot_scope(pick.track), busy)
    for first, second in itertools.combinations(picks, 2):
        assert not _touch_same_path(slot_scope(first), slot_scope(second))
        assert not _connected(graph, first, second)
    # Nothing better was passed over: each track skipped for overlap names a path that it and
    # the busy slot or an earlier pick really both match.
    considered = {skip.track: skip for skip in chosen.skipped}
    for track in tracks:
        skip = considered.get(track.id)
        if skip is None:
            continue
        if skip.kind == SkipKind.BLOCKED:
            assert not track.ready
        if skip.kind == SkipKind.OVERLAP:
            # A path both match, or, where the scopes leave the name open, a pattern (`src/*`).
            example = (skip.reason.rsplit("e.g. at ", 1)[1],)
            earlier = [p for p in picks if (p.priority, p.id) < (track.priority, track.id)]
            assert scopes_overlap(example, slot_scope(track) or ("**",))
            others = [busy, *(slot_scope(p) for p in earlier)]
            assert any(scopes_overlap(example, s or ("**",)) for s in others)
    assert [(t.priority, t.id) for t in picks] == sorted((t.priority, t.id) for t in picks)


def test_all_mode_ignores_overlap_but_says_so() -> None:
    graph = TaskGraph(
        "t",
        {
            "a": Task("a", "a", "open", 1, files=("src/",)),
            "b": Task("b", "b", "open", 2, files=("src/x.py",)),
        },
    )
    chosen = select(find_tracks(graph), [], 2, Mode.ALL)
    assert [p.task for p in chosen.picks] == ["a", "b"]
    assert chosen.warnings == ["track:b and track:a may both change src/x.py"]


# Scopes for the real exports, which name no files: by words in the title, as a user would.
RULES = (
    ScopeRule(r"(?i)\btests?\b", ("tests/",)),
    ScopeRule(r"(?i)\bdocs?\b|readme", ("docs/", "*.md")),
    ScopeRule(r"(?i)\bcli\b|command", ("cmd/",)),
    ScopeRule(r"(?i)\bapi\b|server", ("internal/api/", "internal/server/")),
    ScopeRule(r"(?i)\bui\b|dashboard|web", ("web/",)),
    ScopeRule(r"(?i)\bconfig", ("internal/config/", "*.yaml")),
)


@needs_fixtures
@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.jsonl")) or ["none"])
def test_recommended_tracks_of_real_exports_are_disjoint_and_unconnected(name: str) -> None:
    graph = read_beads(FIXTURES / name)
    tracks = find_tracks(graph, Scoping(RULES, ("src/**",)))
    chosen = select(tracks, [], None, Mode.INDEPENDENT)
    picks = [pick.track for pick in chosen.picks]
    assert picks, "every export has ready work"
    for first, second in itertools.combinations(picks, 2):
        assert scopes_overlap(first.scope, second.scope) is None
        assert not _connected(graph, first, second)
    assert all(pick.track.ready for pick in chosen.picks)

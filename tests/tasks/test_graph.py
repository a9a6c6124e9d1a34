"""Reading task graphs (Beads exports, YAML) and readiness as `bd ready` defines it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from worktree_pool.config.settings import Mode
from worktree_pool.errors import ExitCode, WtpoolError
from worktree_pool.tasks.selection import select
from worktree_pool.tasks.sources import read_beads, read_yaml_tasks
from worktree_pool.tasks.tracks import find_tracks

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "beads"
EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "tasks.example.yaml"
needs_fixtures = pytest.mark.skipif(
    not FIXTURES.is_dir(), reason=f"the shared Beads exports are not at {FIXTURES}"
)


def _reference_ready(records: list[dict]) -> set[str]:
    """An independent reading of `bd ready`: blocked is a fixpoint over parents, not a walk."""
    by_id = {r["id"]: r for r in records}

    def deps(r: dict, kinds: set[str]) -> list[str]:
        ids = [d["depends_on_id"] for d in r.get("dependencies") or () if d.get("type") in kinds]
        if "parent-child" in kinds and r.get("parent"):
            ids.append(r["parent"])
        return ids

    blocked = {
        r["id"]
        for r in records
        if any(
            t in by_id and by_id[t]["status"] not in ("closed", "tombstone")
            for t in deps(r, {"blocks", "conditional-blocks", "waits-for"})
        )
    }
    changed = True
    while changed:
        changed = False
        for r in records:
            if r["id"] not in blocked and any(p in blocked for p in deps(r, {"parent-child"})):
                blocked.add(r["id"])
                changed = True
    not_work = {"epic", "agent", "role", "rig", "message", "molecule", "gate", "merge-request"}
    return {
        r["id"]
        for r in records
        if r.get("status") == "open"
        and r.get("issue_type") not in not_work | {"convoy"}
        and not r.get("ephemeral")
        and r["id"] not in blocked
    }


@needs_fixtures
@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.jsonl")) or ["none"])
def test_readiness_on_real_exports_matches_an_independent_reading(name: str) -> None:
    path = FIXTURES / name
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    graph = read_beads(path)
    assert len(graph.tasks) == len(records)
    assert set(graph.ready()) == _reference_ready(records)
    assert graph.ready(), "every export has some ready work"


@needs_fixtures
def test_the_open_agent_issues_of_the_beads_repository_are_not_ready() -> None:
    """Beads' own repository keeps nine open `agent` issues (its polecats) in its export; they
    were once offered as ready work."""
    graph = read_beads(FIXTURES / "beads_steveyegge_beads.jsonl")
    agents = [t.id for t in graph.tasks.values() if t.issue_type == "agent" and t.status == "open"]
    assert len(agents) == 9
    ready = set(graph.ready())
    assert ready.isdisjoint(agents)
    assert all(graph.tasks[t].work and graph.tasks[t].status == "open" for t in ready)
    assert "bd-1lc" in ready  # a plain task still is
    wisps = [t for t in graph.tasks.values() if t.ephemeral and t.status == "open"]
    assert wisps and ready.isdisjoint(t.id for t in wisps)
    # Nor do they make a track that spawn would start.
    picks = select(find_tracks(graph), [], None, Mode.ALL).picks
    assert picks and {pick.task for pick in picks} <= ready


@needs_fixtures
def test_dependencies_on_missing_ids_are_reported_and_block_nothing() -> None:
    graph = read_beads(FIXTURES / "beads_steveyegge_beads.jsonl")
    dangling = graph.dangling()
    assert len(dangling) == 30  # SOURCES.md: 30 edges point to ids not in the file
    blocked_only_by_missing = [
        task
        for task, dep in dangling
        if graph.tasks[task].status == "open"
        and all(d.target not in graph.tasks for d in graph.tasks[task].dependencies)
    ]
    assert blocked_only_by_missing
    assert not any(graph.blocked(task) for task in blocked_only_by_missing)
    work = {task for task in blocked_only_by_missing if graph.tasks[task].work}
    assert work <= set(graph.ready())


def _write(tmp_path: Path, *records: dict | str) -> Path:
    path = tmp_path / "issues.jsonl"
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    path.write_text("\n".join(lines) + "\n")
    return path


def _issue(id: str, status: str = "open", deps: tuple = (), **extra: object) -> dict:
    dependencies = [{"issue_id": id, "depends_on_id": t, "type": k} for k, t in deps]
    return {
        "id": id,
        "title": id,
        "status": status,
        "priority": 2,
        "issue_type": "task",
        "dependencies": dependencies,
        **extra,
    }


def test_readiness_follows_bd_ready(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        _issue("open-blocker"),
        _issue("closed-blocker", "closed"),
        _issue("blocked", deps=(("blocks", "open-blocker"),)),
        _issue("waits", deps=(("waits-for", "open-blocker"),)),
        _issue("unblocked", deps=(("blocks", "closed-blocker"),)),
        _issue("related-only", deps=(("related", "open-blocker"), ("discovered-from", "blocked"))),
        _issue("epic", issue_type="epic", deps=(("blocks", "open-blocker"),)),
        _issue("child-of-blocked-epic", deps=(("parent-child", "epic"),)),
        _issue("grandchild", deps=(("parent-child", "child-of-blocked-epic"),)),
        _issue("busy", "in_progress"),
        _issue("missing-target", deps=(("blocks", "not-in-file"),)),
        _issue("deleted", "tombstone"),
        _issue("after-deleted", deps=(("blocks", "deleted"),)),
    )
    graph = read_beads(path)
    assert graph.ready() == [
        "open-blocker",
        "unblocked",
        "related-only",
        "missing-target",
        "after-deleted",
    ]
    assert [(task, dep.target) for task, dep in graph.dangling()] == [
        ("missing-target", "not-in-file")
    ]


@pytest.mark.parametrize(
    "issue_type",
    ["epic", "agent", "role", "rig", "message", "molecule", "gate", "merge-request", "convoy"],
)
def test_issues_that_are_not_work_are_never_ready(tmp_path: Path, issue_type: str) -> None:
    path = _write(tmp_path, _issue("machinery", issue_type=issue_type), _issue("work"))
    graph = read_beads(path)
    assert not graph.tasks["machinery"].work
    assert graph.ready() == ["work"]


@pytest.mark.parametrize(
    "status",
    ["in_progress", "blocked", "deferred", "hooked", "pinned", "closed", "tombstone", "new"],
)
def test_only_the_open_status_is_ready(tmp_path: Path, status: str) -> None:
    graph = read_beads(_write(tmp_path, _issue("other", status), _issue("work")))
    assert graph.ready() == ["work"]


def test_ephemeral_issues_are_not_work(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        _issue("wisp", ephemeral=True),
        _issue("unset", ephemeral=None),
        _issue("kept", ephemeral=False),
        _issue("chore", issue_type="chore"),  # any type not named is work
    )
    graph = read_beads(path)
    assert graph.tasks["wisp"].ephemeral and not graph.tasks["wisp"].work
    assert graph.ready() == ["unset", "kept", "chore"]


def test_a_landed_task_is_closed_until_the_source_agrees(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        _issue("landed"),
        _issue("waits", deps=(("blocks", "landed"),)),
        _issue("busy", "in_progress"),
        _issue("done", "closed"),
    )
    graph = read_beads(path)
    assert graph.ready() == ["landed"]
    applied = graph.with_landed({"landed": "c1", "busy": "c2", "done": "c3", "gone": "c4"})
    assert applied.ready() == ["waits"]  # what it blocked is free now
    assert applied.tasks["landed"].status == "closed" and applied.tasks["busy"].done
    assert applied.landed == {"landed": "c1", "busy": "c2"}  # done and gone need no mention
    assert graph.tasks["landed"].status == "open" and graph.landed == {}  # a new graph


def test_both_export_layouts_timestamps_and_unknown_fields(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        {
            **_issue("new-layout"),
            "_type": "issue",
            "created_at": "2026-02-18T02:42:07.405631308+10:00",
        },
        {"_type": "memory", "id": "not-a-task", "text": "skipped"},
        {**_issue("old-layout"), "created_at": "2026-01-19T16:32:24Z", "some_future_field": [1]},
        {**_issue("no-fraction"), "created_at": "2026-01-19T16:32:24-05:00"},
        {**_issue("scoped"), "metadata": json.dumps({"files": ["src/api/"]})},
    )
    graph = read_beads(path)
    assert list(graph.tasks) == ["new-layout", "old-layout", "no-fraction", "scoped"]
    assert graph.tasks["new-layout"].created_at.utcoffset().total_seconds() == 36000
    assert graph.tasks["scoped"].files == ("src/api/",)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("{not json", "Expecting property name"),
        ('["a", "list"]', "must hold a JSON object"),
        ('{"title": "no id"}', "missing field 'id'"),
        ('{"id": "x", "priority": "high"}', "priority must be an integer"),
        ('{"id": "x", "created_at": "yesterday"}', "not an RFC 3339 timestamp"),
        ('{"id": "x", "ephemeral": "yes"}', "ephemeral must be true or false"),
    ],
)
def test_a_malformed_line_names_the_file_and_line_unless_lenient(
    tmp_path: Path, line: str, reason: str
) -> None:
    path = _write(tmp_path, _issue("fine"), line, _issue("also-fine"))
    with pytest.raises(WtpoolError) as caught:
        read_beads(path)
    assert caught.value.code == ExitCode.USAGE
    assert caught.value.message.startswith(f"{path}:2: malformed task record")
    assert reason in caught.value.message
    lenient = read_beads(path, lenient=True)
    assert list(lenient.tasks) == ["fine", "also-fine"]
    assert len(lenient.warnings) == 1 and f"{path}:2:" in lenient.warnings[0]


def test_the_example_yaml_task_file_reads(tmp_path: Path) -> None:
    graph = read_yaml_tasks(EXAMPLE)
    assert list(graph.tasks) == ["api-auth", "api-rate-limit", "docs-quickstart"]
    assert graph.tasks["api-auth"].files == ("src/api/auth/", "tests/api/test_auth.py")
    assert graph.ready() == ["api-auth", "docs-quickstart"]  # rate-limit waits for auth


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("tasks: [\n", "invalid YAML at line"),
        ("jobs: []\n", "expected a mapping with a `tasks` list"),
        ("tasks:\n  - title: no id\n", "task 1: missing field 'id'"),
        ("tasks:\n  - id: a\n  - id: a\n", "id 'a' is given twice"),
        ("tasks:\n  - id: a\n    depends_on: b\n", "must be lists"),
    ],
)
def test_bad_yaml_task_files_are_refused(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "tasks.yaml"
    path.write_text(text)
    with pytest.raises(WtpoolError, match=fragment.replace("`", ".").replace("(", r"\(")):
        read_yaml_tasks(path)

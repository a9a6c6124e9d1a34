"""The landed-task ledger and pinned scopes: the store functions, and the ledger end to end.

A task the merge queue lands stays finished: readiness treats it as closed until its source
says so, so spawn and `tracks recommend` do not offer it again, even with no `bd` installed to
close it in Beads; `tracks analyze` lists it as landed, not yet closed in the source.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import Pool, git, wtpool, wtpool_json
from worktree_pool.store.tasks import (
    landed_tasks,
    pin_scope,
    pinned_scopes,
    record_landed,
    unpin_scope,
)


def test_landed_tasks_keep_the_newest_commit(pool: Pool) -> None:
    with pool.store() as store:
        with store.transaction() as conn:
            assert landed_tasks(conn) == {}
            record_landed(conn, "b-2", "c" * 40)
            record_landed(conn, "a-1", "a" * 40)
            record_landed(conn, "b-2", "d" * 40)  # landed again
        with store.snapshot() as conn:
            assert landed_tasks(conn) == {"a-1": "a" * 40, "b-2": "d" * 40}


def test_a_pinned_scope_replaces_the_last_and_can_be_dropped(pool: Pool) -> None:
    with pool.store() as store:
        with store.transaction() as conn:
            pin_scope(conn, "t-1", ["src/api/", "!src/api/vendor/"])
            pin_scope(conn, "t-2", ["docs/"])
            pin_scope(conn, "t-1", ("src/",))
        with store.snapshot() as conn:
            assert pinned_scopes(conn) == {"t-1": ("src/",), "t-2": ("docs/",)}
        with store.transaction() as conn:
            assert unpin_scope(conn, "t-1") is True
            assert unpin_scope(conn, "t-1") is False
            assert unpin_scope(conn, "never") is False
        with store.snapshot() as conn:
            assert pinned_scopes(conn) == {"t-2": ("docs/",)}


def _issue(task: str, title: str, status: str = "open") -> str:
    record = {"id": task, "title": title, "status": status, "priority": 2, "issue_type": "task"}
    return json.dumps(record) + "\n"


@pytest.fixture
def no_bd() -> dict[str, str]:
    """A PATH with no `bd` on it, as for most users: nothing closes a task in Beads."""
    kept = [d for d in os.environ["PATH"].split(os.pathsep) if not (Path(d) / "bd").exists()]
    path = os.pathsep.join(kept)
    assert shutil.which("bd", path=path) is None
    return {"PATH": path}


def test_a_landed_task_is_not_offered_again_without_bd(pool: Pool, no_bd: dict) -> None:
    (pool.root / ".beads").mkdir()
    export = pool.root / ".beads" / "issues.jsonl"
    export.write_text(_issue("bd-1", "First") + _issue("bd-2", "Second"))
    spawned = wtpool(pool.root, "spawn", "1", "--json", env=no_bd)
    assert spawned.returncode == 0, spawned.stderr
    slot = Path(json.loads(spawned.stdout)["spawned"][0]["path"])
    (slot / "src" / "first.py").write_text("done = True\n")
    git(slot, "add", "src/first.py")
    git(slot, "commit", "--quiet", "--no-verify", "-m", "bd-1: the work")

    merged = wtpool(pool.root, "merge", "bd-1", "--wait", "--release", "--json", env=no_bd)
    assert merged.returncode == 0, merged.stderr
    entry = json.loads(merged.stdout)["entry"]
    assert entry["state"] == "merged"
    assert any("bd is not installed" in note for note in entry["notes"])

    picks = wtpool_json(pool.root, "tracks", "recommend")["picks"]
    assert [pick["task"] for pick in picks] == ["bd-2"]
    again = wtpool(pool.root, "spawn", "2", "--json", env=no_bd)
    assert again.returncode == 0, again.stderr
    assert [s["task"] for s in json.loads(again.stdout)["spawned"]] == ["bd-2"]
    # Asked for by name, a landed task may be a follow-up: taken, with a warning.
    named = wtpool(pool.root, "acquire", "--agent", "later", "--task", "bd-1", "--json", env=no_bd)
    assert named.returncode == 0, named.stderr
    (warning,) = json.loads(named.stdout)["warnings"]
    assert warning.startswith(f"task bd-1 already landed (in {entry['landed'][:12]})")
    assert wtpool(pool.root, "release", "--json", json.loads(named.stdout)["slot"]).returncode == 0

    analysis = wtpool_json(pool.root, "tracks", "analyze")
    assert analysis["landed_not_closed"] == [
        {"id": "bd-1", "title": "First", "commit": entry["landed"]}
    ]
    assert analysis["ready"] == 1  # bd-2, spawned but still open in the source
    shown = wtpool(pool.root, "tracks", "analyze")
    assert "1 landed, not yet closed in the source" in shown.stdout
    assert "bd-1 First" in shown.stdout

    # Once the source agrees, the ledger has nothing more to say, and the source decides:
    # a task reopened there is work again.
    export.write_text(_issue("bd-1", "First", "closed") + _issue("bd-2", "Second"))
    assert wtpool_json(pool.root, "tracks", "analyze")["landed_not_closed"] == []
    with pool.store() as store, store.snapshot() as conn:
        assert landed_tasks(conn) == {}
    export.write_text(_issue("bd-1", "First") + _issue("bd-2", "Second"))
    reopened = wtpool_json(pool.root, "tracks", "analyze")
    assert reopened["ready"] == 2 and reopened["landed_not_closed"] == []


def test_a_repository_without_a_pool_reads_the_source_alone(repo: Path) -> None:
    (repo / ".beads").mkdir()
    (repo / ".beads" / "issues.jsonl").write_text(_issue("bd-1", "First"))
    analysis = wtpool_json(repo, "tracks", "analyze")
    assert analysis["ready"] == 1 and analysis["landed_not_closed"] == []

"""A task id must be one the task source has: acquire, assign and merge check it the same way,
with a did-you-mean hint, and `acquire --adhoc` takes a task that is in no source."""

from __future__ import annotations

import json

import pytest

from tests.conftest import Pool, assert_one_line_error, git, snapshot, wtpool, wtpool_json


def _issue(task: str) -> str:
    return json.dumps({"id": task, "title": f"title of {task}", "status": "open", "priority": 2})


@pytest.fixture
def beads(pool: Pool) -> Pool:
    export = pool.root / ".beads" / "issues.jsonl"
    export.parent.mkdir()
    export.write_text("".join(f"{_issue(t)}\n" for t in ("bd-12", "bd-13", "bd-400")))
    return pool


@pytest.mark.parametrize(
    "command",
    [
        ["acquire", "--agent", "a", "--task", "bd-4000"],
        ["assign", "a", "bd-4000"],
        ["merge", "bd-4000"],
    ],
)
def test_an_unknown_task_id_is_refused_with_the_nearest_ids(
    beads: Pool, command: list[str]
) -> None:
    before = snapshot(beads.root)
    result = wtpool(beads.root, *command)
    assert_one_line_error(result, 2, "no task 'bd-4000' in")
    assert "hint: did you mean bd-400? " in result.stderr
    assert snapshot(beads.root) == before
    assert git(beads.root, "branch", "--list", "wtpool/*") == ""


def test_acquire_hints_at_adhoc_and_adhoc_takes_a_task_in_no_source(beads: Pool) -> None:
    refused = wtpool(beads.root, "acquire", "--agent", "a", "--task", "scratch-work")
    assert_one_line_error(refused, 2, "no task 'scratch-work'")
    assert "pass --adhoc" in refused.stderr
    claim = wtpool_json(beads.root, "acquire", "--agent", "a", "--task", "scratch-work", "--adhoc")
    assert claim["branch"] == "wtpool/task/scratch-work"


def test_a_known_task_is_acquired_and_adhoc_needs_a_task(beads: Pool) -> None:
    assert wtpool_json(beads.root, "acquire", "--agent", "a", "--task", "bd-12")["slot"]
    assert_one_line_error(wtpool(beads.root, "acquire", "--agent", "b", "--adhoc"), 2, "--adhoc")


def test_without_a_task_source_any_task_id_is_taken(pool: Pool) -> None:
    claim = wtpool_json(pool.root, "acquire", "--agent", "a", "--task", "anything-1")
    assert claim["branch"] == "wtpool/task/anything-1"


def test_a_configured_source_that_is_missing_is_an_error_not_no_source(pool: Pool) -> None:
    (pool.root / "wtpool.yaml").write_text("tasks:\n  source: yaml\n")
    result = wtpool(pool.root, "acquire", "--agent", "a", "--task", "t1")
    assert_one_line_error(result, 2, "no task file")
    assert wtpool_json(pool.root, "acquire", "--agent", "a", "--task", "t1", "--adhoc")["slot"]

"""A landed task closed in its tracked YAML task file by the landing commit itself, through the
real CLI: the main worktree stays clean, every strategy carries the edit, and an edit that
cannot be made never costs the landing. An untracked task file is edited in place."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import FILES, Pool, git, make_pool, make_repo, wtpool, wtpool_json
from worktree_pool.store.tasks import landed_tasks

TASKS = "# our tasks\ntasks:\n  - id: t-1  # the first\n    title: One\n  - {id: t-2, title: Two}\n"
CONFIG = "tasks:\n  source: yaml\n"


def _tracked_pool(tmp_path: Path, config: str = CONFIG, tasks: str = TASKS) -> Pool:
    root = make_repo(tmp_path / "repo", {**FILES, "tasks.yaml": tasks, "wtpool.yaml": config})
    return make_pool(root)


def _work(pool: Pool, task: str, name: str, *options: str) -> None:
    claimed = wtpool_json(pool.root, "acquire", "--agent", f"a-{task}", "--task", task, *options)
    slot = Path(claimed["path"])
    (slot / name).write_text(f"{task}\n")
    git(slot, "add", "--sparse", name)
    git(slot, "commit", "--quiet", "--no-verify", "-m", f"{task}: {name}")


def _merge(pool: Pool, target: str) -> dict:
    result = wtpool(pool.root, "merge", target, "--wait", "--json")
    assert result.returncode == 0, result.stderr
    entry = json.loads(result.stdout)["entry"]
    assert entry["state"] == "merged", entry
    return entry


@pytest.mark.parametrize("strategy", ["merge", "squash", "rebase"])
def test_a_tracked_task_file_is_closed_in_the_landing_commit(tmp_path: Path, strategy: str) -> None:
    pool = _tracked_pool(tmp_path, CONFIG + f"merge:\n  strategy: {strategy}\n")
    before = git(pool.root, "rev-parse", "main")
    _work(pool, "t-1", "src/one.py")
    entry = _merge(pool, "t-1")
    assert git(pool.root, "status", "--porcelain") == ""
    assert git(pool.root, "show", "HEAD:tasks.yaml") == (
        "# our tasks\ntasks:\n  - id: t-1  # the first\n    status: closed\n    title: One\n"
        "  - {id: t-2, title: Two}"
    )
    assert git(pool.root, "show", "HEAD:src/one.py") == "t-1"
    assert entry["landed"] == git(pool.root, "rev-parse", "main")
    assert any("closed in tasks.yaml in the landed commit" in n for n in entry["notes"])
    # The commit that carries the edit is the one that lands the work, made as before.
    subject = git(pool.root, "log", "-1", "--format=%s|%an|%cn", "main")
    expected = {
        "merge": "Merge wtpool/task/t-1 (task t-1) into main|wtpool|wtpool",
        "squash": "t-1: land wtpool/task/t-1|Test Author|wtpool",
        # the agent's commits are never rewritten: the edit is wtpool's, on top
        "rebase": "t-1: closed in tasks.yaml|wtpool|wtpool",
    }
    assert subject == expected[strategy]
    count = git(pool.root, "rev-list", "--count", f"{before}..main")
    assert count == ("1" if strategy == "squash" else "2")
    if strategy == "rebase":
        assert git(pool.root, "log", "-1", "--format=%s", "main~1") == "t-1: src/one.py"
    # And the next landing finds the worktree as clean.
    _work(pool, "t-2", "src/two.py")
    _merge(pool, "t-2")
    assert git(pool.root, "status", "--porcelain") == ""
    assert "{id: t-2, status: closed, title: Two}" in git(pool.root, "show", "HEAD:tasks.yaml")
    assert wtpool_json(pool.root, "tracks", "analyze")["landed_not_closed"] == []


def test_an_untracked_task_file_is_edited_in_place(pool: Pool) -> None:
    (pool.root / "tasks.yaml").write_text(TASKS)
    (pool.root / "wtpool.yaml").write_text(CONFIG)
    _work(pool, "t-1", "src/one.py")
    entry = _merge(pool, "t-1")
    assert any("marked task t-1 closed in" in note for note in entry["notes"])
    assert "status: closed" in (pool.root / "tasks.yaml").read_text()
    assert git(pool.root, "ls-tree", "--name-only", "main", "tasks.yaml") == ""
    assert git(pool.root, "status", "--porcelain", "--untracked-files=no") == ""


def test_a_local_change_to_the_task_file_does_not_cost_the_landing(tmp_path: Path) -> None:
    """The user's uncommitted edit of the tracked file would stop the base's checkout from
    following a commit that changes it: the work lands without the edit, which is then made
    in place, beside theirs."""
    pool = _tracked_pool(tmp_path)
    local = TASKS.replace("title: Two", "title: Two, priority: 1")
    (pool.root / "tasks.yaml").write_text(local)
    _work(pool, "t-1", "src/one.py")
    entry = _merge(pool, "t-1")
    assert git(pool.root, "show", "main:tasks.yaml") == TASKS.rstrip("\n")
    assert git(pool.root, "show", "main:src/one.py") == "t-1"
    assert any("has uncommitted changes to tasks.yaml" in n for n in entry["notes"])
    assert any("marked task t-1 closed in" in n for n in entry["notes"])
    assert (pool.root / "tasks.yaml").read_text() == local.replace(
        "# the first\n", "# the first\n    status: closed\n"
    )


def test_a_task_file_wtpool_cannot_edit_still_lands(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo", {**FILES, "wtpool.yaml": CONFIG})
    tasks = b"# caf\xe9, in Latin-1\ntasks:\n  - id: t-1\n"  # not UTF-8: not read, not edited
    (root / "tasks.yaml").write_bytes(tasks)
    git(root, "add", "tasks.yaml")
    git(root, "commit", "--quiet", "-m", "tasks")
    pool = make_pool(root)
    _work(pool, "t-1", "src/one.py", "--adhoc")  # the task file cannot be read
    entry = _merge(pool, "pool-wt-1")
    assert git(pool.root, "show", "main:src/one.py") == "t-1"
    shown = subprocess.run(["git", "show", "main:tasks.yaml"], cwd=root, capture_output=True)
    assert shown.stdout == tasks
    assert (root / "tasks.yaml").read_bytes() == tasks
    assert any("task t-1 was not marked done" in note for note in entry["notes"])
    # The ledger still knows it landed: it is not offered again.
    store = pool.store()
    with store.snapshot() as conn:
        assert landed_tasks(conn) == {"t-1": entry["landed"]}
    store.close()


def test_a_task_file_named_with_dot_slash_and_crlf_lines_is_closed_in_one_line(
    tmp_path: Path,
) -> None:
    """`tasks.path: ./tasks.yaml` is the same tracked file, and a CRLF file keeps its line
    endings: the landing commit changes exactly one line of it."""
    crlf = TASKS.replace("\n", "\r\n")
    pool = _tracked_pool(tmp_path, "tasks:\n  source: yaml\n  path: ./tasks.yaml\n", crlf)
    _work(pool, "t-1", "src/one.py")
    _merge(pool, "t-1")
    assert git(pool.root, "status", "--porcelain") == ""
    changed = git(pool.root, "diff", "--numstat", "HEAD~1", "HEAD", "--", "tasks.yaml")
    assert changed.split("\t")[:2] == ["1", "0"]
    landed = subprocess.run(
        ["git", "show", "HEAD:tasks.yaml"], cwd=pool.root, capture_output=True, check=True
    ).stdout
    first = "  - id: t-1  # the first\r\n"
    assert landed == crlf.replace(first, f"{first}    status: closed\r\n").encode()

"""Code identifiers in a task's text, and the files of the tree that hold them."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import git
from tests.tasks.inference.repos import new_repo
from worktree_pool.git.run import Git
from worktree_pool.tasks.inference.symbols import MAX_PER_TASK, files_containing, identifiers


def test_identifiers_are_told_from_prose_by_their_shape() -> None:
    text = "RunTick must call dryRun and next_retry_at; The Scheduler runs. Go_ is odd, a_b too."
    assert identifiers(text) == ["RunTick", "dryRun", "next_retry_at"]
    assert len(identifiers(" ".join(f"name_{n}" for n in range(500)))) == MAX_PER_TASK


def test_one_grep_finds_the_files_holding_each_identifier(tmp_path: Path) -> None:
    root = new_repo(
        tmp_path / "repo",
        {
            "internal/scheduler/tick.go": "func RunTick() {}\n",
            "internal/scheduler/other.go": "func RunTicker() {}\n",  # a longer word: no match
            "cmd/café/main.go": "x := next_retry_at\n",
            "tasks.yaml": "- title: RunTick next_retry_at\n",  # the task source
            "README.md": "nothing\n",
        },
    )
    (root / "blob.bin").write_bytes(b"\x00RunTick\x00")
    git(root, "add", "blob.bin")
    git(root, "commit", "--quiet", "-m", "binary")
    found = files_containing(
        Git(root, 60), "HEAD", ["RunTick", "next_retry_at", "NotThere"], skip=["tasks.yaml"]
    )
    # The task source holds every task's words and is not searched; a binary file holds no
    # code worth pointing at.
    assert found == {
        "RunTick": {"internal/scheduler/tick.go"},
        "next_retry_at": {"cmd/café/main.go"},
    }
    assert files_containing(Git(root, 60), "HEAD", []) == {}

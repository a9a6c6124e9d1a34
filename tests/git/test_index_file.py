"""The index's own record of its tree is read only when it is current, and status's quick look
at an idle slot reports what `git status` reports."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Pool, git, wtpool
from worktree_pool.git.index_file import sparse_index_tree
from worktree_pool.git.repo import git_dir_of


def _recorded(slot: Path) -> str | None:
    head_tree = git(slot, "rev-parse", "HEAD^{tree}")
    return sparse_index_tree(git_dir_of(slot) / "index", len(head_tree) // 2)


def test_an_idle_slot_s_sparse_index_records_head_s_tree(pool: Pool) -> None:
    slot = pool.slot(1)
    assert _recorded(slot) == git(slot, "rev-parse", "HEAD^{tree}")


def test_a_staged_change_makes_the_record_stale(pool: Pool) -> None:
    slot = pool.slot(1)
    (slot / "README.md").write_text("changed\n")
    git(slot, "add", "README.md")
    assert _recorded(slot) is None


@pytest.mark.parametrize(
    "spoil",
    [
        lambda slot: git(slot, "update-index", "--index-version", "4"),  # compressed paths
        lambda slot: git(slot, "sparse-checkout", "disable"),  # a full index
        lambda slot: (git_dir_of(slot) / "index").write_bytes(b"DIRC\0\0\0\2\0\0\0\5"),
        lambda slot: (git_dir_of(slot) / "index").unlink(),
    ],
    ids=["version 4", "full index", "truncated", "missing"],
)
def test_anything_else_is_left_to_git(pool: Pool, spoil: Callable[[Path], object]) -> None:
    slot = pool.slot(1)
    spoil(slot)
    assert _recorded(slot) is None


@pytest.mark.parametrize(
    "change",
    [
        lambda slot: None,
        lambda slot: (slot / "untracked.txt").write_text("new\n"),
        lambda slot: (slot / "README.md").write_text("edited\n"),
        lambda slot: (slot / "README.md").unlink(),
        lambda slot: (slot / "README.md").write_text("staged\n") or git(slot, "add", "README.md"),
        lambda slot: git(slot, "rm", "-q", "--cached", "README.md"),
        lambda slot: (slot / ".gitignore").write_text("*.log\n") or git(slot, "add", ".gitignore"),
        lambda slot: (slot / "ignored.log").write_text("x\n"),
    ],
    ids=["clean", "untracked", "edited", "deleted", "staged", "removed", "new", "ignored"],
)
def test_status_says_dirty_exactly_when_git_status_does(
    pool: Pool, change: Callable[[Path], object]
) -> None:
    slot = pool.slot(2)
    change(slot)
    porcelain = subprocess.run(
        ["git", "status", "--porcelain"], cwd=slot, capture_output=True, text=True, check=True
    ).stdout
    report = json.loads(wtpool(pool.root, "status", "--json").stdout)
    dirty = {s["name"]: s["dirty"] for s in report["worktrees"]}
    assert dirty["pool-wt-2"] is bool(porcelain)
    assert dirty["pool-wt-1"] is False

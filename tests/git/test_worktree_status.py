"""What salvage needs from status: the same changes as git's porcelain v1, HEAD's commit and
branch, and what becomes of them when HEAD is detached or its branch deleted; in a slot whose
sparse index records HEAD's tree, the same answers without status."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import git, make_repo
from worktree_pool.git.index_file import sparse_index_tree
from worktree_pool.git.run import Git, git_paths
from worktree_pool.git.worktree_status import worktree_status


def _porcelain_v1(root: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Staged and unstaged paths as `git status --porcelain=v1` gives them: the oracle."""
    output = git(root, "status", "--porcelain=v1", "-z", "--untracked-files=no", "--no-renames")
    entries = [entry for entry in output.split("\0") if entry]
    staged = tuple(entry[3:] for entry in entries if entry[0] != " ")
    unstaged = tuple(entry[3:] for entry in entries if entry[1] != " ")
    return staged, unstaged


def _touch(path: Path) -> None:
    """New stat data, the same content: no change, though git must look again to know."""
    os.utime(path, (time.time() + 5, time.time() + 5))


def _checkout(tmp_path: Path, sparse: bool) -> tuple[Path, Path | None]:
    """The directory to look at and the index to pass: a plain repository, or a worktree
    with a sparse index whose cone is src/ (root files are always in a cone)."""
    root = make_repo(tmp_path / "repo")
    if not sparse:
        return root, None
    slot = tmp_path / "slot"
    git(root, "checkout", "--quiet", "--detach")  # so that the slot can have main out
    git(root, "worktree", "add", "--quiet", str(slot), "main")
    git(slot, "sparse-checkout", "set", "--cone", "--sparse-index", "src")
    git(slot, "config", "diff.autoRefreshIndex", "false")  # a setting status pays no heed to
    return slot, Path(git(slot, "rev-parse", "--path-format=absolute", "--git-path", "index"))


def _conflict(root: Path) -> None:
    git(root, "checkout", "--quiet", "-b", "other")
    (root / "README.md").write_text("theirs\n")
    git(root, "commit", "--quiet", "-am", "theirs")
    git(root, "checkout", "--quiet", "main")
    (root / "README.md").write_text("ours\n")
    git(root, "commit", "--quiet", "-am", "ours")
    merge = subprocess.run(["git", "merge", "--quiet", "other"], cwd=root, capture_output=True)
    assert merge.returncode != 0  # stopped on the conflict: README.md is unmerged


@pytest.mark.parametrize(
    "change",
    [
        lambda root: None,
        lambda root: (root / "README.md").write_text("edited\n"),
        lambda root: (root / "README.md").unlink(),
        lambda root: (root / "new file.txt").write_text("new\n") or git(root, "add", "."),
        lambda root: git(root, "rm", "--quiet", "--cached", "README.md"),
        lambda root: (root / "README.md").write_text("staged\n")
        or git(root, "add", "README.md")
        or (root / "README.md").write_text("and edited again\n"),
        lambda root: (root / "tab\tand\nnewline").write_text("odd\n") or git(root, "add", "."),
        _conflict,
    ],
    ids=["clean", "edit", "delete", "staged add", "removed from index", "both", "odd name",
         "conflict"],
)  # fmt: skip
@pytest.mark.parametrize("sparse", [False, True], ids=["full", "sparse index"])
def test_the_changes_are_those_of_git_s_own_porcelain(
    tmp_path: Path, change: Callable[[Path], object], sparse: bool
) -> None:
    root, index = _checkout(tmp_path, sparse)
    change(root)
    status = worktree_status(Git(root, 30), index)
    assert (status.staged, status.unstaged) == _porcelain_v1(root)
    assert status.head == git(root, "rev-parse", "HEAD")
    assert status.branch == "main"


@pytest.mark.parametrize(
    "change",
    [
        lambda root: _touch(root / "src" / "app.py"),
        lambda root: (root / "src" / "app.py").write_text("edited\n"),
        lambda root: (root / "src" / "app.py").unlink(),
        lambda root: (root / "src" / "app.py").chmod(0o755),
        lambda root: (root / "src" / "new.py").write_text("x\n") or git(root, "add", "-N", "."),
    ],
    ids=["touched", "edit", "delete", "mode", "intent to add"],
)
def test_an_index_at_head_is_answered_without_status_and_says_the_same(
    tmp_path: Path, change: Callable[[Path], object]
) -> None:
    slot, index = _checkout(tmp_path, sparse=True)
    change(slot)
    assert index is not None
    assert sparse_index_tree(index, 20) == git(slot, "rev-parse", "HEAD^{tree}")  # the quick way
    status = worktree_status(Git(slot, 30), index)
    assert (status.staged, status.unstaged) == _porcelain_v1(slot)
    assert (status.head, status.branch) == (git(slot, "rev-parse", "HEAD"), "main")


def test_a_detached_head_names_no_branch(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo")
    git(root, "checkout", "--quiet", "--detach")
    status = worktree_status(Git(root, 30))
    assert (status.head, status.branch) == (git(root, "rev-parse", "HEAD"), None)


def test_a_branch_deleted_while_checked_out_has_a_name_and_no_commit(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo")
    slot = tmp_path / "slot"
    git(root, "worktree", "add", "--quiet", "-b", "work", str(slot))
    git(root, "update-ref", "-d", "refs/heads/work")
    status = worktree_status(Git(slot, 30))
    assert (status.head, status.branch) == (None, "work")


def test_git_paths_tell_a_worktree_s_own_files_from_shared_ones(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo")
    slot = tmp_path / "slot"
    git(root, "worktree", "add", "--quiet", "--detach", str(slot))
    paths = git_paths(Git(slot, 30), "logs/HEAD", "logs/refs/stash", "info/exclude")
    common = (root / ".git").resolve()
    assert paths == {
        "logs/HEAD": common / "worktrees" / "slot" / "logs" / "HEAD",
        "logs/refs/stash": common / "logs" / "refs" / "stash",
        "info/exclude": common / "info" / "exclude",
    }

"""Reading a file from a commit and writing a commit that changes one file, on a real
repository, without touching its worktree or index."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import git, make_repo
from worktree_pool.errors import WtpoolError
from worktree_pool.git.objects import (
    child_commit,
    read_blob,
    recommit,
    tracked_file,
    tree_with_file,
)
from worktree_pool.git.run import Git

FILES = {
    "top.txt": "top\n",
    "config/tasks.yaml": "tasks: []\n",
    "config/other.yaml": "other\n",
    "config/deep/run.sh": "#!/bin/sh\n",
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = make_repo(tmp_path / "repo", FILES)
    (root / "config" / "deep" / "run.sh").chmod(0o755)
    os.symlink("top.txt", root / "link")
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "-m", "second")
    return root


def test_only_a_regular_file_is_found(repo: Path) -> None:
    g = Git(repo, 30)
    assert tracked_file(g, "HEAD", "config/tasks.yaml") is not None
    assert tracked_file(g, "HEAD", "config/deep/run.sh").mode == "100755"
    for path in ("config", "link", "missing.yaml", "config/missing.yaml"):
        assert tracked_file(g, "HEAD", path) is None, path
    blob = tracked_file(g, "HEAD", "top.txt").oid
    assert read_blob(g, blob, 100) == "top\n"
    with pytest.raises(WtpoolError, match="more than the 2 read"):
        read_blob(g, blob, 2)


def test_a_commit_in_place_changes_one_file_and_keeps_the_rest(repo: Path) -> None:
    g = Git(repo, 30)
    status_before = git(repo, "status", "--porcelain")
    head = git(repo, "rev-parse", "HEAD")
    tree = tree_with_file(g, head, "config/deep/run.sh", "#!/bin/sh\necho hi\n")
    new = recommit(g, head, tree)
    diff = git(repo, "diff", "--name-status", head, new)
    assert diff == "M\tconfig/deep/run.sh"
    assert git(repo, "show", f"{new}:config/deep/run.sh") == "#!/bin/sh\necho hi"
    assert tracked_file(g, new, "config/deep/run.sh").mode == "100755"
    assert git(repo, "rev-parse", f"{new}^") == git(repo, "rev-parse", f"{head}^")
    assert (
        git(repo, "log", "-1", "--format=%B|%an|%ae|%ad|%cn", new)
        == git(repo, "log", "-1", "--format=%B|%an|%ae|%ad|", head) + "wtpool"
    )
    # Only objects were written: no ref moved, and the worktree is as it was.
    assert git(repo, "rev-parse", "HEAD") == head
    assert git(repo, "status", "--porcelain") == status_before


def test_a_child_commit_is_wtpool_s_own(repo: Path) -> None:
    g = Git(repo, 30)
    head = git(repo, "rev-parse", "HEAD")
    tree = tree_with_file(g, head, "top.txt", "changed\n")
    child = child_commit(g, head, tree, "t-1: closed in top.txt\n")
    assert git(repo, "rev-parse", f"{child}^") == head
    assert (
        git(repo, "log", "-1", "--format=%s|%an|%cn", child)
        == "t-1: closed in top.txt|wtpool|wtpool"
    )


def test_a_signed_commit_is_not_rewritten(repo: Path) -> None:
    g = Git(repo, 30)
    raw = git(repo, "cat-file", "commit", "HEAD")
    headers, _, message = raw.partition("\n\n")
    signed = f"{headers}\ngpgsig -----BEGIN PGP SIGNATURE-----\n fake\n\n{message}\n"
    commit = g.out("hash-object", "-t", "commit", "-w", "--stdin", input=signed)
    tree = tree_with_file(g, commit, "top.txt", "changed\n")
    with pytest.raises(WtpoolError, match="signed"):
        recommit(g, commit, tree)


def test_a_file_the_commit_lacks_is_refused(repo: Path) -> None:
    with pytest.raises(WtpoolError, match="has no file"):
        tree_with_file(Git(repo, 30), "HEAD", "config/new.yaml", "x\n")

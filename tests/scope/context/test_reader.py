"""commit_reader: a commit's tracked files and their exact contents, without a checkout."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.scope.context.builders import commit, git, reader
from worktree_pool.errors import WtpoolError
from worktree_pool.git.run import Git
from worktree_pool.git.tree_listing import tree_listing
from worktree_pool.scope.context.reader import MAX_READ, commit_reader
from worktree_pool.scope.sparse import tracked_files


def test_it_lists_the_commit_and_tells_links_from_files(tmp_path: Path) -> None:
    repo = commit(
        tmp_path / "repo",
        {"a/Cargo.toml": "[package]\n", "b/x.go": "package b\n"},
        {"link.toml": "a/Cargo.toml"},
    )
    tree = reader(repo)
    assert tree.files == {"a/Cargo.toml", "b/x.go", "link.toml"}
    assert tree.is_symlink("link.toml") and not tree.is_symlink("a/Cargo.toml")
    assert tree.read("link.toml") is None  # a link is never read through
    assert tree.read("a") is None and tree.read("absent") is None


def test_it_reads_the_commit_not_the_working_tree_and_keeps_exact_bytes(tmp_path: Path) -> None:
    exact = b'[package]\r\nname = "\xff"\n'
    repo = commit(tmp_path / "repo", {"Cargo.toml": exact, "sub/Cargo.toml": "b\n"})
    (repo / "Cargo.toml").write_text("changed on disk\n")
    (repo / "sub" / "Cargo.toml").unlink()
    tree = reader(repo)
    assert tree.read("Cargo.toml") == exact
    assert tree.read("sub/Cargo.toml") == b"b\n"  # fetched with the first, in one batch
    assert tree.read("Cargo.toml") == exact  # cached


def test_files_of_a_kind_in_a_directory_are_read_together_and_each_right(tmp_path: Path) -> None:
    files = {f"pkg/f{n}.go": f"package pkg // {n}\n" for n in range(30)}
    files |= {"pkg/same.go": "package pkg // 0\n", "pkg/empty.go": ""}
    tree = reader(commit(tmp_path / "repo", files))
    for name, text in files.items():
        assert tree.read(name) == text.encode()


def test_an_older_commit_and_a_bad_one(tmp_path: Path) -> None:
    repo = commit(tmp_path / "repo", {"go.mod": "module a\n"})
    (repo / "go.mod").write_text("module b\n")
    git(repo, "commit", "-qam", "second")
    assert commit_reader(Git(repo, 30), "HEAD~1").read("go.mod") == b"module a\n"
    with pytest.raises(WtpoolError, match="not a commit"):
        commit_reader(Git(repo, 30), "--output=/tmp/x")


def test_a_file_too_big_to_read_reads_as_absent(tmp_path: Path) -> None:
    repo = commit(tmp_path / "repo", {"big.go": "x" * (MAX_READ + 1), "small.go": "package a\n"})
    tree = reader(repo)
    assert "big.go" in tree.files and tree.read("big.go") is None
    assert tree.read("small.go") == b"package a\n"


def test_readers_of_one_commit_share_its_listing_and_outlive_the_worktree_they_came_from(
    tmp_path: Path,
) -> None:
    repo = commit(tmp_path / "repo", {"a/Cargo.toml": "[package]\n", "b/x.go": "package b\n"})
    first, second = tmp_path / "first", tmp_path / "second"
    for where in (first, second):
        git(repo, "worktree", "add", "--quiet", "--detach", str(where))
    one = commit_reader(Git(first, 30))
    assert one.tree.named("Cargo.toml") == ["a/Cargo.toml"]
    git(repo, "worktree", "remove", str(first))
    two = commit_reader(Git(second, 30))
    assert two is one  # listed and indexed once for every slot planned on this commit
    assert two.read("b/x.go") == b"package b\n"  # read through a worktree that still exists
    (repo / "c.txt").write_text("c\n")
    git(repo, "add", "c.txt")
    git(repo, "commit", "-qm", "another commit")
    newer = commit_reader(Git(repo, 30))
    assert newer is not one and "c.txt" in newer.files


def test_scope_planning_and_detection_share_one_listing_of_the_commit(tmp_path: Path) -> None:
    repo = commit(tmp_path / "repo", {"a/Cargo.toml": "[package]\n", "b/x.go": "package b\n"})
    # A submodule (a commit of another repository, added as a gitlink): tracked, not a file.
    head = git(repo, "rev-parse", "HEAD")
    git(repo, "update-index", "--add", "--cacheinfo", f"160000,{head},vendor/lib")
    git(repo, "commit", "-qm", "a submodule")
    oid = git(repo, "rev-parse", "HEAD")
    planned = tree_listing(Git(repo, 30), oid)
    assert tracked_files(Git(repo, 30)) == planned.paths
    assert planned.paths == {"a/Cargo.toml", "b/x.go", "vendor/lib"}
    assert planned.directories == {"a", "b", "vendor"}
    assert commit_reader(Git(repo, 30)).files == {"a/Cargo.toml", "b/x.go"}
    assert tree_listing(Git(repo, 30), oid) is planned  # listed once for both

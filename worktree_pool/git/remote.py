"""Branches on a remote that wtpool copies without checking anything out."""

from __future__ import annotations

from worktree_pool.git.run import Git


def remote_branch(git: Git, remote: str, branch: str) -> str | None:
    """The commit `remote` has at `branch`, or None when it has no such branch."""
    listed = git.out("ls-remote", "--heads", remote, f"refs/heads/{branch}").split()
    return listed[0] if listed else None


def copy_remote_branch(git: Git, remote: str, branch: str, prefix: str) -> str | None:
    """Make `<prefix>-<commit>` on `remote` point where its `branch` does, fetching the commits
    (a push needs them on this side); the name made, or None when the remote has no `branch`.
    The commit in the name keeps two saves of different work apart: none overwrites another."""
    oid = remote_branch(git, remote, branch)
    if oid is None:
        return None
    name = f"{prefix}-{oid[:10]}"
    git.run("fetch", "--quiet", "--no-tags", remote, f"refs/heads/{branch}")
    git.run("push", "--quiet", remote, f"{oid}:refs/heads/{name}")
    return name

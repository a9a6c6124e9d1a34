"""Scratch worktrees: short-lived, detached, sparse checkouts where the merge queue replays a
branch (`merge.strategy: rebase`) and runs its gate (`merge.test_command`), so that nobody's
working tree is touched, least of all one that has the base checked out.

They live under `.agent-worktrees/.merge/` and hold nothing found nowhere else: each is a
checkout of a commit the queue was given or built from one. A crash can leave one behind; the
next queue run, and cleanup, remove it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from worktree_pool.errors import WtpoolError
from worktree_pool.git.repo import Repository
from worktree_pool.git.run import Git, worktree_records
from worktree_pool.pool.worktrees import worktree_registry_lock
from worktree_pool.scope.sparse import show_only
from worktree_pool.scope.view import plan_view

SCRATCH_DIR = ".merge"


def scratch_root(repo: Repository) -> Path:
    return repo.pool_dir / SCRATCH_DIR


@contextmanager
def scratch_worktree(repo: Repository, commit: str, scope: tuple[str, ...] | None) -> Iterator[Git]:
    """A detached checkout of `commit` showing `scope` plus `scope.always_include` (the whole
    tree for None), removed on the way out whatever happens inside."""
    path = scratch_root(repo) / f"scratch-{os.getpid()}"
    path.parent.mkdir(mode=0o700, exist_ok=True)
    _remove(repo, path)  # a previous run of this pid that crashed
    with worktree_registry_lock(repo):
        repo.git.run("worktree", "add", "--no-checkout", "--detach", str(path), commit)
    try:
        git = repo.git.at(path)
        # The repository's own hooks are for people's commits, not for the queue's replay.
        git.run("config", "--worktree", "core.hooksPath", os.devnull)
        plan = plan_view(repo, git, scope)
        show_only(git, plan, repo.config.scope.sparse_index)
        git.run("checkout", "--quiet", "--detach", commit)
        yield git
    finally:
        _remove(repo, path)


def remove_scratch_worktrees(repo: Repository) -> None:
    """Remove every scratch worktree a crashed queue run left."""
    root = scratch_root(repo)
    if not root.is_dir():
        return
    for record in worktree_records(repo.git):
        if record.path.parent == root:
            _remove(repo, record.path)
    for leftover in root.iterdir():
        shutil.rmtree(leftover, ignore_errors=True)


def _remove(repo: Repository, path: Path) -> None:
    if not any(record.path == path for record in worktree_records(repo.git)):
        shutil.rmtree(path, ignore_errors=True)
        return
    with worktree_registry_lock(repo), contextlib.suppress(WtpoolError):
        repo.git.run("worktree", "remove", "--force", "--force", str(path))
    shutil.rmtree(path, ignore_errors=True)

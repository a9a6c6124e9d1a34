"""The git side of a slot: create its worktree, point it at a branch, reset it, remove it.

Idle slots are detached at the base branch's tip: the base branch itself is usually checked out
in the main worktree, and git lets a branch be checked out in only one worktree. A slot gets a
branch of its own when it is acquired:

    wtpool/task/<task>     when the request names a task
    wtpool/agent/<agent>   otherwise

Separate namespaces keep an agent and a task with the same name apart, and keep both clear of
`wtpool/salvage/`.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager

from worktree_pool.errors import WtpoolError
from worktree_pool.gitops import branch_exists, is_ancestor, resolve
from worktree_pool.repo import Repository

BRANCH_NAMESPACE = "wtpool/"


def branch_for(agent: str, task: str | None) -> str:
    return f"{BRANCH_NAMESPACE}task/{task}" if task else f"{BRANCH_NAMESPACE}agent/{agent}"


def base_tip(repo: Repository, base_branch: str) -> str:
    tip = resolve(repo.git, f"refs/heads/{base_branch}")
    if tip is None:
        raise WtpoolError(
            f"the pool's base branch {base_branch} no longer exists",
            "recreate it, or run `wtpool cleanup` and `wtpool init --base BRANCH`",
        )
    return tip


@contextmanager
def worktree_registry_lock(repo: Repository) -> Iterator[None]:
    """Serialize wtpool's changes to git's list of worktrees.

    Git does not guard `.git/worktrees/` against concurrent writers: while one process runs
    `git worktree add`, another's `add` can fail reading the half-written entry. Only the
    registration is serialized; checking files out, the slow part, happens outside the lock.
    """
    fd = os.open(repo.pool_dir / ".worktree-registry.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def add_worktree(repo: Repository, name: str, commit: str) -> None:
    path = repo.slot_path(name)
    with worktree_registry_lock(repo):
        repo.git.run("worktree", "add", "--no-checkout", "--detach", str(path), commit)
    repo.git.at(path).run("checkout", "--quiet", "--detach", commit)


def remove_worktree(repo: Repository, name: str, *, discard: bool) -> None:
    """Remove a slot's worktree; without `discard`, git itself refuses if it is not clean."""
    force = ["--force", "--force"] if discard else []
    with worktree_registry_lock(repo):
        repo.git.run("worktree", "remove", *force, str(repo.slot_path(name)))


def prune_worktrees(repo: Repository) -> None:
    with worktree_registry_lock(repo):
        repo.git.run("worktree", "prune")


def check_out_branch(repo: Repository, name: str, branch: str, start: str, base: str) -> bool:
    """Put the slot on `branch`; True when an existing branch with unmerged work was resumed.

    A branch left over from an earlier claim keeps its commits: the new holder continues that
    work. A leftover branch that the base already contains holds nothing, so it restarts from
    the base tip rather than from a stale commit.
    """
    git = repo.git.at(repo.slot_path(name))
    resume = branch_exists(git, branch) and not is_ancestor(git, branch, f"refs/heads/{base}")
    if resume:
        git.run("switch", "--no-guess", branch)
    else:
        git.run("switch", "--force-create", branch, start)
    return resume


def reset_to(repo: Repository, name: str, commit: str) -> None:
    """Detach the slot at `commit` and delete untracked files. Call only after salvage."""
    git = repo.git.at(repo.slot_path(name))
    git.run("checkout", "--force", "--detach", commit)
    # A single -f leaves nested git repositories alone: their content is not something a
    # snapshot of this worktree could have saved.
    git.run("clean", "-f", "-d", *(["-x"] if repo.config.pool.clean_ignored else []))

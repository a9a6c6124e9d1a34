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
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from worktree_pool.errors import WtpoolError
from worktree_pool.gitops import branch_exists, is_ancestor, resolve, worktree_records
from worktree_pool.repo import Repository
from worktree_pool.slots import all_slots, slot_name

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


def forget_stale_record(repo: Repository, path: Path) -> None:
    """Drop git's record of a pool worktree whose directory is gone.

    Unlike `git worktree prune`, this touches only that one record, never the stale records
    of worktrees the user keeps elsewhere (say, on a drive that is not mounted right now).
    """
    with worktree_registry_lock(repo):
        repo.git.run("worktree", "remove", str(path))


def check_out_branch(repo: Repository, name: str, branch: str, start: str, base: str) -> bool:
    """Put the slot on `branch`; True when an existing branch with unmerged work was resumed.

    A branch left over from an earlier claim keeps its commits: the new holder continues that
    work. A leftover branch that the base already contains holds nothing, so it restarts from
    the base tip rather than from a stale commit.
    """
    git = repo.git.at(repo.slot_path(name))
    resume = branch_exists(git, branch) and not is_ancestor(
        git, f"refs/heads/{branch}", f"refs/heads/{base}"
    )
    if resume:
        git.run("switch", "--no-guess", branch)
    else:
        git.run("switch", "--force-create", branch, start)
    return resume


# Markers of an operation left half-done in a worktree, and the command that forgets it without
# touching files. A stopped rebase would otherwise make the next agent's `git switch` fail.
_UNFINISHED_OPERATIONS = (
    ("rebase-merge", ("rebase", "--quit")),
    ("rebase-apply/applying", ("am", "--quit")),
    ("rebase-apply", ("rebase", "--quit")),
    ("MERGE_HEAD", ("merge", "--quit")),
    ("CHERRY_PICK_HEAD", ("cherry-pick", "--quit")),
    ("REVERT_HEAD", ("revert", "--quit")),
    ("BISECT_LOG", ("bisect", "reset", "HEAD")),
)


def reset_to(repo: Repository, name: str, commit: str) -> None:
    """Detach the slot at `commit` and delete untracked files. Call only after salvage."""
    git = repo.git.at(repo.slot_path(name))
    git_dir = Path(git.out("rev-parse", "--path-format=absolute", "--git-dir"))
    for marker, command in _UNFINISHED_OPERATIONS:
        if (git_dir / marker).exists():
            git.run(*command)
    git.run("checkout", "--force", "--detach", commit)
    # A single -f leaves nested git repositories alone: their content is not something a
    # snapshot of this worktree could have saved.
    git.run("clean", "-f", "-d", *(["-x"] if repo.config.pool.clean_ignored else []))


def registered_paths(repo: Repository) -> set[Path]:
    return {record.path for record in worktree_records(repo.git)}


def free_slot_numbers(
    repo: Repository, conn: sqlite3.Connection, registered: set[Path], count: int
) -> list[int]:
    """The `count` lowest slot numbers that no record, directory or git worktree uses."""
    used = {slot.number for slot in all_slots(conn)}
    numbers: list[int] = []
    candidate = 0
    while len(numbers) < count:
        candidate += 1
        path = repo.slot_path(slot_name(candidate))
        if candidate not in used and not path.exists() and path not in registered:
            numbers.append(candidate)
    return numbers

"""Finding work that exists only in a slot, and saving it to a branch before the slot is reset.

Work is unique when it would be gone once the slot's directory is reset or removed:
uncommitted changes to tracked files, staged changes, untracked files that are not ignored, and
commits that the base branch does not contain. Ignored files (build output, caches) are not work.

Salvage never touches the slot's working tree or index. Like `git stash`, it builds commits from
the outside: a temporary index collects the working tree, so the real index, and with it the
distinction between staged and unstaged changes, survives. The result is a chain on top of HEAD:

    HEAD <- "staged changes" (tree of the index) <- "working tree" (tree of every file)

and a branch `wtpool/salvage/<slot>-<UTC timestamp>` points at the top.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from worktree_pool.errors import WtpoolError
from worktree_pool.gitops import (
    WTPOOL_IDENTITY,
    Git,
    count_commits_not_in,
    create_branch_at,
)

SALVAGE_NAMESPACE = "wtpool/salvage/"


@dataclass(frozen=True)
class UniqueWork:
    staged: tuple[str, ...]
    unstaged: tuple[str, ...]
    untracked: tuple[str, ...]
    unmerged_commits: int

    @property
    def is_empty(self) -> bool:
        return not (self.staged or self.unstaged or self.untracked or self.unmerged_commits)

    def summary(self, base: str) -> str:
        parts = [
            _count(len(self.staged), "staged change", "staged changes"),
            _count(len(self.unstaged), "uncommitted change", "uncommitted changes"),
            _count(len(self.untracked), "untracked file", "untracked files"),
            _count(self.unmerged_commits, f"commit not in {base}", f"commits not in {base}"),
        ]
        return ", ".join(part for part in parts if part) or "nothing"


def _count(n: int, singular: str, plural: str) -> str:
    if not n:
        return ""
    return f"1 {singular}" if n == 1 else f"{n} {plural}"


def inspect_work(git: Git, base_branch: str) -> UniqueWork:
    """What in the worktree at `git.cwd` exists nowhere else."""
    output = git.out("status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames")
    staged: list[str] = []
    unstaged: list[str] = []
    untracked: list[str] = []
    for entry in output.split("\0"):
        if not entry:
            continue
        code, path = entry[:2], entry[3:]
        if code == "??":
            untracked.append(path)
            continue
        if code[0] != " ":
            staged.append(path)
        if code[1] != " ":
            unstaged.append(path)
    return UniqueWork(
        staged=tuple(staged),
        unstaged=tuple(unstaged),
        untracked=tuple(untracked),
        unmerged_commits=count_commits_not_in(git, "HEAD", f"refs/heads/{base_branch}"),
    )


def salvage(git: Git, slot: str, work: UniqueWork) -> str | None:
    """Save `work` from the worktree at `git.cwd` to a new salvage branch; return its name."""
    if work.is_empty:
        return None
    top = git.out("rev-parse", "HEAD")
    if work.staged:
        # write-tree refuses an index with unresolved conflicts; the working-tree snapshot below
        # still captures those files, conflict markers and all.
        index_tree = git.run("write-tree", check=False)
        if index_tree.returncode == 0:
            top = _commit(git, index_tree.stdout.strip(), top, f"wtpool salvage of {slot}: staged")
    if work.staged or work.unstaged or work.untracked:
        tree = _working_tree_snapshot(git)
        if tree != git.out("rev-parse", f"{top}^{{tree}}"):
            top = _commit(git, tree, top, f"wtpool salvage of {slot}: working tree")
    return _new_salvage_branch(git, slot, top)


def _working_tree_snapshot(git: Git) -> str:
    index = Path(git.out("rev-parse", "--path-format=absolute", "--git-path", "index"))
    scratch = index.with_name(f"wtpool-salvage-index-{os.getpid()}")
    try:
        if index.exists():
            shutil.copyfile(index, scratch)
        env = {"GIT_INDEX_FILE": str(scratch)}
        # --sparse: files an agent created outside its sparse checkout are work too.
        git.run("add", "--all", "--sparse", "--", ":/", env=env)
        return git.out("write-tree", env=env)
    finally:
        scratch.unlink(missing_ok=True)


def _commit(git: Git, tree: str, parent: str, message: str) -> str:
    return git.out("commit-tree", tree, "-p", parent, "-m", message, env=WTPOOL_IDENTITY)


def _new_salvage_branch(git: Git, slot: str, commit: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    base_name = f"{SALVAGE_NAMESPACE}{slot}-{stamp}"
    for attempt in range(1, 100):
        branch = base_name if attempt == 1 else f"{base_name}-{attempt}"
        if create_branch_at(git, branch, commit, f"wtpool: salvage {slot}"):
            return branch
    raise WtpoolError(f"could not find a free salvage branch name for {slot}")

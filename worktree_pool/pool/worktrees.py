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

import contextlib
import fcntl
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from worktree_pool.errors import WtpoolError
from worktree_pool.git.repo import Repository
from worktree_pool.git.run import (
    Git,
    WorktreeRecord,
    branch_exists,
    is_ancestor,
    resolve,
    worktree_records,
)
from worktree_pool.pool.history import AUTOSTASH_FILES, RELEASE_MARK, per_worktree_refs
from worktree_pool.pool.salvage import UniqueWork, clear_hiding_flags
from worktree_pool.scope.filters import reapply
from worktree_pool.scope.hooks import remove_guard
from worktree_pool.scope.sparse import ScopePlan, sparse_enabled
from worktree_pool.store.protocol import Connection, Store
from worktree_pool.store.slots import (
    SlotState,
    all_slots,
    delete_slot,
    slot_name,
    slot_number,
    update_slot,
)

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


def enable_per_worktree_config(repo: Repository) -> None:
    """Turn on `extensions.worktreeConfig`, once, so each slot's settings stay its own.

    Without it, `git config --worktree` silently writes the shared config, and a slot's hooks
    path or sparse settings would apply to every worktree. This is the one change wtpool makes
    to the shared config; doing it at `init` keeps every later filter change out of it. Like
    `git sparse-checkout`, it first lifts the repository format to version 1 (which extensions
    require) and moves a shared `core.worktree`, which would otherwise leak into every slot.
    """
    git = repo.git
    key = "extensions.worktreeConfig"
    enabled = git.run("config", "--local", "--get", "--bool", key, check=False)
    if enabled.stdout.strip() == "true":
        return
    with worktree_registry_lock(repo):
        version = git.run("config", "--local", "--get", "core.repositoryformatversion", check=False)
        if version.stdout.strip() in ("", "0"):
            git.run("config", "--local", "core.repositoryformatversion", "1")
        git.run("config", "--local", key, "true")
        shared_worktree = git.run("config", "--local", "--get", "core.worktree", check=False)
        if shared_worktree.returncode == 0:
            git.run("config", "--worktree", "core.worktree", shared_worktree.stdout.strip())
            git.run("config", "--local", "--unset", "core.worktree")


def add_worktree(repo: Repository, store: Store, name: str, commit: str, base: str) -> ScopePlan:
    """Create a slot's worktree showing only its scope: add without files, apply the scope and
    the guard, then check out, so files outside the scope are never written at all."""
    path = repo.slot_path(name)
    with worktree_registry_lock(repo):
        repo.git.run("worktree", "add", "--no-checkout", "--detach", str(path), commit)
    plan = reapply(repo, store, name, base)
    repo.git.at(path).run("checkout", "--quiet", "--detach", commit)
    return plan


def remove_worktree(repo: Repository, name: str, *, discard: bool) -> None:
    """Remove a slot's worktree; without `discard`, git itself refuses if it is not clean."""
    force = ["--force", "--force"] if discard else []
    with worktree_registry_lock(repo):
        repo.git.run("worktree", "remove", *force, str(repo.slot_path(name)))
    remove_guard(repo, name)


def abandon_new_slots(repo: Repository, store: Store, names: list[str]) -> None:
    """Undo slots whose creation failed halfway (say, a scope could not be applied), so no
    agent is ever handed an empty or half-checked-out slot. One whose directory cannot be
    removed is kept busy with no agent: out of circulation until release or cleanup."""
    for name in names:
        discard_new_worktree(repo, name)
    with store.transaction() as conn:
        for name in names:
            if repo.slot_path(name).exists():
                update_slot(conn, name, state=SlotState.BUSY, agent=None, task=None)
            else:
                delete_slot(conn, name)


def discard_new_worktree(repo: Repository, name: str) -> None:
    """Remove a half-made slot's worktree; best effort, since doctor reports what is left."""
    if any(r.path == repo.slot_path(name) for r in worktree_records(repo.git)):
        with contextlib.suppress(WtpoolError):
            remove_worktree(repo, name, discard=True)


def checked_out_anywhere(repo: Repository, branch: str, except_slot: str | None = None) -> bool:
    skip = repo.slot_path(except_slot) if except_slot else None
    return any(r.branch == branch and r.path != skip for r in worktree_records(repo.git))


def check_out_branch(repo: Repository, name: str, branch: str, start: str, base: str) -> bool:
    """Put the slot on `branch`; True when an existing branch with unmerged work was resumed.

    A branch left over from an earlier claim keeps its commits: the new holder continues that
    work. A leftover branch that the base already contains holds nothing, so it restarts from
    the base tip rather than from a stale commit.
    """
    git = repo.git.at(repo.slot_path(name))
    if checked_out_anywhere(repo, branch, except_slot=name):
        # `git switch -C` would happily reset a branch another worktree has checked out.
        raise WtpoolError(
            f"branch {branch} is checked out in another worktree",
            "release that slot, or check out something else there, then try again",
        )
    resume = branch_exists(git, branch) and not is_ancestor(
        git, f"refs/heads/{branch}", f"refs/heads/{base}"
    )
    if resume:
        git.run("switch", "--no-guess", branch)
    elif git.out("rev-parse", "HEAD") == start:
        # Already at the start commit (a fresh slot): making the branch and pointing HEAD at it
        # is all `switch -C` would do, without it re-reading the index and working tree.
        git.run("update-ref", "-m", "wtpool: acquire", f"refs/heads/{branch}", start)
        git.run("symbolic-ref", "-m", "wtpool: acquire", "HEAD", f"refs/heads/{branch}")
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


def reset_to(repo: Repository, name: str, commit: str, salvaged: UniqueWork) -> None:
    """Detach the slot at `commit` and remove what salvage saved. Call only after salvage.

    Only the untracked files salvage saved are deleted, never `git clean`'s idea of untracked:
    what the slot's own .gitignore files hide was judged by the base's rules and saved. The
    slot's per-worktree refs and the autostash of an unfinished rebase or merge were saved too,
    and go, so the next agent inherits none of them. The checkout writes the release mark into
    the slot's HEAD reflog (see history.py).
    """
    path = repo.slot_path(name)
    git = repo.git.at(path)
    git_dir = Path(git.out("rev-parse", "--path-format=absolute", "--git-dir"))
    _drop_saved_autostashes(git_dir, salvaged.stashes)
    for marker, command in _UNFINISHED_OPERATIONS:
        if (git_dir / marker).exists():
            git.run(*command)
    clear_hiding_flags(git, salvaged.hidden)  # so checkout restores what they hid
    git.run("checkout", "--force", "--detach", commit, env={"GIT_REFLOG_ACTION": RELEASE_MARK})
    refs = per_worktree_refs(git)
    if refs:
        git.run("update-ref", "--stdin", input="".join(f"delete {ref}\n" for ref in refs))
    delete_untracked(git, salvaged.untracked)
    if salvaged.hidden and sparse_enabled(git):
        git.run("sparse-checkout", "reapply")
    if repo.config.pool.clean_ignored:
        # Safe only now: every file the slot's own ignore files could hide was work, and is
        # saved and gone, so what git calls ignored here is what the base ignores.
        git.run("clean", "-f", "-d", "-X")


def _drop_saved_autostashes(git_dir: Path, saved: tuple[str, ...]) -> None:
    """Remove the autostash files whose commit salvage saved, before the operation is quit:
    `--quit` would otherwise store the autostash on the shared stash list, where any agent's
    `git stash pop` could apply it. An autostash not saved stays, and --quit stores it."""
    for name in AUTOSTASH_FILES:
        path = git_dir / name
        with contextlib.suppress(OSError):
            if path.read_text(encoding="utf-8").strip() in saved:
                path.unlink()


def delete_untracked(git: Git, paths: tuple[str, ...] | list[str]) -> None:
    """Delete these untracked files of the worktree at `git.cwd`, then the directories they
    leave empty; never a path git tracks, and never through a symbolic link.

    The checkout before this may have put a tracked link where the agent had a directory
    (`cfg -> /elsewhere`): joining `cfg/f` to the slot's path would then delete a file
    outside the slot, or a tracked one inside it. So every directory on the way is opened
    relative to its parent with O_NOFOLLOW, and a path whose way passes a link, or that the
    index now tracks, is left where it is.
    """
    if not paths:
        return
    tracked = set(git.out("ls-files", "-z").split("\0"))
    tree: dict[str, dict] = {}
    for relative in paths:
        if relative in tracked or relative.endswith("/"):
            continue
        *directories, file_name = relative.split("/")
        node = tree
        for directory in directories:
            node = node.setdefault(directory, {})
        node.setdefault(file_name, {})  # a leaf: a file to delete
    root = os.open(git.cwd, os.O_RDONLY | os.O_DIRECTORY)
    try:
        _delete_below(root, tree)
    finally:
        os.close(root)


def _delete_below(directory_fd: int, tree: dict[str, dict]) -> None:
    for name, below in tree.items():
        if not below:
            with contextlib.suppress(FileNotFoundError):
                mode = os.stat(name, dir_fd=directory_fd, follow_symlinks=False).st_mode
                if not stat.S_ISDIR(mode):
                    os.unlink(name, dir_fd=directory_fd)
            continue
        try:
            child = os.open(name, _NO_FOLLOW_DIRECTORY, dir_fd=directory_fd)
        except OSError:  # gone, a link, or not a directory: nothing of ours is below it
            continue
        try:
            _delete_below(child, below)
        finally:
            os.close(child)
        with contextlib.suppress(OSError):  # not empty: it holds something else
            os.rmdir(name, dir_fd=directory_fd)


_NO_FOLLOW_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


def slot_records(repo: Repository) -> dict[str, WorktreeRecord]:
    """git's records of the worktrees under the pool that are named like slots, by name."""
    return {
        record.path.name: record
        for record in worktree_records(repo.git)
        if record.path.parent == repo.pool_dir and slot_number(record.path.name) is not None
    }


def registered_paths(repo: Repository) -> set[Path]:
    return {record.path for record in worktree_records(repo.git)}


def free_slot_numbers(
    repo: Repository, conn: Connection, registered: set[Path], count: int
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

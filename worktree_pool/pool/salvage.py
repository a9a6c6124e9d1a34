"""Finding work that exists only in a slot, and saving it to a branch before the slot is reset.

Work is unique when it would be gone once the slot's directory is reset or removed:
uncommitted changes to tracked files, staged changes, untracked files that the base's ignore
rules do not ignore (ignores.py: the slot's own .gitignore files cannot hide work), commits that
the base branch does not contain, and what only the slot remembers (history.py: its stash
entries, the autostash of a rebase or merge in progress, commits only its reflogs and
per-worktree refs hold). Ignored files (build output, caches) are not work. A nested repository
or submodule with changes is work that a snapshot cannot hold (git records only a pointer to its
commit), so salvage refuses it rather than claim it was saved. Release, cleanup, scale down and
doctor all decide with `inspect_work`, before anything is reset or removed.

Salvage never touches the slot's working tree or index. Like `git stash`, it builds commits from
the outside: a temporary index collects the working tree, so the real index, and with it the
distinction between staged and unstaged changes, survives. The result is a chain on top of HEAD:

    HEAD <- "staged changes" (tree of the index) <- "working tree" (tree of every file)
         <- "stashes and reflog commits" (same tree; the stash commits and reflog commits as
            further parents, so they stay reachable)

and a branch `wtpool/salvage/<slot>-<UTC timestamp>` points at the top. A HEAD whose branch was
deleted starts the chain at the last commit its reflog names.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from worktree_pool.errors import WtpoolError
from worktree_pool.git.ignores import untracked_work
from worktree_pool.git.run import (
    WTPOOL_IDENTITY,
    Git,
    count_commits_not_in,
    create_branch_at,
    git_paths,
    resolve,
)
from worktree_pool.git.worktree_status import worktree_status
from worktree_pool.pool.history import HISTORY_PATHS, head_commit, slot_history

SALVAGE_NAMESPACE = "wtpool/salvage/"


@dataclass(frozen=True)
class UniqueWork:
    staged: tuple[str, ...]
    unstaged: tuple[str, ...]
    untracked: tuple[str, ...]
    unmerged_commits: int
    nested_repositories: tuple[str, ...] = ()
    # Edited files whose index entries carry skip-worktree or assume-unchanged bits: git status
    # does not show them, but they are work all the same. They are also in `unstaged`.
    hidden: tuple[str, ...] = ()
    # The commit salvage builds on: HEAD, or for a deleted branch the last commit HEAD was at.
    head: str | None = None
    deleted_branch: str | None = None  # the branch HEAD names, deleted while checked out
    stashes: tuple[str, ...] = ()  # stash commits made in the slot, autostashes included
    reflog_commits: tuple[str, ...] = ()  # commits only the slot's reflogs and refs hold
    # The fewest of those from which all are reachable: what salvage adds as parents.
    reflog_tips: tuple[str, ...] = field(default=(), metadata={"internal": True})

    @property
    def is_empty(self) -> bool:
        return not (
            self.staged
            or self.unstaged
            or self.untracked
            or self.unmerged_commits
            or self.nested_repositories
            or self.stashes
            or self.reflog_commits
        )

    def summary(self, base: str) -> str:
        parts = [
            counted(len(self.staged), "staged change", "staged changes"),
            counted(len(self.unstaged), "uncommitted change", "uncommitted changes"),
            counted(len(self.untracked), "untracked file", "untracked files"),
            counted(self.unmerged_commits, f"commit not in {base}", f"commits not in {base}"),
            counted(len(self.nested_repositories), "nested repository", "nested repositories"),
            counted(len(self.stashes), "stash entry", "stash entries"),
            counted(
                len(self.reflog_commits),
                "commit only in its reflogs",
                "commits only in its reflogs",
            ),
        ]
        return ", ".join(part for part in parts if part) or "nothing"


def counted(n: int, singular: str, plural: str) -> str:
    if not n:
        return ""
    return f"1 {singular}" if n == 1 else f"{n} {plural}"


def inspect_work(git: Git, base_branch: str) -> UniqueWork:
    """What in the worktree at `git.cwd` exists nowhere else."""
    paths = git_paths(git, "index", "info/exclude", *HISTORY_PATHS)
    status = worktree_status(git, paths["index"])
    base = resolve(git, f"refs/heads/{base_branch}")
    head = head_commit(git, status.head, paths)
    # With the base branch gone, the slot's own commit is the best guess at its rules: without
    # any, every build output would count as work.
    untracked = untracked_work(git, base or head, info_exclude=paths["info/exclude"])
    hidden = _hidden_edits(git)
    unstaged = [*status.unstaged, *(path for path in hidden if path not in status.unstaged)]
    changed = {path.rstrip("/") for path in (*status.staged, *unstaged, *untracked)}
    history = slot_history(git, head, status.branch, paths)
    return UniqueWork(
        staged=status.staged,
        unstaged=tuple(unstaged),
        untracked=tuple(untracked),
        unmerged_commits=_unmerged_commits(git, head, base),
        nested_repositories=tuple(
            sorted(path for path in changed if (git.cwd / path / ".git").exists())
        ),
        hidden=hidden,
        head=head,
        # A branch HEAD names whose commit is gone: deleted while checked out.
        deleted_branch=status.branch if status.head is None else None,
        stashes=history.stashes,
        reflog_commits=history.reflog_commits,
        reflog_tips=history.tips,
    )


def _unmerged_commits(git: Git, head: str | None, base: str | None) -> int:
    if head is None:
        return 0
    if base is None:
        # The base branch is gone, so nothing is known to be merged: all of HEAD counts as
        # unique, and salvage keeps it on a branch.
        return int(git.out("rev-list", "--count", head))
    return count_commits_not_in(git, head, base)


def _hidden_edits(git: Git) -> tuple[str, ...]:
    """Files on disk that differ from an index entry git has been told not to look at.

    Nearly every entry of a narrow or empty slot is skip-worktree, and nearly all of them are
    in directories that are not on disk: one lstat per directory settles all of their files
    (a missing directory holds nothing), and a sparse index is read as it is (`--sparse`, a
    collapsed directory one entry) unless one of its collapsed directories is on disk."""
    exists = _existence(git.cwd)
    entries = _flagged_entries(git, "--sparse")
    if any(path.endswith("/") and exists(path.rstrip("/")) for path in entries):
        entries = _flagged_entries(git)  # look inside what is on disk: expand the index
    flagged = {
        path: entry for path, entry in entries.items() if not path.endswith("/") and exists(path)
    }
    if not flagged:
        return ()
    on_disk = _disk_entries(git, list(flagged), write=False)
    return tuple(path for path in flagged if on_disk.get(path) != flagged[path])


def _flagged_entries(git: Git, *options: str) -> dict[str, tuple[str, str]]:
    """Index entries flagged skip-worktree or assume-unchanged: path -> (mode, blob id)."""
    flagged: dict[str, tuple[str, str]] = {}
    for entry in git.out("ls-files", *options, "-s", "-v", "-z").split("\0"):
        if entry and (entry[0] == "S" or entry[0].islower()):
            meta, _, path = entry.partition("\t")
            flagged[path] = (meta.split()[1], meta.split()[2])
    return flagged


def _existence(root: Path) -> Callable[[str], bool]:
    """`lexists` of paths below `root`, each directory looked at once: a path whose directory
    is missing is missing without a look of its own."""
    directories: dict[str, bool] = {"": True}

    def directory_exists(directory: str) -> bool:
        if directory not in directories:
            parent = directory.rpartition("/")[0]
            directories[directory] = directory_exists(parent) and os.path.lexists(root / directory)
        return directories[directory]

    def exists(path: str) -> bool:
        return directory_exists(path.rpartition("/")[0]) and os.path.lexists(root / path)

    return exists


def _disk_entries(git: Git, paths: list[str], *, write: bool) -> dict[str, tuple[str, str]]:
    """(mode, blob id) of each path as it is on disk, as `git add` would record it, without
    ever reading through a link: a link's blob is its target, and a link to a file outside
    the repository (or to a pipe, or /dev/zero) is never opened. A path that is no plain file
    or link (a directory, a pipe) has no entry; with `write`, the blobs are stored."""
    entries: dict[str, tuple[str, str]] = {}
    files: list[tuple[str, str]] = []
    for path in paths:
        if "\n" in path:  # hash-object reads one path per line: such a name has no entry
            continue
        info = (git.cwd / path).lstat()
        if stat.S_ISLNK(info.st_mode):
            target = os.readlink(git.cwd / path)
            flags = ("-w",) if write else ()
            entries[path] = ("120000", git.out("hash-object", *flags, "--stdin", input=target))
        elif stat.S_ISREG(info.st_mode):
            files.append((path, "100755" if info.st_mode & 0o100 else "100644"))
    if files:
        flags = ("-w",) if write else ()
        listing = "".join(f"{path}\n" for path, _ in files)
        oids = git.out("hash-object", *flags, "--stdin-paths", input=listing).splitlines()
        for (path, mode), oid in zip(files, oids, strict=True):
            entries[path] = (mode, oid)
    return entries


def salvage(git: Git, slot: str, work: UniqueWork) -> str | None:
    """Save `work` from the worktree at `git.cwd` to a new salvage branch; return its name."""
    if work.is_empty:
        return None
    if work.nested_repositories:
        raise WtpoolError(
            f"{slot} holds nested git repositories with changes that wtpool cannot save: "
            + ", ".join(work.nested_repositories),
            "commit and push their work or move them out of the slot, then try again",
        )
    top = work.head
    # Both snapshots work on a scratch copy of the index: the real one stays untouched, and a
    # stale index.lock left by a crashed git cannot stop us.
    with scratch_index(git) as env:
        _stage_hidden_edits(git, work.hidden, env)
        if work.staged:
            index_tree = git.run("write-tree", env=env, check=False)
            if index_tree.returncode == 0:
                message = f"wtpool salvage of {slot}: staged changes"
                top = _commit(git, index_tree.stdout.strip(), top, message)
            elif not git.out("ls-files", "--unmerged", env=env):
                raise git.failure(("write-tree",), index_tree)
            # An index with unresolved conflicts has no tree; the working-tree snapshot below
            # still saves those files, conflict markers and all.
        if work.staged or work.unstaged or work.untracked:
            # --sparse: edits outside the sparse checkout are work too.
            git.run("add", "--update", "--sparse", "--", ":/", env=env)
            # The untracked files the base's rules call work, by name: `git add` would apply
            # the slot's own .gitignore files, which may hide them.
            git.run(
                "update-index", "--add", "-z", "--stdin",
                env=env, input="".join(f"{path}\0" for path in work.untracked),
            )  # fmt: skip
            tree = git.out("write-tree", env=env)
            if top is None or tree != git.out("rev-parse", f"{top}^{{tree}}"):
                top = _commit(git, tree, top, f"wtpool salvage of {slot}: working tree")
    if work.stashes or work.reflog_tips:
        top = _keep_reachable(git, slot, top, work)
    assert top is not None  # non-empty work always gave a commit
    return new_salvage_branch(git, slot, top)


def _keep_reachable(git: Git, slot: str, top: str | None, work: UniqueWork) -> str:
    """A commit with the tree of `top` whose further parents are the slot's stash commits and
    reflog commits, so that the salvage branch reaches them."""
    tree = git.out("rev-parse", f"{top}^{{tree}}") if top else git.out("mktree", input="")
    lines = [f"wtpool salvage of {slot}: stashes and commits only its reflogs held", ""]
    lines += [f"stash: {oid}" for oid in work.stashes]
    lines += [f"reflog: {oid}" for oid in work.reflog_tips]
    parents = [oid for oid in dict.fromkeys((top, *work.stashes, *work.reflog_tips)) if oid]
    args = [arg for parent in parents for arg in ("-p", parent)]
    return git.out("commit-tree", tree, *args, "-m", "\n".join(lines), env=WTPOOL_IDENTITY)


@contextmanager
def scratch_index(git: Git, source: Path | None = None) -> Iterator[dict[str, str]]:
    """A scratch copy of the worktree's index (or of the index file `source`)."""
    index = source or Path(git.out("rev-parse", "--path-format=absolute", "--git-path", "index"))
    scratch = index.with_name(f"wtpool-salvage-index-{os.getpid()}")
    try:
        if index.exists():
            # copy2 keeps the index's mtime, which git compares with files' mtimes to spot
            # "racily clean" entries; a fresh mtime would make it trust stale stat data.
            shutil.copy2(index, scratch)
        yield {"GIT_INDEX_FILE": str(scratch)}
    finally:
        scratch.unlink(missing_ok=True)


@contextmanager
def naming_salvage_on_failure(branch: str | None) -> Iterator[None]:
    """Make a failure after a salvage still say where the work went."""
    try:
        yield
    except WtpoolError as exc:
        if branch:
            exc.message += f" (the slot's work is saved on branch {branch})"
        raise


def clear_hiding_flags(git: Git, paths: tuple[str, ...], env: dict[str, str] | None = None) -> None:
    """Make git look at these files again. One flag per call: given both, update-index
    applies only the first."""
    if not paths:
        return
    listing = "".join(f"{path}\0" for path in paths)
    for flag in ("--no-assume-unchanged", "--no-skip-worktree"):
        git.run("update-index", flag, "-z", "--stdin", env=env, input=listing)


def _stage_hidden_edits(git: Git, paths: tuple[str, ...], env: dict[str, str]) -> None:
    """Put the content of flag-hidden files into the scratch index by hashing it, not by
    trusting stat data that git stopped maintaining for them; a path that is now something
    else (a directory) leaves the index, and its files are saved as untracked ones."""
    if not paths:
        return
    clear_hiding_flags(git, paths, env)
    on_disk = _disk_entries(git, list(paths), write=True)
    info = "".join(f"{mode} {oid}\t{path}\0" for path, (mode, oid) in on_disk.items())
    git.run("update-index", "-z", "--index-info", env=env, input=info)
    if gone := [path for path in paths if path not in on_disk]:
        listing = "".join(f"{path}\0" for path in gone)
        git.run("update-index", "-z", "--force-remove", "--stdin", env=env, input=listing)


def _commit(git: Git, tree: str, parent: str | None, message: str) -> str:
    parents = ("-p", parent) if parent else ()
    return git.out("commit-tree", tree, *parents, "-m", message, env=WTPOOL_IDENTITY)


def new_salvage_branch(git: Git, slot: str, commit: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    base_name = f"{SALVAGE_NAMESPACE}{slot}-{stamp}"
    for attempt in range(1, 100):
        branch = base_name if attempt == 1 else f"{base_name}-{attempt}"
        if create_branch_at(git, branch, commit, f"wtpool: salvage {slot}"):
            return branch
    raise WtpoolError(f"could not find a free salvage branch name for {slot}")

"""git's record of a pool worktree whose directory is gone: where it went, and what it held.

A record (`.git/worktrees/<name>`) whose directory was moved to where wtpool can see it, the
worktree this command runs from or a directory right under the pool, is repaired there. Any
other is removed, but only after everything it points to that no branch reaches (HEAD, ORIG_HEAD,
reflogs, an autostash, per-worktree refs, its index) is saved to a salvage branch: once the
record is gone, nothing refers to those commits any more.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from worktree_pool.errors import WtpoolError
from worktree_pool.git.repo import Repository, git_dir_of
from worktree_pool.git.run import WTPOOL_IDENTITY, Git, resolve
from worktree_pool.pool.history import parse_reflog, recorded_stashes
from worktree_pool.pool.salvage import counted, new_salvage_branch, scratch_index
from worktree_pool.pool.worktrees import worktree_registry_lock


@dataclass(frozen=True)
class StaleRecord:
    """What became of git's record of a pool worktree whose directory was gone."""

    path: str
    moved_to: str | None = None  # found there and repaired: a worktree outside the pool now
    salvage_branch: str | None = None  # what the record pointed to, saved before it went
    saved: str | None = None  # what that branch holds, in words

    def describe(self) -> str:
        if self.moved_to:
            return f"moved to {self.moved_to}: git's record repaired; it stays a worktree there"
        if self.salvage_branch:
            return f"saved {self.saved} to branch {self.salvage_branch}; git's record removed"
        return "git's record removed; it named nothing that no branch has"


def settle_stale_record(repo: Repository, path: Path) -> StaleRecord:
    """Deal with git's record of a pool worktree whose directory is gone; the only way wtpool
    ever removes such a record.

    A worktree moved to where this command runs from is repaired there (`git worktree repair`)
    and stays a worktree, outside the pool. Otherwise (deleted, or moved where wtpool cannot
    know) what the record points to, which nothing else may refer to, is saved to a salvage
    branch first (salvage_worktree_record), and then that one record is removed: unlike `git
    worktree prune`, never the stale records of worktrees the user keeps elsewhere (say, on a
    drive that is not mounted right now).
    """
    with worktree_registry_lock(repo):
        admin = admin_dir_of(repo, path)
        moved = moved_location(repo, admin) if admin is not None else None
        if moved is not None:
            repo.git.run("worktree", "repair", str(moved))
            return StaleRecord(str(path), moved_to=str(moved))
        saved = salvage_worktree_record(repo.git, path.name, admin) if admin else None
        if admin is not None and path.exists():
            # Something that is not the worktree stands in its place (its `.git` is gone):
            # `worktree remove` refuses it, and its files are not ours to delete. Only the
            # record goes, now that what it points to is saved.
            shutil.rmtree(admin)
        else:
            repo.git.run("worktree", "remove", str(path))
    if saved is None or saved.branch is None:
        return StaleRecord(str(path))
    return StaleRecord(str(path), salvage_branch=saved.branch, saved=saved.summary())


def admin_dir_of(repo: Repository, path: Path) -> Path | None:
    """git's administrative directory (`.git/worktrees/<name>`) of the worktree at `path`: the
    one whose `gitdir` file names `path/.git`, whatever its own name."""
    registry = repo.common_dir / "worktrees"
    for admin in sorted(registry.iterdir()) if registry.is_dir() else []:
        with contextlib.suppress(OSError):
            named = Path((admin / "gitdir").read_text(encoding="utf-8").strip())
            if os.path.normpath(admin / named) == os.path.normpath(path / ".git"):
                return admin
    return None


def moved_location(repo: Repository, admin: Path) -> Path | None:
    """Where a worktree whose recorded directory is gone lives now, when that can be known:
    the worktree this command was run from, or a directory right under the pool, whose `.git`
    file leads to `admin` (the evidence `git worktree repair` itself goes by). wtpool looks
    nowhere else: it does not search the disk, and a directory that merely looks like the slot
    is no evidence. A copy of the slot passes too, and is harmless: the record, and everything
    it points to, stays."""
    here = repo.worktree
    candidates = [here] if here is not None and here != repo.root else []
    if repo.pool_dir.is_dir():
        candidates += sorted(
            entry
            for entry in repo.pool_dir.iterdir()
            if not entry.name.startswith(".") and not entry.is_symlink() and entry.is_dir()
        )
    target = admin.resolve()
    return next((path for path in candidates if git_dir_of(path) == target), None)


# Files of a worktree's administrative directory that name no commit (or, the index, that are
# read as an index rather than scanned).
_NOT_REFERENCES = frozenset({"index", "gitdir", "commondir", "locked", "config.worktree"})


@dataclass(frozen=True)
class RecordSalvage:
    """What was saved from git's record of a worktree whose directory is gone."""

    branch: str | None  # None: nothing there was unique
    commits: int = 0  # commits that no branch reached, now reachable from `branch`
    index: bool = False  # its index differed from its HEAD; the branch's top holds it

    def summary(self) -> str:
        parts = [counted(self.commits, "commit no branch reached", "commits no branch reached")]
        parts.append("its staged index" if self.index else "")
        return " and ".join(part for part in parts if part) or "nothing"


def salvage_worktree_record(git: Git, slot: str, admin: Path) -> RecordSalvage:
    """Save what a worktree's administrative directory (`.git/worktrees/<name>`) points to,
    before it is removed: once it is, nothing refers to those commits any more.

    Saved: every commit the directory names that no branch reaches (a detached HEAD, the last
    commit of a HEAD whose branch was deleted, ORIG_HEAD, its reflogs, an autostash or
    MERGE_HEAD of an operation in progress, per-worktree refs), and its index as a tree. `git`
    runs in the main worktree; the worktree's own directory may be gone. The branch points at
    one commit whose tree is the index (or HEAD's tree) and whose parents are HEAD and the
    commits no other saved commit reaches; at that commit itself when it is the only thing.
    """
    head = _record_head(git, admin)
    gitdir = _read_text(admin / "gitdir").strip()
    worktree = Path(os.path.normpath(admin / gitdir)).parent if gitdir else None
    stashes = recorded_stashes(git, admin, worktree) if worktree else []
    unreached, tips = _unreached(git, [*_named_commits(git, admin), *stashes])
    index_tree = _record_index_tree(git, slot, admin)
    staged = index_tree is not None and (
        head is None or index_tree != git.out("rev-parse", f"{head}^{{tree}}")
    )
    parents = [head] if head is not None and (staged or head in tips) else []
    parents += [tip for tip in tips if tip != head]
    if not parents and not staged:
        return RecordSalvage(None)
    if len(parents) == 1 and not staged:
        top = parents[0]
    else:
        tree = (
            index_tree if staged and index_tree else git.out("rev-parse", f"{parents[0]}^{{tree}}")
        )
        message = (
            f"wtpool salvage of {slot}: git's record of it, whose directory was gone\n\n"
            + ("Tree: its index. " if staged else "Tree: its first parent's. ")
            + ("Parents: its HEAD, then" if head in parents else "Parents:")
            + " the commits of its record that no branch reached.\n"
        )
        options = [option for parent in parents for option in ("-p", parent)]
        top = git.out("commit-tree", tree, *options, "-m", message, env=WTPOOL_IDENTITY)
    return RecordSalvage(new_salvage_branch(git, slot, top), len(unreached), staged)


def _record_head(git: Git, admin: Path) -> str | None:
    """The commit a worktree's HEAD stood at: detached, its branch's tip, or (the branch was
    deleted) the last commit its HEAD reflog names."""
    try:
        head = (admin / "HEAD").read_text(encoding="utf-8").strip()
    except OSError:
        return None
    if head.startswith("ref: "):
        tip = resolve(git, head.removeprefix("ref: "))
        if tip is not None:
            return tip
        log = parse_reflog(admin / "logs" / "HEAD")
        head = log[-1].new if log else ""
    return resolve(git, head) if head else None


def _named_commits(git: Git, admin: Path) -> list[str]:
    """The commits whose full ids appear in the directory's files (refs, reflogs, state)."""
    width = 64 if git.out("rev-parse", "--show-object-format") == "sha256" else 40
    pattern = re.compile(rf"(?<![0-9a-f])[0-9a-f]{{{width}}}(?![0-9a-f])")
    named: set[str] = set()
    for path in admin.rglob("*"):
        if path.name in _NOT_REFERENCES or path.name.startswith("sharedindex."):
            continue
        if path.is_file() and not path.is_symlink():
            named.update(pattern.findall(_read_text(path)))
    if not named:
        return []
    listing = git.out(
        "cat-file", "--batch-check=%(objectname) %(objecttype)", input="\n".join(named) + "\n"
    )
    return sorted(line.split()[0] for line in listing.splitlines() if line.endswith(" commit"))


def _unreached(git: Git, commits: list[str]) -> tuple[set[str], list[str]]:
    """(every commit that `commits` reach and no branch does, those of `commits` among them
    that none of the others reaches)."""
    if not commits:
        return set(), []
    listing = git.out("rev-list", "--stdin", "--not", "--branches", input="\n".join(commits) + "\n")
    unreached = set(listing.splitlines())
    lost = [commit for commit in commits if commit in unreached]
    if len(lost) < 2:
        return unreached, lost
    return unreached, git.out("merge-base", "--independent", *lost).splitlines()


def _record_index_tree(git: Git, slot: str, admin: Path) -> str | None:
    """The worktree's index as a tree; None when it has none. A path left in conflict keeps
    its "ours" side: its stages come from commits that are saved anyway."""
    index = admin / "index"
    if not index.is_file():
        return None
    try:
        with scratch_index(git, index) as env:
            conflicts = git.out("ls-files", "-s", "-z", "--unmerged", env=env).split("\0")
            ours = {}
            for entry in filter(None, conflicts):
                meta, _, path = entry.partition("\t")
                mode, oid, stage = meta.split()
                ours.setdefault(path, f"0 {'0' * len(oid)}\t{path}\0")  # no "ours": removed
                if stage == "2":
                    ours[path] = f"{mode} {oid}\t{path}\0"
            if ours:
                git.run("update-index", "-z", "--index-info", env=env, input="".join(ours.values()))
            return git.out("write-tree", env=env)
    except WtpoolError as exc:
        raise WtpoolError(
            f"could not save the index of {slot}: {exc.message}",
            f"look at {admin} and save what you need, then run the command again",
        ) from exc


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("ascii", "replace")
    except OSError:
        return ""

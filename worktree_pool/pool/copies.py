"""Bringing into a slot what a checkout lacks: the `copy:` entries of the main worktree.

Which entries: what the patterns name among the main worktree's untracked files (one git walk
per mode, see git/untracked.py), and of those only what git ignores there. An untracked file
that is not ignored would look, in the slot, like the agent's own new work: it would be saved to
a salvage branch at every release. Such an entry is skipped, and the report says why.

Where: an entry goes into a slot only where the slot's view shows its directory (each directory
on the way is a real directory in the slot, never a link). A slot is a sparse checkout, and git
deletes the directories outside the view that hold only ignored files when it applies a view
again; copying there would be undone by the next claim. So an empty slot gets the root's
entries, and each claim, once its view is set, tops up what is missing: cheap (one walk, a stat
per entry) when everything is there, which is what keeps a recycled slot warm. Never over a path
the slot's checkout tracks (its branch may track what the main worktree does not).

How: each entry is copied into `.agent-worktrees/.copying/` first and renamed into place, so an
interrupted copy never leaves half a `node_modules` that a later claim would take for whole (the
scratch directory is named by the process that copies, and the next copy removes what a killed
one left); `copy` mode clones where the file system can (see util/cow_copy.py), `link` mode
makes a symbolic link to the main worktree's entry, shared by every slot. `refresh` (`wtpool
refresh`) replaces what is there, once the new copy is whole: a copy that fails or is refused
leaves the old one in place. A copy that fails (a full disk) is a `WtpoolError` naming the entry.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from worktree_pool.config.settings import CopyRule
from worktree_pool.errors import WtpoolError
from worktree_pool.git.repo import Repository
from worktree_pool.git.untracked import untracked_matching
from worktree_pool.store.slots import pid_alive
from worktree_pool.util.cow_copy import TreeCopier
from worktree_pool.util.progress import progress_reporter

STAGING_DIR = ".copying"


@dataclass(frozen=True)
class CopyReport:
    slot: str
    copied: list[str] = field(default_factory=list)  # entries copied or linked now
    present: list[str] = field(default_factory=list)  # already in the slot, left as they are
    skipped: list[str] = field(default_factory=list)  # each: an entry, and why it was not copied
    refused: list[str] = field(default_factory=list)  # links out of the repository, and more
    method: str = "none"  # reflink, copy, reflink and copy, link, none
    files: int = 0
    cloned: int = 0  # of `files`, those that share their blocks with the original (reflink)
    bytes: int = 0
    seconds: float = 0.0


def copy_into_slot(repo: Repository, name: str, *, refresh: bool = False) -> CopyReport:
    """Copy the configured entries into the slot (see the module's docstring)."""
    rules = repo.config.copy_rules()
    if not rules:
        return CopyReport(name)
    start = time.monotonic()
    entries = _entries(repo, rules)
    ignored = _ignored(repo, list(entries))
    skipped = [f"{path}: git does not ignore it" for path in entries if path not in ignored]
    slot = repo.slot_path(name)
    wanted = [path for path in entries if path in ignored]
    tracked = _tracked_in(repo, slot, wanted)
    copier = TreeCopier(repo.root, progress_reporter(f"copying into {name}", None))
    copied, present = [], []
    staging = _staging(repo)
    for path in wanted:
        relative = path.rstrip("/")
        target = slot / relative
        if relative in tracked:
            skipped.append(f"{path}: the slot's checkout tracks it")
            continue
        if not _shown(slot, relative):
            skipped.append(f"{path}: the slot's view does not show its directory")
            continue
        if os.path.lexists(target) and not refresh:
            present.append(path)
            continue
        try:
            placed = _place(copier, entries[path], repo.root / relative, target, staging)
        except OSError as exc:
            where = f" ({exc.filename})" if exc.filename else ""
            raise WtpoolError(
                f"could not copy {path} into {name}: {exc.strerror or exc}{where}"
            ) from exc
        if placed:
            copied.append(path)
    tally = copier.tally
    return CopyReport(
        name,
        copied,
        present,
        skipped,
        tally.refused,
        tally.method,
        files=tally.files,
        cloned=tally.cloned,
        bytes=tally.bytes,
        seconds=round(time.monotonic() - start, 3),
    )


def _entries(repo: Repository, rules: tuple[CopyRule, ...]) -> dict[str, str]:
    """Each entry the rules name, and its mode: that of the last rule naming it, as the last
    matching line of a .gitignore decides (`node_modules/` copied, then `{pattern:
    web/node_modules/, mode: link}` for the one that is too large to copy)."""
    from pathspec import GitIgnoreSpec

    found = untracked_matching(repo.git, tuple(rule.pattern for rule in rules))
    specs = [(GitIgnoreSpec.from_lines([rule.pattern]), rule.mode) for rule in rules]
    entries: dict[str, str] = {}
    for path in found:
        modes = [mode for spec, mode in specs if spec.match_file(path)]
        entries[path] = modes[-1] if modes else "copy"  # named through a parent: copied
    return entries


def copy_warnings(report: CopyReport) -> list[str]:
    """What a claim should say about its copies: what was refused or could not go in (an
    entry outside the slot's view is no surprise, and not repeated on every claim)."""
    return [f"copy {entry}" for entry in report.refused] + [
        f"copy: {entry}" for entry in report.skipped if not entry.endswith("show its directory")
    ]


def _place(copier: TreeCopier, mode: str, source: Path, target: Path, staging: Path) -> bool:
    """Copy or link `source` to `target` by way of the staging directory, replacing what is
    there only once the copy is whole; False when it was refused whole (a link out of the
    repository)."""
    with tempfile.TemporaryDirectory(dir=staging, prefix=f"{os.getpid()}-") as scratch:
        staged = Path(scratch) / target.name
        if mode == "link":
            copier.link(source, staged)
        else:
            copier.copy(source, staged)
        if not os.path.lexists(staged):
            return False
        if os.path.lexists(target):
            _remove(target)
        staged.rename(target)
    return True


def _staging(repo: Repository) -> Path:
    """The staging directory, rid of what copies killed midway left: each scratch directory
    is named by the pid of the process that copies into it."""
    staging = repo.pool_dir / STAGING_DIR
    staging.mkdir(mode=0o700, exist_ok=True)
    for scratch in staging.iterdir():
        pid = scratch.name.partition("-")[0]
        if not (pid.isdigit() and pid_alive(int(pid))):
            shutil.rmtree(scratch, ignore_errors=True)
    return staging


def _ignored(repo: Repository, paths: list[str]) -> set[str]:
    """Which of `paths` the main worktree's ignore rules ignore."""
    if not paths:
        return set()
    done = repo.git.run("check-ignore", "-z", "--stdin", input="\0".join(paths), check=False)
    return set(done.stdout.split("\0")) & set(paths)


def _tracked_in(repo: Repository, slot: Path, paths: list[str]) -> set[str]:
    """Which of `paths` the slot's checkout tracks, or tracks files below."""
    if not paths:
        return set()
    specs = [f":(literal){path.rstrip('/')}" for path in paths]
    listed = repo.git.at(slot).out("ls-files", "-z", "--", *specs).split("\0")
    return {
        path.rstrip("/")
        for path in paths
        if any(f == path.rstrip("/") or f.startswith(path) for f in listed if f)
    }


def _shown(slot: Path, relative: str) -> bool:
    """Whether every directory on the way to `relative` is a real directory in the slot."""
    directory = slot
    for part in Path(relative).parent.parts:
        directory = directory / part
        if directory.is_symlink() or not directory.is_dir():
            return False
    return True


def _remove(target: Path) -> None:
    """Remove a copy without following links: a link itself, or a real tree."""
    if target.is_symlink() or not target.is_dir():
        target.unlink()
    else:
        shutil.rmtree(target)

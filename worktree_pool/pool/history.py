"""Commits that only a slot remembers: its reflogs, per-worktree refs, stashes and autostashes.

An agent that commits and then runs `git reset --hard HEAD~`, stashes an edit, or leaves a
`rebase --autostash` stopped on a conflict has work that no branch holds. Git keeps it in
places that go with the worktree (its HEAD reflog, its `refs/worktree/*`, `refs/bisect/*` and
`refs/rewritten/*`, ORIG_HEAD and the other per-worktree pseudo-refs, the autostash files of a
rebase or merge in progress) or with its branch (the branch's reflog, deleted with the branch),
or in `refs/stash`, which every worktree shares. Each commit found there that no branch reaches
is work, and salvage makes it reachable from the salvage branch.

A release marks the end of a session in the slot's HEAD reflog (GIT_REFLOG_ACTION, see
worktrees.reset_to). Only what came after the last mark counts: the release that wrote the mark
saved what came before, and a salvage branch the user has since deleted stays deleted. (Git
logs no entry when HEAD is already detached at the base tip; then only the test "no branch
reaches it" keeps what an earlier salvage saved from being saved again.)

Which `refs/stash` entries a slot made cannot be read off the entry: the stash reflog is shared
and names no worktree. An entry is the slot's when the slot's HEAD reflog shows HEAD at the
entry's base commit at the second the entry was written (for "autostash" entries, which a rebase
stores when it ends, at any time before), and the branch it names is not one another worktree
has checked out. A stash made in the main worktree on `main` is thus never the slot's. A stash
made on a detached HEAD names no branch: when several detached worktrees sat at its base commit,
each claims it, and the first salvage makes it reachable, so the others then see nothing to save.
Erring that way costs a duplicate; the other way would lose the stash from the salvage branch.
What is judged the slot's is only made reachable; `refs/stash` itself is never changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from worktree_pool.git.run import Git, git_paths, worktree_records

RELEASE_MARK = "wtpool: release"
# Per-worktree pseudo-refs that can hold a commit nothing else does.
_PSEUDO_REFS = ("ORIG_HEAD", "MERGE_HEAD", "CHERRY_PICK_HEAD", "REVERT_HEAD", "REBASE_HEAD")
_PER_WORKTREE_REFS = ("refs/worktree/", "refs/bisect/", "refs/rewritten/")
# Where a rebase or merge in progress keeps its autostash, relative to the worktree's git dir.
AUTOSTASH_FILES = ("rebase-merge/autostash", "rebase-apply/autostash", "MERGE_AUTOSTASH")
_ZERO = frozenset({"0" * 40, "0" * 64})


@dataclass(frozen=True)
class ReflogEntry:
    old: str
    new: str
    time: int
    message: str


@dataclass(frozen=True)
class History:
    """What the slot remembers that no branch holds."""

    stashes: tuple[str, ...]  # stash commits: the slot's refs/stash entries, then autostashes
    reflog_commits: tuple[str, ...]  # every commit only the slot's reflogs and refs hold
    tips: tuple[str, ...]  # the fewest of those from which all the others are reachable


# The files (as `git_paths` names them) that `head_commit` and `slot_history` read; a branch's
# reflog is below logs/refs/heads. Reflogs are read from their files, since git's own reader
# refuses the reflog of a HEAD whose branch was deleted, which is the one that matters then.
HISTORY_PATHS = ("logs/HEAD", "logs/refs/stash", "logs/refs/heads", *AUTOSTASH_FILES)


def parse_reflog(path: Path) -> list[ReflogEntry]:
    """The reflog in the file at `path`, oldest first; none when it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
    except (FileNotFoundError, NotADirectoryError):
        return []
    entries = []
    for line in text.splitlines():
        head, _, message = line.partition("\t")
        fields = head.split(" ")
        try:
            entries.append(ReflogEntry(fields[0], fields[1], int(fields[-2]), message))
        except (IndexError, ValueError):  # a damaged line holds no commit we can use
            continue
    return entries


def head_commit(git: Git, head: str | None, paths: Mapping[str, Path]) -> str | None:
    """HEAD's commit (`head`, as status gave it); for a HEAD whose branch was deleted, the last
    commit it pointed at. `paths`: see HISTORY_PATHS."""
    if head is not None:
        return head
    known = [entry.new for entry in parse_reflog(paths["logs/HEAD"]) if entry.new not in _ZERO]
    existing = _existing_commits(git, known)  # gc may have taken the newest
    return existing[-1] if existing else None


def slot_history(
    git: Git, head: str | None, branch: str | None, paths: Mapping[str, Path]
) -> History:
    """The stashes and reflog commits of the worktree at `git.cwd`, whose HEAD names `branch`,
    that no branch and not `head` (which salvage saves anyway) reach. `paths`: see
    HISTORY_PATHS."""
    entries = parse_reflog(paths["logs/HEAD"])
    since, session = _session(entries)
    stashes = [
        *_slot_stashes(git, entries, since, git.cwd, paths["logs/refs/stash"]),
        *_autostashes(git, paths),
    ]
    candidates = {oid for entry in session for oid in (entry.old, entry.new)}
    if branch is not None:
        for entry in parse_reflog(paths["logs/refs/heads"] / branch):
            if since is None or entry.time >= since:
                candidates |= {entry.old, entry.new}
    candidates |= set(per_worktree_refs(git).values())
    exclude = [head] if head else []
    held = _only_reachable_from(git, sorted(candidates - _ZERO), exclude)
    stash_set = {line.split()[0] for line in _only_reachable_from(git, stashes, exclude)}
    parents = set()
    for line in held:
        parents.update(line.split()[1:])
    commits = [line.split()[0] for line in held]
    return History(
        stashes=tuple(dict.fromkeys(s for s in stashes if s in stash_set)),
        reflog_commits=tuple(commits),
        tips=tuple(c for c in commits if c not in parents),
    )


def recorded_stashes(git: Git, admin: Path, worktree: Path) -> list[str]:
    """The refs/stash entries made in a worktree whose directory is gone, judged by the HEAD
    reflog in its administrative directory `admin` as for a live slot (`git` runs in the main
    worktree)."""
    entries = parse_reflog(admin / "logs" / "HEAD")
    stash_log = git_paths(git, "logs/refs/stash")["logs/refs/stash"]
    return _slot_stashes(git, entries, _session(entries)[0], worktree, stash_log)


def _session(entries: list[ReflogEntry]) -> tuple[int | None, list[ReflogEntry]]:
    """(when the slot's current session began, its HEAD reflog entries since): the last
    release mark ends the one before."""
    marks = [i for i, entry in enumerate(entries) if entry.message == RELEASE_MARK]
    if not marks:
        return None, entries
    return entries[marks[-1]].time, entries[marks[-1] + 1 :]


def _slot_stashes(
    git: Git, head_log: list[ReflogEntry], since: int | None, worktree: Path, stash_log: Path
) -> list[str]:
    """The refs/stash entries (their reflog is the file `stash_log`) made in the worktree at
    `worktree` since `since` (see the module docstring)."""
    entries = [e for e in parse_reflog(stash_log) if since is None or e.time >= since]
    if not entries or not head_log:
        return []
    listing = git.out(
        "rev-list", "--no-walk=unsorted", "--parents", "--ignore-missing", "--stdin",
        input="".join(f"{e.new}\n" for e in entries),
    )  # fmt: skip
    base_of = {line.split()[0]: line.split()[1] for line in listing.splitlines() if " " in line}
    here = worktree.resolve()
    elsewhere = {r.branch for r in worktree_records(git) if r.branch and r.path.resolve() != here}
    return [
        e.new
        for e in entries
        if e.new in base_of
        and _named_branch(e.message) not in elsewhere
        and base_of[e.new] in _heads_at(head_log, e.time, autostash=e.message == "autostash")
    ]


def _heads_at(log: list[ReflogEntry], time: int, *, autostash: bool) -> set[str]:
    """The commits HEAD was at during second `time`; with `autostash`, at any time up to it."""
    if autostash:
        return {entry.new for entry in log if entry.time <= time}
    before = [entry.new for entry in log if entry.time < time]
    return {entry.new for entry in log if entry.time == time} | set(before[-1:])


def _named_branch(message: str) -> str | None:
    """The branch a stash entry's message names ("WIP on X: ...", "On X: ..."); git refuses
    ':' in branch names, so the first one ends it."""
    for prefix in ("WIP on ", "On "):
        if message.startswith(prefix):
            return message[len(prefix) :].split(":", 1)[0]
    return None


def _autostashes(git: Git, paths: Mapping[str, Path]) -> list[str]:
    found = []
    for name in AUTOSTASH_FILES:
        path = paths[name]
        if path.is_file():
            found.append(path.read_text(encoding="utf-8", errors="replace").strip())
    return _existing_commits(git, found)


def per_worktree_refs(git: Git) -> dict[str, str]:
    """The worktree's own refs and pseudo-refs that point at commits: name -> commit."""
    listing = git.out(
        "for-each-ref", "--format=%(refname) %(objectname) %(objecttype)", *_PER_WORKTREE_REFS
    )
    pseudo = git.out(
        "cat-file", "--batch-check=%(rest) %(objectname) %(objecttype)",
        input="".join(f"{name} {name}\n" for name in _PSEUDO_REFS),
    )  # fmt: skip
    found = {}
    for line in (*listing.splitlines(), *pseudo.splitlines()):
        name, _, rest = line.partition(" ")
        if rest.endswith(" commit"):
            found[name] = rest.split()[0]
    return found


def _existing_commits(git: Git, names: list[str]) -> list[str]:
    """The commits `names` resolve to, in order; names that are not commits are dropped."""
    if not names:
        return []
    checked = git.out(
        "cat-file", "--batch-check=%(objectname) %(objecttype)",
        input="".join(f"{name}\n" for name in names),
    )  # fmt: skip
    return [line.split()[0] for line in checked.splitlines() if line.endswith(" commit")]


def _only_reachable_from(git: Git, commits: list[str], exclude: list[str]) -> list[str]:
    """`rev-list --parents` lines of the commits reachable from `commits` but from no branch
    and not from `exclude`; objects gc has already removed are skipped."""
    if not commits:
        return []
    listing = git.out(
        "rev-list", "--parents", "--ignore-missing", "--stdin", "--not", "--branches", *exclude,
        input="".join(f"{commit}\n" for commit in commits),
    )  # fmt: skip
    return listing.splitlines()

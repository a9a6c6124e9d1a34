"""The repository's past, read once per HEAD: which files each commit changed, which tasks its
message names, and which files change together.

`git log` is read once and kept in the pool directory keyed by HEAD, so the next `tracks
analyze` reads a small JSON file instead of walking history again. Only the newest
`tasks.history_limit` commits are read: a repository of 100,000 commits costs the same as one
of that many, and old history says least about today's tree. Merges are left out, since a merge
changes everything its branch did and would credit it twice.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from worktree_pool.errors import WtpoolError
from worktree_pool.git.run import Git
from worktree_pool.util.private import replace_private

# A commit that changes more files than this is a sweep (a rename, a reformat, a vendored
# update): what it changed says nothing about which files belong together.
SWEEP_FILES = 40
MAX_MESSAGE = 4_000
ID_SPAN = 1_000  # how much of a message is searched for task ids
# A file changed by more than this share of commits is a hub (see History.hubs); with fewer
# commits than HUB_MIN_COMMITS, no share means much.
HUB_SHARE = 0.25
HUB_MIN_COMMITS = 20
CACHE_NAME = "history-cache.json"
CACHE_VERSION = 2  # 2: names read with -z, unquoted
_RECORD, _FILES = "\x1e", "\x1f"


@dataclass(frozen=True)
class Change:
    commit: str
    message: str
    files: tuple[str, ...]


@dataclass(frozen=True)
class History:
    changes: tuple[Change, ...]  # newest first

    def task_files(
        self, id_pattern: re.Pattern[str], ids: Collection[str]
    ) -> dict[str, Counter[str]]:
        """For each task in `ids` that commit messages name, the files those commits changed."""
        found: dict[str, Counter[str]] = defaultdict(Counter)
        for change in self.changes:
            if len(change.files) > SWEEP_FILES:  # a squash of many tasks, a mass rename
                continue
            for task in named_tasks(change.message, id_pattern, ids):
                found[task].update(change.files)
        return dict(found)

    @cached_property
    def _cochange(self) -> tuple[Counter[str], dict[str, Counter[str]]]:
        alone: Counter[str] = Counter()
        together: dict[str, Counter[str]] = defaultdict(Counter)
        for change in self.changes:
            if len(change.files) > SWEEP_FILES:
                continue
            alone.update(change.files)
            for path in change.files:
                together[path].update(f for f in change.files if f != path)
        return alone, together

    @cached_property
    def hubs(self) -> frozenset[str]:
        """Files that most commits change (a task export, a changelog, a lock file): part of
        every task's work, so they say nothing about any one, and a scope that held them would
        overlap every other."""
        alone, _ = self._cochange
        commits = sum(1 for c in self.changes if len(c.files) <= SWEEP_FILES)
        if commits < HUB_MIN_COMMITS:
            return frozenset()
        return frozenset(path for path, count in alone.items() if count > HUB_SHARE * commits)

    def companions(self, path: str, share: float = 0.5, least: int = 2) -> list[str]:
        """Files changed in at least `share` of the commits that changed `path`, and at least
        `least` times: `x_test.go` for `x.go`."""
        alone, together = self._cochange
        total = alone.get(path, 0)
        return [
            other
            for other, count in together.get(path, Counter()).most_common()
            if count >= least and count >= share * total
        ]


def named_tasks(message: str, id_pattern: re.Pattern[str], ids: Collection[str]) -> set[str]:
    """The task ids `message` names that are tasks of the graph; the pattern's first group, if
    it has one, is the id (so `#12` can name task 12)."""
    found = set()
    # Ids are named at the top of a message; reading no further also bounds what a slow
    # pattern can cost on a long body.
    for match in id_pattern.finditer(message[:ID_SPAN]):
        candidate = match.group(1) if id_pattern.groups else match.group(0)
        if candidate in ids:
            found.add(candidate)
    return found


def read_history(git: Git, head: str, limit: int) -> History:
    text = git.out(
        "log",
        "--no-merges",
        "--no-renames",
        f"-n{limit}",
        f"--format={_RECORD}%H%n%B{_FILES}",
        "--name-only",
        # NUL-terminated names, as ls-tree -z gives the tree's: without it git quotes a name
        # that is not plain ASCII (`"docs/caf\\303\\251.md"`), which matches no tracked file.
        "-z",
        head,
        "--",
    )
    changes = []
    for record in text.split(_RECORD)[1:]:
        commit, _, rest = record.partition("\n")
        message, _, files = rest.partition(_FILES)
        # With -z: the format ends in NUL, then (if the commit changed any) a newline and the
        # names, each ending in NUL.
        names = tuple(f for f in files.removeprefix("\0").removeprefix("\n").split("\0") if f)
        changes.append(Change(commit, message.strip()[:MAX_MESSAGE], names))
    return History(tuple(changes))


def cached_history(git: Git, cache_dir: Path | None, limit: int) -> History:
    """The history behind HEAD, from the cache when HEAD and the limit are what it was kept
    for; an empty history in a repository with no commit."""
    head = git.run("rev-parse", "--verify", "-q", "HEAD", check=False).stdout.strip()
    if not head:
        return History(())
    cache = cache_dir / CACHE_NAME if cache_dir is not None else None
    kept = _load(cache, head, limit)
    if kept is not None:
        return kept
    history = read_history(git, head, limit)
    if cache is not None:
        _store(cache, head, limit, history.changes)
    return history


def _load(cache: Path | None, head: str, limit: int) -> History | None:
    if cache is None:
        return None
    try:
        data = json.loads(cache.read_text(encoding="utf-8"))
        if data["version"] != CACHE_VERSION or data["head"] != head or data["limit"] != limit:
            return None
        return History(tuple(Change(c, m, tuple(f)) for c, m, f in data["changes"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None  # absent, torn or from another version: read history again


def _store(cache: Path, head: str, limit: int, changes: Iterable[Change]) -> None:
    data = {
        "version": CACHE_VERSION,
        "head": head,
        "limit": limit,
        "changes": [[c.commit, c.message, list(c.files)] for c in changes],
    }
    # Private like the rest of the pool directory: commit messages can be confidential.
    with contextlib.suppress(OSError, WtpoolError):  # a cache not written is only slower
        replace_private(cache, json.dumps(data))


def compile_id_pattern(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise WtpoolError(f"tasks.history_ids is not a valid regular expression: {exc}") from exc

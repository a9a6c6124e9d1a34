"""The tracked files of one commit, as build-context detection reads them.

A slot's sparse checkout does not have the manifests it does not show, so they are read from
the commit: `git ls-tree` once for the names and modes (a symbolic link is mode 120000), and
`git cat-file --batch` for contents, only for the files a rule asks about.
"""

from __future__ import annotations

import posixpath
import subprocess
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property

from worktree_pool.git.run import Git
from worktree_pool.scope import guard
from worktree_pool.scope.patterns import compile_rules

SYMLINK_MODE = "120000"
MAX_MANIFEST = 4_000_000  # bytes: a manifest past this is not read


@dataclass
class CommitTree:
    git: Git
    commit: str
    files: frozenset[str] = frozenset()
    links: frozenset[str] = frozenset()
    _contents: dict[str, bytes | None] = field(default_factory=dict)

    @cached_property
    def by_directory(self) -> dict[str, list[str]]:
        """Every directory ('' for the root) with the files anywhere below it."""
        index: dict[str, list[str]] = defaultdict(list)
        for path in self.files:
            directory = posixpath.dirname(path)
            index[""].append(path)
            while directory:
                index[directory].append(path)
                directory = posixpath.dirname(directory)
        return index

    @cached_property
    def _direct(self) -> dict[str, list[str]]:
        index: dict[str, list[str]] = defaultdict(list)
        for path in self.files:
            index[posixpath.dirname(path)].append(path)
        return index

    def directly_in(self, directory: str) -> list[str]:
        """The files directly in `directory` ('' for the root), not below it."""
        return self._direct.get(directory.rstrip("/"), [])

    def under(self, directory: str) -> list[str]:
        return self.by_directory.get(directory.rstrip("/"), [])

    def named(self, name: str) -> list[str]:
        """Every tracked file called `name`, at any depth."""
        return sorted(p for p in self.files if posixpath.basename(p) == name)

    def read(self, path: str) -> bytes | None:
        """A regular file's content; None when it is not one (absent, a link, too big)."""
        if path not in self.files or path in self.links:
            return None
        if path not in self._contents:
            self._contents[path] = self._cat(path)
        return self._contents[path]

    def _cat(self, path: str) -> bytes | None:
        done = subprocess.run(
            ["git", "cat-file", "blob", f"{self.commit}:{path}"],
            cwd=self.git.cwd,
            capture_output=True,
            check=False,
        )
        if done.returncode != 0 or len(done.stdout) > MAX_MANIFEST:
            return None
        return done.stdout


def commit_tree(git: Git, commit: str = "HEAD") -> CommitTree:
    listed = git.run("ls-tree", "-r", "-z", "--full-tree", commit).stdout
    files, links = set(), set()
    for line in listed.split("\0"):
        meta, _, path = line.partition("\t")
        fields = meta.split()
        if len(fields) != 3 or fields[1] != "blob":
            continue
        files.add(path)
        if fields[0] == SYMLINK_MODE:
            links.add(path)
    return CommitTree(git, commit, frozenset(files), frozenset(links))


class WriteScope:
    """Which tracked files the write patterns cover, asked per directory."""

    def __init__(self, patterns: tuple[str, ...], tree: CommitTree) -> None:
        self.patterns = patterns
        self.rules = guard.compiled(compile_rules(patterns)) if patterns else []
        self.tree = tree

    def covers(self, path: str) -> bool:
        return bool(self.rules) and guard.allows(self.rules, path)

    @cached_property
    def files(self) -> frozenset[str]:
        return frozenset(p for p in self.tree.files if self.covers(p))

    def touches(self, directory: str) -> bool:
        """Whether the write scope holds any file under `directory`."""
        prefix = directory.rstrip("/") + "/" if directory else ""
        return any(p.startswith(prefix) for p in self.files)


def inside(base: str, relative: str) -> str | None:
    """`relative` (a manifest's path entry) joined to the directory `base`, normalised; None
    when it leaves the repository."""
    if relative.startswith("/"):
        return None
    joined = (
        posixpath.normpath(posixpath.join(base, relative)) if base else posixpath.normpath(relative)
    )
    if joined == ".":
        return ""
    if joined.startswith("../") or joined == "..":
        return None
    return joined

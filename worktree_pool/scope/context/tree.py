"""The tracked files of one commit, as build-context detection reads them.

A slot's sparse checkout does not have the manifests it does not show, so they are read from
the commit: `git ls-tree` once for the names and modes (a symbolic link is mode 120000), and
`git cat-file --batch` for contents, only for the files a rule asks about.
"""

from __future__ import annotations

import bisect
import posixpath
import re
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
    def _sorted(self) -> list[str]:
        return sorted(self.files)

    @cached_property
    def _direct(self) -> dict[str, list[str]]:
        index: dict[str, list[str]] = defaultdict(list)
        for path in self.files:
            index[path.rpartition("/")[0]].append(path)
        return index

    @cached_property
    def _by_name(self) -> dict[str, list[str]]:
        index: dict[str, list[str]] = defaultdict(list)
        for path in self.files:
            index[path.rpartition("/")[2]].append(path)
        return index

    def directly_in(self, directory: str) -> list[str]:
        """The files directly in `directory` ('' for the root), not below it."""
        return self._direct.get(directory.rstrip("/"), [])

    def under(self, directory: str) -> list[str]:
        """The files anywhere below `directory`: a range of the sorted names, found by bisection
        rather than a scan, since rules ask this of many directories of a large tree."""
        prefix = directory.rstrip("/") + "/"
        start = bisect.bisect_left(self._sorted, prefix)
        end = bisect.bisect_left(self._sorted, prefix[:-1] + "0")  # "0" sorts right after "/"
        return self._sorted[start:end]

    def named(self, name: str) -> list[str]:
        """Every tracked file called `name`, at any depth."""
        return sorted(self._by_name.get(name, []))

    def prefetch(self, paths: list[str]) -> None:
        """Read these files' contents in one `git cat-file --batch`: a workspace of a hundred
        crates is a hundred manifests, and a process each would cost more than the rest."""
        wanted = [
            p for p in paths if p in self.files and p not in self.links and p not in self._contents
        ]
        if not wanted:
            return
        done = subprocess.run(
            ["git", "cat-file", "--batch"],
            cwd=self.git.cwd,
            input="".join(f"{self.commit}:{p}\n" for p in wanted).encode(
                "utf-8", "surrogateescape"
            ),
            capture_output=True,
            check=False,
        )
        output, at = done.stdout, 0
        for path in wanted:
            end = output.find(b"\n", at)
            if end < 0:
                break
            header = output[at:end].split()
            at = end + 1
            if len(header) != 3 or header[1] != b"blob":  # "missing", or not a file
                self._contents[path] = None
                continue
            size = int(header[2])
            content = output[at : at + size]
            at += size + 1  # the newline after each object
            self._contents[path] = content if size <= MAX_MANIFEST else None

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
        """The tracked files the write scope covers. Only files below each pattern's literal
        directory can match it, so only those are tried: a scope is a corner of a large tree."""
        candidates: set[str] = set()
        for pattern in self.patterns:
            if not pattern.startswith("!"):
                candidates.update(self._candidates(pattern))
        return frozenset(p for p in candidates if self.covers(p))

    def _candidates(self, pattern: str) -> list[str] | frozenset[str]:
        """The files `pattern` (anchored at the root) could match."""
        body = pattern.removesuffix("/**").rstrip("/")
        glob = re.search(r"[*?\[]", body)
        if glob is None:  # a literal: that file, or everything below that directory
            return [body] if body in self.tree.files else self.tree.under(body)
        directory = body[: glob.start()].rpartition("/")[0]
        if body.startswith("**") or "**" in body[: glob.start() + 2]:
            return self.tree.under(directory) if directory else self.tree.files
        return self.tree.under(directory) if directory else self.tree.directly_in("")

    def touches(self, directory: str) -> bool:
        """Whether the write scope holds any file under `directory`."""
        if not directory:
            return bool(self.files)
        return any(self.covers(p) for p in self.tree.under(directory))


def inside(base: str, relative: str) -> str | None:
    """`relative` (a manifest's path entry) joined to the directory `base`, normalised; None
    when it leaves the repository."""
    if relative.startswith("/"):
        return None
    joined = posixpath.normpath(posixpath.join(base, relative))
    if joined == ".":
        return ""
    if joined.startswith("../") or joined == "..":
        return None
    return joined

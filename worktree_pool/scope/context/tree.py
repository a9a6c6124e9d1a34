"""The tracked tree indexed once by directory and by name, and which of it the write scope
covers.

Detection asks "which Cargo.toml files are there", "what is directly in this directory", "is
anything under this directory in scope" many times. Answering each by scanning every tracked
path would cost O(files x questions), which on a 50,000-file tree is seconds; here each is a
dictionary or a bisection over the sorted paths.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable

from worktree_pool.scope.patterns import compile_rules, is_literal

_GLOB = re.compile(r"[*?\[\\]")


def parent(path: str) -> str:
    """The directory of a path; "" is the root."""
    return path.rpartition("/")[0]


def join(directory: str, name: str) -> str:
    return f"{directory}/{name}" if directory else name


def ancestors(directory: str) -> Iterable[str]:
    """The directory itself, then each one above it, ending with the root ""."""
    while directory:
        yield directory
        directory = parent(directory)
    yield ""


def inside(base: str, relative: str) -> str | None:
    """`relative` (a manifest's path, from directory `base`) as a repository path; None when
    it leaves the repository or is absolute, which a view must never include."""
    if not relative or relative.startswith("/") or "\\" in relative or "\0" in relative:
        return None
    joined = posixpath.normpath(posixpath.join(base or ".", relative))
    if joined == ".":
        return ""
    if joined == ".." or joined.startswith("../"):
        return None
    return joined


class Tree:
    """The tracked paths of one commit, indexed once."""

    def __init__(self, files: frozenset[str]) -> None:
        self.files = files
        self._sorted = sorted(files)
        self._names_in: dict[str, list[str]] = defaultdict(list)  # dir -> names of its files
        self._subdirs: dict[str, list[str]] = defaultdict(list)  # dir -> its child dirs
        self._by_name: dict[str, list[str]] = defaultdict(list)  # file name -> paths
        self.directories: set[str] = {""}
        for path in self._sorted:
            directory, _, name = path.rpartition("/")
            self._names_in[directory].append(name)
            self._by_name[name].append(path)
            # Register the directory and its ancestors; stop at the first one already known,
            # so the whole loop is O(directories), not O(files x depth).
            while directory not in self.directories:
                self.directories.add(directory)
                up = parent(directory)
                self._subdirs[up].append(directory)
                directory = up

    def names_in(self, directory: str) -> list[str]:
        """The names of the files directly in a directory."""
        return self._names_in.get(directory, [])

    def named(self, name: str) -> list[str]:
        """Every tracked path whose file name is `name`, sorted."""
        return self._by_name.get(name, [])

    def under(self, directory: str) -> list[str]:
        """Every tracked file below a directory (all of them for the root)."""
        if not directory:
            return self._sorted
        # "0" follows "/" in code-point order: [dir/, dir0) is exactly what lies below dir/.
        low = bisect_left(self._sorted, directory + "/")
        return self._sorted[low : bisect_left(self._sorted, directory + "0", low)]

    def glob_directories(self, pattern: str) -> list[str]:
        """Directories matching a workspace-members glob (`crates/*`, `packages/**`, `app`),
        segment by segment over the directory index, never over every file."""
        found = [""]
        for segment in [s for s in pattern.split("/") if s not in ("", ".")]:
            if segment == "**":
                # Any depth, this level included: every directory below those found so far.
                deeper: list[str] = []
                stack = list(found)
                while stack:
                    directory = stack.pop()
                    deeper.append(directory)
                    stack.extend(self._subdirs.get(directory, []))
                found = deeper
            elif _GLOB.search(segment):
                found = [
                    child
                    for directory in found
                    for child in self._subdirs.get(directory, [])
                    if fnmatch.fnmatchcase(child.rpartition("/")[2], segment)
                ]
            else:
                found = [d for d in (join(f, segment) for f in found) if d in self.directories]
        return sorted(set(found))


class Coverage:
    """What the write scope covers: the tracked files it matches, and the directories it
    works in, which is where detection starts from.

    A literal pattern that matches nothing tracked is a file or directory still to be created:
    its directory is worked in all the same, so a scope of `crates/a/src/new.rs` still finds
    crate a.
    """

    def __init__(self, tree: Tree, write: tuple[str, ...]) -> None:
        rules = [(re.compile(regex), include) for regex, include in compile_rules(write)]
        candidates: set[str] = set()
        for pattern in write:
            if not pattern.startswith("!"):
                candidates.update(tree.under(_fixed_prefix(pattern)))
                if is_literal(pattern):
                    candidates.add(pattern.rstrip("/"))
        self.files = frozenset(path for path in candidates & tree.files if _allows(rules, path))
        points = set(self.files)
        for pattern in write:
            literal = pattern.rstrip("/")
            if is_literal(pattern) and not (literal in tree.files or literal in tree.directories):
                # Still to be created: a new directory is worked in itself, a new file in its
                # directory.
                points.add(literal + "/" if pattern.endswith("/") else literal)
        self.directories = frozenset(
            point[:-1] if point.endswith("/") else parent(point) for point in points
        )
        # Every directory on the way up from one the scope works in, the root included.
        self.ancestry: set[str] = set()
        for directory in self.directories:
            for up in ancestors(directory):
                if up in self.ancestry:
                    break
                self.ancestry.add(up)
        self._tree = tree

    def covers_directory(self, directory: str) -> bool:
        """Whether every tracked file below a directory (at least one) is in scope already."""
        below = self._tree.under(directory)
        return bool(below) and all(path in self.files for path in below)


def owners(directories: Iterable[str], homes: set[str]) -> set[str]:
    """For each directory, the nearest one at or above it that is in `homes` (the directories
    holding a Cargo.toml, a package.json, a go.mod...): the projects they belong to."""
    return {owner for owner in owned(directories, homes).values() if owner is not None}


def owned(directories: Iterable[str], homes: set[str]) -> dict[str, str | None]:
    """Each directory -> the nearest home at or above it (None: it belongs to none)."""
    memo: dict[str, str | None] = {}
    result = {}
    for directory in directories:
        walked = []
        owner: str | None = None
        for up in ancestors(directory):
            if up in memo:
                owner = memo[up]
                break
            walked.append(up)
            if up in homes:
                owner = up
                break
        for step in walked:
            memo[step] = owner
        result[directory] = owner
    return result


def _fixed_prefix(pattern: str) -> str:
    """The directory a pattern cannot match outside of: its segments before the first glob."""
    fixed = []
    for segment in pattern.rstrip("/").split("/"):
        if _GLOB.search(segment):
            return "/".join(fixed)
        fixed.append(segment)
    return "/".join(fixed)


def _allows(rules: list[tuple[re.Pattern[str], bool]], path: str) -> bool:
    """gitignore evaluation, as the guard does it: the last matching rule decides."""
    allowed = False
    for regex, include in rules:
        if regex.match(path):
            allowed = include
    return allowed

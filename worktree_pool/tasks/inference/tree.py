"""The repository's tree as inference sees it: its files, its directories, and the words its
paths are made of.

A path written in a task is often relative to a sub-project (`src/meal_planner/web.gleam` for
`gleam/src/meal_planner/web.gleam`) or names a directory. `resolve` finds what it means by
exact match first, then by unique suffix on component boundaries: a suffix two places share
names neither.
"""

from __future__ import annotations

import posixpath
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property

from worktree_pool.tasks.inference.text import split_identifier


def parent(path: str) -> str:
    """The directory holding `path`, `` for the root."""
    return posixpath.dirname(path)


def ancestors(path: str) -> list[str]:
    """Every directory above `path`, innermost first, without the root."""
    found = []
    directory = parent(path)
    while directory:
        found.append(directory)
        directory = parent(directory)
    return found


def path_words(path: str) -> list[str]:
    """The words of a path's components: directory names, and the file's stem and extension
    split like identifiers."""
    found: list[str] = []
    for component in path.split("/"):
        found += split_identifier(component)
    return found


@dataclass
class TreeIndex:
    files: tuple[str, ...]
    file_set: frozenset[str] = field(init=False)
    # Every directory, with how many files lie under it (at any depth).
    sizes: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.file_set = frozenset(self.files)
        # Files counted per directory first, then each directory's count added to those above
        # it: O(directories x depth), not O(files x depth), on trees of 100,000 files.
        direct: dict[str, int] = defaultdict(int)
        for path in self.files:
            direct[path.rpartition("/")[0]] += 1
        sizes: dict[str, int] = defaultdict(int)
        for directory, count in direct.items():
            while directory:
                sizes[directory] += count
                directory = directory.rpartition("/")[0]
        self.sizes = dict(sizes)

    @cached_property
    def _suffixes(self) -> dict[str, set[str]]:
        """Every proper suffix of every file and directory path, on component boundaries, with
        the paths that end in it."""
        table: dict[str, set[str]] = defaultdict(set)
        for path in (*self.files, *self.sizes):
            parts = path.split("/")
            for start in range(1, len(parts)):
                table["/".join(parts[start:])].add(path)
        return table

    def is_dir(self, path: str) -> bool:
        return path in self.sizes

    def resolve(self, token: str) -> str | None:
        """The tracked file or directory `token` names: itself, or the one path that ends in it."""
        token = token.rstrip("/")
        if token in self.file_set or token in self.sizes:
            return token
        matches = self._suffixes.get(token, set())
        # A bare file name (no `/`) that only matches by suffix is believed only when unique
        # and not a name every package has (`main.go`, `__init__.py`): uniqueness decides both.
        return next(iter(matches)) if len(matches) == 1 else None

    def resolve_new(self, token: str) -> str | None:
        """A path that does not exist yet under a directory that does: `internal/x/new.go`,
        or `x/new.go` when `x` names one directory by unique suffix. A new file in a new
        directory stands for the whole new directory, `internal/newpkg/`, since the files a
        task adds beside it go there too and nobody else has them. None when no directory of
        the token is tracked, or when the token is neither a file (it has an extension) nor a
        directory (it ends in `/`): `store/scheduler` in prose is words, not a path."""
        parts = token.rstrip("/").split("/")
        if not token.endswith("/") and "." not in parts[-1].lstrip("."):
            return None
        for depth in range(len(parts) - 1, 0, -1):
            found = self.resolve("/".join(parts[:depth]))
            if found is None or not self.is_dir(found):
                continue
            rest = parts[depth:]
            if len(rest) > 1 or token.endswith("/"):
                return f"{found}/{rest[0]}/"
            return f"{found}/{rest[0]}"
        return None

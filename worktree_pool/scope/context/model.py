"""What detection returns, what it reads, and the notebook it keeps while it reads.

A context entry is a pattern plus the reason it is there, so `wtpool filter show` can say which
manifest or import pulled each path in. Problems are lines, not exceptions: detection runs on
whatever a repository holds, and a malformed manifest must narrow the view, never stop a spawn.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from worktree_pool.scope.context.tree import Tree, inside, join
from worktree_pool.scope.patterns import escape


@dataclass(frozen=True)
class ContextEntry:
    pattern: str  # anchored at the repository root: a file path, or a directory as `dir/`
    reason: str  # why, naming the manifest or import that pulled it in
    lockfile: bool = False  # a lock file: may be written when it is its own regeneration


@dataclass(frozen=True)
class BuildContext:
    entries: tuple[ContextEntry, ...]
    problems: tuple[str, ...]  # one line each, naming the file

    @property
    def patterns(self) -> tuple[str, ...]:
        """Unique and sorted; whole sources are `dir/`, which cone mode can express."""
        return tuple(sorted({entry.pattern for entry in self.entries}))


class TreeReader(Protocol):
    """The tracked files of one commit: what detection reads. A sparse slot does not have the
    files on disk, so detection never looks at a working tree."""

    files: frozenset[str]

    @property
    def tree(self) -> Tree:
        """The files, indexed (built once per reader)."""
        ...

    def read(self, path: str) -> bytes | None:
        """A tracked regular file's content; None if absent or not a regular file."""
        ...

    def is_symlink(self, path: str) -> bool: ...


class Findings:
    """Entries and problems as detection finds them, and the manifest reads that report their
    own failures: each detector reads through here, so every bad file becomes one problem
    line naming it, once, and the detector just moves on with None."""

    def __init__(self, reader: TreeReader) -> None:
        self.reader = reader
        self._entries: dict[str, ContextEntry] = {}
        self._problems: dict[str, None] = {}  # ordered and unique

    def file(self, path: str, reason: str, *, lockfile: bool = False) -> None:
        """A single file; a symbolic link is reported instead: shown, it would let a build
        read wherever it points, outside the repository too."""
        if self.reader.is_symlink(path):
            self.problem(f"{path} is a symbolic link: not followed")
        else:
            self._add(escape(path), reason, lockfile)

    def directory(self, path: str, reason: str) -> None:
        """A whole directory; never the root, which would be the whole tree."""
        if path:
            self._add(escape(path) + "/", reason, False)

    def _add(self, pattern: str, reason: str, lockfile: bool) -> None:
        # The first reason found is kept: detectors run nearest-first, so it is the direct one.
        known = self._entries.get(pattern)
        if known is None:
            self._entries[pattern] = ContextEntry(pattern, reason, lockfile)
        elif lockfile and not known.lockfile:
            self._entries[pattern] = ContextEntry(pattern, known.reason, True)

    def path_dependencies(
        self, project: str, manifest: str, tables: Iterable[dict[str, Any]], marker: str = ""
    ) -> Iterator[tuple[str, str, str]]:
        """(name, path as written, repository path) of every `{path = ...}` dependency in
        `tables`; one that leaves the repository, or goes through a symbolic link (itself, or
        its `marker` manifest), is a problem instead, and never followed."""
        for dependencies in tables:
            for name, spec in dependencies.items():
                path = spec.get("path") if isinstance(spec, dict) else None
                if not isinstance(path, str):
                    continue
                where = inside(project, path)
                if where is None:
                    self.problem(
                        f"path dependency {name!r} ({path}) is outside the repository ({manifest})"
                    )
                elif self.reader.is_symlink(where) or (
                    marker and self.reader.is_symlink(join(where, marker))
                ):
                    self.problem(
                        f"path dependency {name!r} ({path}) is a symbolic link: not followed"
                        f" ({manifest})"
                    )
                else:
                    yield name, path, where

    def problem(self, line: str) -> None:
        self._problems[line] = None

    @property
    def entries(self) -> list[ContextEntry]:
        return list(self._entries.values())

    @property
    def problems(self) -> tuple[str, ...]:
        return tuple(self._problems)

    def text(self, path: str) -> str | None:
        """A tracked file as text; a symbolic link is reported and not followed (it could point
        anywhere, outside the repository too), and so is a file that is not UTF-8."""
        if self.reader.is_symlink(path):
            self.problem(f"{path} is a symbolic link: not followed")
            return None
        raw = self.reader.read(path)
        if raw is None:
            return None
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            self.problem(f"{path} is not UTF-8 text: not read")
            return None

    def toml(self, path: str) -> dict[str, object] | None:
        text = self.text(path)
        if text is None:
            return None
        try:
            return tomllib.loads(text)
        except (tomllib.TOMLDecodeError, RecursionError) as exc:  # a hostile nest is bad input
            self.problem(f"{path} is not valid TOML ({exc}): not followed")
            return None

    def json_object(self, path: str) -> dict[str, object] | None:
        text = self.text(path)
        if text is None:
            return None
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:  # a hostile nest is bad input too
            self.problem(f"{path} is not valid JSON ({exc}): not followed")
            return None
        if not isinstance(data, dict):
            self.problem(f"{path} is not a JSON object: not followed")
            return None
        return data


def table(data: object, *keys: str) -> dict[str, object]:
    """The table at `keys`, or an empty one when any step is missing or not a table: manifests
    are the repository's content, and a wrong type is read as absent, not raised."""
    for key in keys:
        data = data.get(key) if isinstance(data, dict) else None
    return data if isinstance(data, dict) else {}


def strings(value: object) -> list[str]:
    """The strings of a list (others dropped); a lone string is not a list of paths."""
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []

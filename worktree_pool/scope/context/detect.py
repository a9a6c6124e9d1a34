"""The build context of a write scope: every detector run over one indexed tree, and the
result trimmed to what the write scope does not already show.

Each detector looks for its own build system and adds nothing when there is none. Each reads
the repository's content, which may be anything, so none of them raises on it: what cannot be
read is a problem line naming the file, and the others carry on. When one manifest is bad,
the view still has everything else that was found, and at least the top-level build files.
"""

from __future__ import annotations

from collections.abc import Callable

from worktree_pool.scope.context import cargo, generic, golang, node, python
from worktree_pool.scope.context.model import BuildContext, ContextEntry, Findings, TreeReader
from worktree_pool.scope.context.tree import Coverage, Tree

Detector = Callable[[Tree, Coverage, Findings], None]
# Generic last: a path found twice keeps its first reason, and the language detectors' are
# the precise ones ("root manifest of the Cargo workspace", not "top-level manifest").
DETECTORS: tuple[tuple[str, Detector], ...] = (
    ("Cargo", cargo.detect),
    ("Python", python.detect),
    ("Node", node.detect),
    ("Go", golang.detect),
    ("top-level build files", generic.detect),
)


def build_context(reader: TreeReader, write: tuple[str, ...]) -> BuildContext:
    """What a build of the files the write patterns cover needs to see, beyond them."""
    tree = reader.tree
    coverage = Coverage(tree, write)
    found = Findings(reader)
    for name, detector in DETECTORS:
        try:
            detector(tree, coverage, found)
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
            # The detectors check every type they read, so this is a manifest shape nobody
            # foresaw: a narrower view and a line saying why beats a spawn that fails.
            found.problem(f"{name} detection stopped early: {type(exc).__name__}: {exc}")
    return BuildContext(_beyond(found.entries, coverage), found.problems)


def _beyond(entries: list[ContextEntry], coverage: Coverage) -> tuple[ContextEntry, ...]:
    """The entries the write scope does not already show, without files that a directory
    entry shows anyway (a lock file keeps its entry: its flag says it may be written)."""
    directories = {e.pattern for e in entries if e.pattern.endswith("/")}
    kept = []
    for entry in sorted(entries, key=lambda e: e.pattern):
        path = _unescaped(entry.pattern)
        if entry.pattern.endswith("/"):
            if coverage.covers_directory(path.rstrip("/")):
                continue
            if _enclosed(entry.pattern, directories):
                continue
        else:
            if path in coverage.files:
                continue
            if not entry.lockfile and _enclosed(entry.pattern, directories):
                continue
        kept.append(entry)
    return tuple(kept)


def _enclosed(pattern: str, directories: set[str]) -> bool:
    """Whether a directory pattern lies strictly above `pattern`."""
    cut = pattern.rstrip("/")
    while "/" in cut:
        cut = cut.rpartition("/")[0]
        if cut + "/" in directories:
            return True
    return False


def _unescaped(pattern: str) -> str:
    """The path a context pattern names (patterns.escape, undone)."""
    out, escaped = [], False
    for char in pattern:
        if char == "\\" and not escaped:
            escaped = True
            continue
        out.append(char)
        escaped = False
    return "".join(out)

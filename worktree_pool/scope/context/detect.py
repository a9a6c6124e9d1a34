"""The build context: every build system's rules, merged into one view.

Each rule module reads the tree at a commit and says what a build of the write scope needs;
an entry the write scope already covers is left out, and an entry already inside a directory
entry too, so the view is as small as it is explained.
"""

from __future__ import annotations

from dataclasses import dataclass

from worktree_pool.git.run import Git
from worktree_pool.scope.context import cargo, golang, node, python, tooling
from worktree_pool.scope.context.found import ContextEntry, Found
from worktree_pool.scope.context.tree import CommitTree, WriteScope, commit_tree

RULES = (cargo.detect, python.detect, node.detect, golang.detect, tooling.detect)


@dataclass(frozen=True)
class BuildContext:
    entries: tuple[ContextEntry, ...]
    problems: tuple[str, ...]

    @property
    def patterns(self) -> tuple[str, ...]:
        return tuple(sorted({e.pattern for e in self.entries}))


def commit_reader(git: Git, commit: str = "HEAD") -> CommitTree:
    return commit_tree(git, commit)


def build_context(tree: CommitTree, write: tuple[str, ...]) -> BuildContext:
    scope = WriteScope(write, tree)
    found = Found()
    for rule in RULES:
        try:
            found.merge(rule(tree, scope))
        except RecursionError:  # a pathological tree: what the other rules found still holds
            found.problems.append(f"{rule.__module__} gave up on this tree")
    directories = {e.pattern for e in found.entries if e.pattern.endswith("/")}
    kept: dict[str, ContextEntry] = {}
    for entry in found.entries:
        if entry.pattern in kept or _covered(entry.pattern, scope, directories):
            continue
        kept[entry.pattern] = entry
    return BuildContext(tuple(kept.values()), tuple(dict.fromkeys(found.problems)))


def _covered(pattern: str, scope: WriteScope, directories: set[str]) -> bool:
    """Whether the write scope or a directory entry already shows `pattern`."""
    if not pattern.endswith("/") and scope.covers(pattern):
        return True
    if pattern.endswith("/") and pattern.rstrip("/") in {p.rstrip("/") for p in scope.patterns}:
        return True
    return any(pattern != d and pattern.startswith(d) for d in directories)

"""Which files a slot's scope shows, and git's sparse checkout set to show just those.

A scope is shown with `git sparse-checkout set` in the slot. Cone mode when every pattern is a
directory or a root-level file (cone mode always shows root files), non-cone otherwise, which
costs O(files x patterns) on large trees and gives up the sparse index, so that every git
command in the slot then reads an entry per file of the tree. A view's read-only files (a
workspace member's manifest) may instead show their whole directories, when that adds at most
one file for every `_WIDENING_SHARE` files of the tree: in cone mode a few more files to read
cost less than non-cone patterns for the slot's whole life. All of it lives in the slot's own
`config.worktree` and `info/sparse-checkout`; the main worktree and the other slots never see it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from worktree_pool.git.run import Git, resolve
from worktree_pool.git.tree_listing import tree_listing
from worktree_pool.scope import guard
from worktree_pool.scope.patterns import (
    anchored,
    compile_rules,
    is_directory,
    is_literal,
    is_root_file,
)


@dataclass(frozen=True)
class ContextPath:
    """A path of the view that is not in the write scope: shown to build with, not committed
    (unless it is a lock file and lock files are writable)."""

    pattern: str
    reason: str  # which manifest, import or setting brought it in
    lockfile: bool = False


@dataclass(frozen=True)
class ScopePlan:
    """How a scope is applied: None patterns means no scope, the whole tree.

    Two sets: the *write scope* (`combined`: the task's patterns and `scope.always_include`)
    is what the agent may commit, and what reservations and overlap between tracks are about;
    the *view* adds the build context (`context`), which the sparse checkout shows so the slot
    can build and run its tests, but which the guard does not let the agent commit.
    """

    patterns: tuple[str, ...] | None
    always_include: tuple[str, ...]
    mode: str  # "full", "cone" or "non-cone"
    cone_dirs: tuple[str, ...] = ()
    unmatched: tuple[str, ...] = ()  # the task's patterns that match no tracked file
    # The files of the slot's commit, as listed to make this plan (empty for "full").
    tracked: frozenset[str] = field(default=frozenset(), compare=False, repr=False)
    context: tuple[ContextPath, ...] = ()
    context_problems: tuple[str, ...] = ()  # what detection could not read, one line each
    lockfiles_writable: bool = True

    @property
    def combined(self) -> tuple[str, ...]:
        """The write scope."""
        if self.patterns is None:
            return ()
        return tuple(dict.fromkeys((*self.patterns, *self.always_include)))

    @property
    def writable(self) -> tuple[str, ...]:
        """What the guard lets the agent commit: the write scope, and the view's lock files
        when those are writable (a dependency change rewrites them)."""
        locks = [c.pattern for c in self.context if c.lockfile and self.lockfiles_writable]
        return tuple(dict.fromkeys((*self.combined, *locks)))

    @property
    def read_only(self) -> tuple[str, ...]:
        """The view's patterns the agent may read but not commit."""
        writable = set(self.writable)
        return tuple(dict.fromkeys(c.pattern for c in self.context if c.pattern not in writable))

    @property
    def view(self) -> tuple[str, ...]:
        if self.patterns is None:
            return ()
        return tuple(dict.fromkeys((*self.combined, *(c.pattern for c in self.context))))

    def sparse_lines(self) -> list[str]:
        if self.mode == "cone":
            return list(self.cone_dirs)
        return [anchored(pattern) for pattern in self.view]


def plan_scope(
    git: Git,
    patterns: tuple[str, ...] | None,
    always: tuple[str, ...],
    context: tuple[ContextPath, ...] = (),
    problems: tuple[str, ...] = (),
    lockfiles_writable: bool = True,
) -> ScopePlan:
    if patterns is None:
        return ScopePlan(None, always, "full")
    tracked, tracked_directories = _tracked_tree(git)
    write = tuple(dict.fromkeys((*patterns, *always)))
    combined = tuple(dict.fromkeys((*write, *(c.pattern for c in context))))
    directories = {
        pattern.removesuffix("/**").removesuffix("/")
        for pattern in combined
        if is_directory(pattern, tracked_directories)
    }
    # The patterns cone mode cannot show as they are.
    misfits = {p for p in combined if not (is_directory(p, tracked_directories) or is_root_file(p))}
    cone = not misfits
    if misfits and (widened := _widened_context(write, misfits, tracked, directories)):
        directories |= widened
        cone = True
    # Git keeps only the outermost of nested cone directories; so do we, to compare equal.
    outermost = sorted(
        d for d in directories if not any(d.startswith(other + "/") for other in directories)
    )
    return ScopePlan(
        patterns=patterns,
        always_include=always,
        mode="cone" if cone else "non-cone",
        cone_dirs=tuple(outermost) if cone else (),
        tracked=tracked,
        unmatched=tuple(
            p
            for p in patterns
            if not p.startswith("!") and not _matches(p, tracked, tracked_directories)
        ),
        context=context,
        context_problems=problems,
        lockfiles_writable=lockfiles_writable,
    )


# Widening a view's files to their directories may add one file for this many of the tree.
_WIDENING_SHARE = 20


def _widened_context(
    write: tuple[str, ...], misfits: set[str], tracked: frozenset[str], cone_dirs: set[str]
) -> set[str] | None:
    """The directories of the `misfits` (patterns cone mode cannot show), when showing them
    whole keeps the slot in cone mode cheaply (see the module docstring); else None. Only
    tracked context files widen, never the write scope; the guard still allows only what the
    plan calls writable (a lock file among them). The cost counted is the widened directories'
    files; cone mode also shows the files directly in each of their parents (`crates/*`),
    which the tree's other cone directories mostly show already."""
    if any(p in write or not is_literal(p) or p not in tracked for p in misfits):
        return None
    widened = {path.rpartition("/")[0] for path in misfits}
    added = _files_below(tracked, widened - {d for d in widened if _covered(d, cone_dirs)})
    return widened if added * _WIDENING_SHARE <= len(tracked) else None


def _covered(directory: str, cone_dirs: set[str]) -> bool:
    return any(directory == cone or directory.startswith(f"{cone}/") for cone in cone_dirs)


def _files_below(tracked: frozenset[str], directories: set[str]) -> int:
    """How many tracked files lie below any of `directories`, in one pass over the tree."""
    tops = {directory.split("/", 1)[0] for directory in directories}
    count = 0
    for path in tracked:
        if path.split("/", 1)[0] not in tops:
            continue
        parent = path.rpartition("/")[0]
        while parent and parent not in directories:
            parent = parent.rpartition("/")[0]
        count += bool(parent)
    return count


def tracked_files(git: Git) -> frozenset[str]:
    """The files of the slot's commit; unlike the index, unaffected by a sparse index."""
    return _tracked_tree(git)[0]


def _tracked_tree(git: Git) -> tuple[frozenset[str], frozenset[str]]:
    """The files of the commit checked out where `git` runs, and their directories."""
    oid = resolve(git, "HEAD")
    if oid is None:  # no commit yet: nothing tracked
        return frozenset(), frozenset()
    listing = tree_listing(git, oid)
    return listing.paths, listing.directories


def _matches(pattern: str, tracked: frozenset[str], directories: frozenset[str]) -> bool:
    literal = pattern.removesuffix("/**").removesuffix("/")
    if is_literal(literal):
        return literal in tracked or literal in directories  # a set lookup, not a scan
    rules = guard.compiled(compile_rules((pattern,)))
    return any(guard.allows(rules, path) for path in tracked)


def show_only(git: Git, plan: ScopePlan, sparse_index: bool) -> None:
    """Set the sparse checkout of the worktree `git` runs in to the planned files."""
    if plan.mode == "full":
        if sparse_enabled(git):
            git.run("sparse-checkout", "disable")
    else:
        mode = ["--cone"] if plan.mode == "cone" else ["--no-cone"]
        index = ["--sparse-index"] if plan.mode == "cone" and sparse_index else []
        lines = "".join(f"{line}\n" for line in plan.sparse_lines())
        # --stdin rather than arguments: a pattern may begin with '!' or '-'.
        git.run(
            "sparse-checkout",
            "set",
            *mode,
            *(index or ["--no-sparse-index"]),
            "--stdin",
            input=lines,
        )


def sparse_enabled(git: Git) -> bool:
    return (
        git.run("config", "--get", "--bool", "core.sparseCheckout", check=False).stdout.strip()
        == "true"
    )

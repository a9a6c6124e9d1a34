"""From files to patterns: the fewest cone-friendly patterns that cover a set of files.

Sparse checkout stays in cone mode while every pattern is a directory, and a directory also
covers the files a task will add beside the ones it names. So a directory most of whose files
are chosen becomes `dir/`; the rest stay single files. Directories collapse upward the same way,
so `a/b/` and `a/c/` become `a/` when together they are most of `a`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Collection, Iterable

from worktree_pool.tasks.inference.tree import TreeIndex, parent

# "Most of a directory": the share of its files that must be chosen for `dir/` to replace them,
# and never fewer than MIN_FILES of them.
MOST = 0.5
MIN_FILES = 2


def to_patterns(
    chosen: Iterable[str],
    tree: TreeIndex,
    most: float = MOST,
    fenced: Collection[str] = frozenset(),
    budget: float = math.inf,
) -> tuple[str, ...]:
    """Patterns for the chosen files and directories (a directory given ends in `/`). Files the
    tree lacks (ones a task will create) stay single files unless their directory is chosen.

    No directory in `fenced` (one holding the task source or a hub) is grown into: `dir/`
    would take the file no scope may hold along with the chosen ones beside it. Nor is one
    whose growth would take the scope past `budget` tracked files, nor one where a single
    file is chosen: two tasks that each edit one file of a small directory must not both
    claim all of it."""
    directories = {c.rstrip("/") for c in chosen if c.endswith("/")}
    files = {c for c in chosen if not c.endswith("/")}
    size = sum(tree.sizes.get(d, 1) for d in directories) + len(files)
    while True:
        covered = _covered_counts(files, directories, tree)
        grown = False
        for directory, count in sorted(covered.items(), key=lambda dc: (-dc[1], dc[0])):
            whole = tree.sizes[directory]
            wider = size - count + whole
            if directory in fenced or count < max(MIN_FILES, most * whole) or wider > budget:
                continue
            directories.add(directory)
            size, grown = wider, True
            break  # the counts changed: look again
        if not grown:
            break
    directories = {d for d in directories if not any(_inside(d, other) for other in directories)}
    loose = {f for f in files if not any(_inside(f, d) for d in directories)}
    return tuple(sorted(f"{d}/" for d in directories)) + tuple(sorted(loose))


def _covered_counts(files: set[str], directories: set[str], tree: TreeIndex) -> dict[str, int]:
    """For each directory holding something chosen, how many of its tracked files are."""
    counts: dict[str, int] = defaultdict(int)
    for path in files:
        if path in tree.file_set and parent(path):
            counts[parent(path)] += 1
    for directory in directories:
        if parent(directory) and directory in tree.sizes:
            counts[parent(directory)] += tree.sizes[directory]
    return {d: n for d, n in counts.items() if d in tree.sizes and d not in directories}


def _inside(path: str, directory: str) -> bool:
    return path != directory and path.startswith(directory + "/")

"""The untracked and ignored paths of a worktree that gitignore-style patterns name.

One `git ls-files --others --ignored --directory --exclude=...` walk with the given patterns
only (not the repository's .gitignore: a pattern names what it names, ignored or not). git never
lists a tracked file here, does not descend into a matching directory (it lists `node_modules/`,
not its 50,000 files) nor into a nested repository, and the pool directory is excluded from the
walk. git also lists a directory whose every file matches (`sub/` around `sub/node_modules/`):
each path is checked against the patterns again, and only what they match is kept.
"""

from __future__ import annotations

from worktree_pool.git.repo import POOL_DIR_NAME
from worktree_pool.git.run import Git

POOL_EXCLUDE = f":(exclude,top){POOL_DIR_NAME}"


def untracked_matching(git: Git, patterns: tuple[str, ...]) -> list[str]:
    """Paths relative to the worktree, directories with a trailing `/`, outermost only."""
    if not patterns:
        return []
    from pathspec import GitIgnoreSpec  # only where copies are configured

    excludes = [f"--exclude={pattern}" for pattern in patterns]
    listed = git.out(
        "ls-files",
        "-z",
        "--others",
        "--ignored",
        "--directory",
        *excludes,
        "--",
        ".",
        POOL_EXCLUDE,
    ).split("\0")
    spec = GitIgnoreSpec.from_lines(patterns)
    kept: list[str] = []
    for path in sorted(filter(None, listed)):
        if spec.match_file(path) and not any(path.startswith(k) for k in kept if k.endswith("/")):
            kept.append(path)
    return kept

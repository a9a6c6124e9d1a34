"""What `git status` says about a worktree's index, its HEAD and its branch, in one call.

Salvage asks this of every slot before it goes, so one `--porcelain=v2 --branch` call stands
for four: the changes, HEAD's commit, the branch HEAD names, and whether that commit exists.
Status compares the index with HEAD by walking every top-level entry of a sparse index (16 ms at
500 top-level directories). When the index records exactly HEAD's tree (index_file.py: an idle
or untouched slot's does), nothing is staged, and `git diff`, made to refresh stale stat data
as status always does (`diff.autoRefreshIndex` may say otherwise), gives the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from worktree_pool.git.index_file import records_tree
from worktree_pool.git.run import Git

# Fields before the path: "1 XY sub mH mI mW hH hI path", "u XY sub m1 m2 m3 mW h1 h2 h3 path".
_FIELDS_BEFORE_PATH = {"1": 8, "u": 10}


@dataclass(frozen=True)
class WorktreeStatus:
    staged: tuple[str, ...]  # paths whose index entry differs from HEAD (or is unmerged)
    unstaged: tuple[str, ...]  # paths whose file differs from the index (or is unmerged)
    head: str | None  # HEAD's commit; None when its branch is unborn or was deleted
    branch: str | None  # the branch HEAD names, None when HEAD is detached


def worktree_status(git: Git, index: Path | None = None) -> WorktreeStatus:
    """The status of the worktree at `git.cwd`, untracked files aside (see ignores.py);
    `index`: its index file, to look at first (see the module docstring)."""
    if index is not None and (unchanged := _index_at_head(git, index)) is not None:
        return unchanged
    output = git.out(
        "status", "--porcelain=v2", "--branch", "--no-ahead-behind", "-z",
        "--untracked-files=no", "--no-renames",
    )  # fmt: skip
    staged: list[str] = []
    unstaged: list[str] = []
    head: str | None = None
    branch: str | None = None
    for record in output.split("\0"):
        kind = record[:1]
        if record.startswith("# branch.oid "):
            oid = record.removeprefix("# branch.oid ")
            head = None if oid == "(initial)" else oid
        elif record.startswith("# branch.head "):
            name = record.removeprefix("# branch.head ")
            branch = None if name == "(detached)" else name
        elif kind in _FIELDS_BEFORE_PATH:
            fields = record.split(" ", _FIELDS_BEFORE_PATH[kind])
            code, path = fields[1], fields[-1]
            if code[0] != ".":
                staged.append(path)
            if code[1] != ".":
                unstaged.append(path)
    return WorktreeStatus(tuple(staged), tuple(unstaged), head, branch)


def _index_at_head(git: Git, index: Path) -> WorktreeStatus | None:
    """The status, if the sparse index at `index` records exactly HEAD's tree; else None."""
    named = git.run("rev-parse", "HEAD", "HEAD^{tree}", "--symbolic-full-name", "HEAD", check=False)
    lines = named.stdout.split("\n")
    if named.returncode != 0 or len(lines) < 3:  # no commit at HEAD: status says what is there
        return None
    head, tree, ref = lines[:3]
    if not records_tree(index, tree):
        return None
    changed = git.out(
        *("-c", "diff.autoRefreshIndex=true", "diff", "--name-only", "-z", "--no-renames"),
        *("--no-color", "--no-ext-diff", "--no-relative"),
    )
    branch = ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None
    return WorktreeStatus((), tuple(path for path in changed.split("\0") if path), head, branch)

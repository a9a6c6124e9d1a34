"""Small real repositories for the inference tests: files written, committed with a message.

Every helper drives real git in a temporary directory; nothing is mocked.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from tests.conftest import git, make_repo
from worktree_pool.git.run import Git
from worktree_pool.scope import guard
from worktree_pool.scope.patterns import compile_rules
from worktree_pool.scope.sparse import tracked_files
from worktree_pool.tasks.graph import Task
from worktree_pool.tasks.inference.tree import TreeIndex


def new_repo(path: Path, files: dict[str, str]) -> Path:
    """A repository whose first commit holds `files`."""
    return make_repo(path, files)


def commit(root: Path, message: str, files: dict[str, str]) -> str:
    """Write `files` (appending a line to each, so every commit really changes them) and commit
    them with `message`; the new commit's id."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as handle:
            handle.write(text)
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "-m", message)
    return git(root, "rev-parse", "HEAD")


def tree_of(root: Path) -> TreeIndex:
    return TreeIndex(tuple(sorted(tracked_files(Git(root, 60)))))


def task(id: str, title: str = "", status: str = "open", **fields: Any) -> Task:
    return Task(id=id, title=title or id, status=status, priority=2, **fields)


def filler(*names: str) -> dict[str, str]:
    """Files with one line each, to give a tree the shape a test needs."""
    return {name: f"// {name}\n" for name in names}


def fast_history(root: Path, commits: int, files: int = 50) -> None:
    """A repository of `commits` commits, each changing one of `files` files, written in one
    `git fast-import` stream: thousands of commits in well under a second, where `git commit`
    in a loop would take minutes."""
    lines = []
    for n in range(commits):
        body = f"line {n}\n".encode()
        message = f"change {n}\n".encode()
        lines += [
            b"commit refs/heads/main",
            f"committer Test <t@example.com> {1_700_000_000 + n} +0000".encode(),
            b"data %d" % len(message),
            message,
        ]
        lines += [f"M 100644 inline src/f{n % files}.txt".encode(), b"data %d" % len(body), body]
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "--quiet", "--initial-branch=main")
    subprocess.run(
        ["git", "fast-import", "--quiet"],
        cwd=root,
        input=b"\n".join(lines) + b"\n",
        check=True,
        capture_output=True,
    )
    git(root, "reset", "--quiet", "--hard", "main")


def covers(patterns: tuple[str, ...], path: str) -> bool:
    """Whether a scope of `patterns` lets an agent commit `path`, as the guard decides."""
    return guard.allows(guard.compiled(compile_rules(patterns)), path)

"""Real repositories for the build-context tests: a commit of the given files, and a sparse
worktree of it that shows only some patterns, where the project is then built for real."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from worktree_pool.git.run import Git
from worktree_pool.scope.context.detect import build_context
from worktree_pool.scope.context.model import BuildContext, TreeReader
from worktree_pool.scope.context.reader import commit_reader
from worktree_pool.scope.patterns import anchored


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.rstrip("\n")


def commit(path: Path, files: dict[str, str | bytes], links: dict[str, str] | None = None) -> Path:
    """A repository at `path` whose one commit holds `files` and symbolic links `links`
    (name -> target)."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "--quiet", "--initial-branch=main")
    for name, content in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            (path / name).write_bytes(content)
        else:
            (path / name).write_text(content)
    for name, target in (links or {}).items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, path / name)
    git(path, "add", "--all")
    git(path, "commit", "--quiet", "--allow-empty", "-m", "initial")
    return path


def commit_all(repo: Path) -> None:
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "change")


def reader(repo: Path) -> TreeReader:
    return commit_reader(Git(repo, 30))


def context(repo: Path, *write: str) -> BuildContext:
    return build_context(reader(repo), write)


def sparse_worktree(repo: Path, where: Path, patterns: tuple[str, ...]) -> Path:
    """A worktree of the repository's commit that shows only `patterns` (non-cone, so a file
    pattern shows just that file), as a slot's view would."""
    git(repo, "worktree", "add", "--quiet", "--no-checkout", "--detach", str(where))
    git(where, "sparse-checkout", "set", "--no-cone", *[anchored(p) for p in patterns])
    git(where, "checkout", "--quiet")
    return where


def shown(worktree: Path) -> set[str]:
    """The files a worktree has on disk, relative to it, git's own aside."""
    return {
        p.relative_to(worktree).as_posix()
        for p in worktree.rglob("*")
        if (p.is_file() or p.is_symlink()) and ".git" not in p.relative_to(worktree).parts
    }

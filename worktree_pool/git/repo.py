"""Finding the repository wtpool manages, from wherever the command was run.

Agents call wtpool from inside their own slot, often from a subdirectory of it. Every slot is a
linked worktree of the main repository, so `git rev-parse --git-common-dir` leads back to the
one main repository and therefore to the one pool, whichever worktree we start in.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from worktree_pool.config.loader import find_config_file, load_config, with_environment
from worktree_pool.config.settings import Config
from worktree_pool.errors import bad_input
from worktree_pool.git.run import Git, worktree_records

POOL_DIR_NAME = ".agent-worktrees"
# Inside the pool directory: what can be recomputed (disk usage, the history inference reads).
CACHE_DIR_NAME = ".cache"


@dataclass(frozen=True)
class Repository:
    root: Path  # the main worktree
    common_dir: Path  # the shared .git directory
    current_slot: str | None  # the slot the command was run from, if any
    config: Config
    config_path: Path | None  # None when the built-in defaults are in use
    # The worktree the command was run from: where doctor finds a slot moved out of the pool.
    worktree: Path | None = None

    @property
    def pool_dir(self) -> Path:
        return self.root / POOL_DIR_NAME

    @property
    def cache_dir(self) -> Path:
        return self.pool_dir / CACHE_DIR_NAME

    @property
    def state_path(self) -> Path:
        return self.pool_dir / "state.db"

    @property
    def git(self) -> Git:
        return Git(self.root, self.config.timeouts.git)

    def slot_path(self, name: str) -> Path:
        return self.pool_dir / name


def open_repository(cwd: Path, config_file: Path | None = None) -> Repository:
    bootstrap = Git(cwd, Config().timeouts.git, pin=False)  # cwd may be a subdirectory
    result = bootstrap.run(
        "rev-parse",
        "--path-format=absolute",
        "--is-bare-repository",
        "--git-common-dir",
        "--show-toplevel",
        check=False,
    )
    lines = result.stdout.splitlines()
    if lines[:1] == ["true"]:
        raise bad_input(
            f"{cwd} is a bare repository", "wtpool needs a repository with a working tree"
        )
    if result.returncode != 0 or len(lines) != 3:
        if "not a git repository" in result.stderr:
            raise bad_input(
                f"{cwd} is not inside a git repository",
                "run wtpool from your repository, or create one with `git init`",
            )
        detail = (result.stderr.strip().splitlines() or ["git rev-parse failed"])[-1]
        raise bad_input(
            f"cannot use {cwd} as a working tree: {detail}",
            "run wtpool from the repository's working tree, not from inside .git",
        )
    common_dir = Path(lines[1]).resolve()
    toplevel = Path(lines[2]).resolve()
    root = _main_worktree(bootstrap, common_dir)
    pool_dir = root / POOL_DIR_NAME
    current_slot = toplevel.name if toplevel.parent == pool_dir else None
    if config_file is not None and not config_file.is_absolute():
        config_file = cwd / config_file
    config_path = find_config_file(root, config_file)
    # A pool remembers its parsed config file; before `init` there is nowhere to keep it.
    cache = pool_dir / CACHE_DIR_NAME / "config.json" if pool_dir.is_dir() else None
    return Repository(
        root=root,
        common_dir=common_dir,
        current_slot=current_slot,
        config=with_environment(load_config(config_path, cache), os.environ),
        config_path=config_path,
        worktree=toplevel,
    )


def _main_worktree(git: Git, common_dir: Path) -> Path:
    if common_dir.name == ".git":
        return common_dir.parent
    # A repository whose git directory lives elsewhere (--separate-git-dir): git lists the main
    # worktree first.
    return worktree_records(git)[0].path.resolve()


def exclude_from_git(repo: Repository, line: str, comment: str) -> None:
    """Add a pattern to the repository's `info/exclude` once, without touching .gitignore;
    every worktree of the repository reads that file."""
    exclude = repo.common_dir / "info" / "exclude"
    current = exclude.read_text(encoding="utf-8") if exclude.exists() else ""
    if line in current.splitlines():
        return
    exclude.parent.mkdir(parents=True, exist_ok=True)
    separator = "" if not current or current.endswith("\n") else "\n"
    with exclude.open("a", encoding="utf-8") as handle:
        handle.write(f"{separator}# {comment}\n{line}\n")


def git_dir_of(worktree: Path) -> Path | None:
    """A linked worktree's own git directory, from its `.git` file."""
    with contextlib.suppress(OSError, ValueError):
        text = (worktree / ".git").read_text(encoding="utf-8").strip()
        if text.startswith("gitdir: "):
            return (worktree / text.removeprefix("gitdir: ")).resolve()
    return None

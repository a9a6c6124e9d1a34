"""Where an agent's output and its exit record live: `.agent-worktrees/logs/<slot>.log` and
`<slot>.exit.json`, which the agent runner writes when the agent ends, and `<slot>.activity.json`,
what the last look saw of its CPU time."""

from __future__ import annotations

import json
from pathlib import Path

from worktree_pool.git.repo import Repository

LOG_DIR = "logs"


def log_path(repo: Repository, slot: str) -> Path:
    return repo.pool_dir / LOG_DIR / f"{slot}.log"


def exit_path(repo: Repository, slot: str) -> Path:
    return repo.pool_dir / LOG_DIR / f"{slot}.exit.json"


def activity_path(repo: Repository, slot: str) -> Path:
    """What the last look saw of the agent's CPU time (see activity.py)."""
    return repo.pool_dir / LOG_DIR / f"{slot}.activity.json"


def exit_code(repo: Repository, slot: str) -> int | None:
    try:
        return int(json.loads(exit_path(repo, slot).read_text(encoding="utf-8"))["code"])
    except (OSError, ValueError, KeyError, TypeError):
        return None

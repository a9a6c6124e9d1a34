"""Where an agent's output and its exit record live: `.agent-worktrees/logs/<slot>.log` and
`<slot>.exit.json`, which the agent runner writes when the agent ends, `<slot>.activity.json`,
what the last look saw of its CPU time, `<slot>.environment.json`, the environment handed to a
runner in tmux (which deletes it as it starts), and `<slot>.stopped`, there when wtpool stopped
the agent (written before the first signal, so that however the agent then ends, even with an
exit code of its own, it was stopped)."""

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


def handed_environment_path(repo: Repository, slot: str) -> Path:
    """The agent's environment, for a runner that tmux starts (see agents.terminal)."""
    return repo.pool_dir / LOG_DIR / f"{slot}.environment.json"


def stopped_path(repo: Repository, slot: str) -> Path:
    return repo.pool_dir / LOG_DIR / f"{slot}.stopped"


def exit_code(repo: Repository, slot: str) -> int | None:
    try:
        return int(json.loads(exit_path(repo, slot).read_text(encoding="utf-8"))["code"])
    except (OSError, ValueError, KeyError, TypeError):
        return None

"""The global options of this invocation (`wtpool --config PATH ...`): set by the root's callback
in app.py before any command runs, read by the commands. A module of its own so that reading
them costs a command module nothing, and `wtpool --version` imports nothing else."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from worktree_pool.errors import WtpoolError

if TYPE_CHECKING:
    from worktree_pool.git.repo import Repository


@dataclass
class GlobalOptions:
    config: Path | None = None  # --config: the file to read instead of <repo>/wtpool.yaml


current = GlobalOptions()


def repository() -> Repository:
    """The repository this command runs in: found from the current directory, with --config."""
    from worktree_pool.git.repo import open_repository

    try:
        cwd = Path.cwd()
    except FileNotFoundError as exc:
        raise WtpoolError(
            "the current directory no longer exists", "cd to your repository and try again"
        ) from exc
    return open_repository(cwd, current.config)

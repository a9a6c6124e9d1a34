"""Whether a slot builds: `scope.build_command` run in it.

The view exists so that a slot can build; this is how to know that it does. The command runs
in the slot's root with the slot's own files, its output kept short for the report, bounded by
`scope.build_timeout`. A command that cannot start, or runs too long, is a failed build with
the reason, never an error of wtpool's: the question asked is the slot's health.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from worktree_pool.git.repo import Repository

TAIL_LINES = 20


@dataclass(frozen=True)
class BuildResult:
    slot: str
    command: list[str]
    ok: bool
    exit_code: int | None  # None: it did not run to the end
    seconds: float
    output: str  # the last TAIL_LINES lines of its output


def build_slot(repo: Repository, name: str, path: Path | None = None) -> BuildResult:
    command = list(repo.config.scope.build_command)
    start = time.monotonic()
    try:
        done = subprocess.run(
            command,
            cwd=path or repo.slot_path(name),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            timeout=repo.config.scope.build_timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        why = f"did not finish within {repo.config.scope.build_timeout:g} s"
        return BuildResult(name, command, False, None, time.monotonic() - start, why)
    except OSError as exc:
        return BuildResult(name, command, False, None, 0.0, f"cannot run: {exc}")
    tail = "\n".join(done.stdout.splitlines()[-TAIL_LINES:])
    elapsed = time.monotonic() - start
    return BuildResult(name, command, done.returncode == 0, done.returncode, elapsed, tail)

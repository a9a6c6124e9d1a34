"""The merge gate: merge.test_command, run on the commit that would land, before the base moves.

bors' rule: the base only ever holds a tree that passed. The gate runs in a scratch worktree
(scratch.py) that shows the entry's scope, in a process group of its own, so that a timeout stops
everything it started. The end of its output is kept for the entry and the agent's mail.
"""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass

from worktree_pool.git.repo import Repository
from worktree_pool.git.run import environment_without_locations
from worktree_pool.merge.scratch import scratch_worktree

OUTPUT_TAIL = 4000  # characters of a failed gate's output kept in the entry


@dataclass(frozen=True)
class GateFailure:
    reason: str
    output: str | None = None  # the end of what the gate printed, when it ran


def run_gate(
    repo: Repository, branch: str, commit: str, scope: tuple[str, ...] | None
) -> GateFailure | None:
    """Run merge.test_command on `commit` in a scratch sparse worktree showing `scope`; why it
    failed, or None if it passed."""
    settings = repo.config.merge
    command = list(settings.test_command)
    env = environment_without_locations()
    env.update(WTPOOL_MERGE_BRANCH=branch, WTPOOL_MERGE_COMMIT=commit)
    with scratch_worktree(repo, commit, scope) as git:
        try:
            process = subprocess.Popen(
                command,
                cwd=git.cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group, so a timeout stops all it started
            )
        except OSError as exc:
            return GateFailure(f"cannot run {command[0]}: {exc.strerror}")
        try:
            output, _ = process.communicate(timeout=settings.test_timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
            reason = f"the gate ran longer than merge.test_timeout ({settings.test_timeout:g} s)"
            return GateFailure(reason, output=_tail(output))
    if process.returncode == 0:
        return None
    return GateFailure(
        f"the gate {' '.join(command)} exited with {process.returncode}",
        output=_tail(output),
    )


def _tail(output: bytes) -> str:
    return output.decode("utf-8", "replace")[-OUTPUT_TAIL:]

"""Agent processes that spawn starts in slots: starting, watching and stopping them.

An agent runs under `agent_runner.py`, which leads a new process group, so that stopping the
agent stops everything it started, and which records the agent's exit code in
`.agent-worktrees/logs/<slot>.exit.json`; its output goes to `.agent-worktrees/logs/<slot>.log`.
The state keeps the runner's pid with its create time: a pid that the system has since given to
another process is never taken for the agent, so wtpool never signals a stranger.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from worktree_pool.agent_runner import record_exit
from worktree_pool.errors import WtpoolError, bad_input
from worktree_pool.repo import Repository
from worktree_pool.slots import Slot, all_slots, lookup_slot, require_pool
from worktree_pool.state import StateStore, utc_now

LOG_DIR = "logs"
_PLACEHOLDER = re.compile(r"\{(slot|path|task|brief)\}")
# Create times come from /proc in clock ticks; the same process always reads the same value,
# and a recycled pid within half a second of its predecessor's start is not a real risk.
_SAME_PROCESS = 0.5


@dataclass(frozen=True)
class AgentProcess:
    pid: int
    state: str  # running, exited (exit_code says how), or missing (gone without a record)
    exit_code: int | None
    log: str


def log_path(repo: Repository, slot: str) -> Path:
    return repo.pool_dir / LOG_DIR / f"{slot}.log"


def _exit_path(repo: Repository, slot: str) -> Path:
    return repo.pool_dir / LOG_DIR / f"{slot}.exit.json"


def check_agent_command(repo: Repository) -> None:
    """Refuse, before any slot is claimed, an agent program that cannot be found."""
    command = repo.config.agent.command
    if not command or _PLACEHOLDER.search(command[0]):
        return
    program = command[0]
    found = (repo.root / program).is_file() if "/" in program else shutil.which(program)
    if not found:
        raise bad_input(
            f"agent.command: program {program!r} not found",
            "give a program on PATH or a path; a relative path is resolved in each slot",
        )


def launch(
    repo: Repository, slot: str, values: dict[str, str], env: dict[str, str]
) -> tuple[int, float]:
    """Start the configured agent in the slot; return the pid and create time to record."""
    argv = [
        _PLACEHOLDER.sub(lambda m: values[m.group(1)], arg) for arg in repo.config.agent.command
    ]
    log = log_path(repo, slot)
    log.parent.mkdir(mode=0o700, exist_ok=True)
    _exit_path(repo, slot).unlink(missing_ok=True)
    runner = [sys.executable, "-I", "-m", "worktree_pool.agent_runner"]
    with log.open("ab") as out:
        out.write(f"--- wtpool: {utc_now()} starting {argv}\n".encode())
        out.flush()
        try:
            process = subprocess.Popen(
                [*runner, str(_exit_path(repo, slot)), "--", *argv],
                cwd=repo.slot_path(slot),
                env={**os.environ, **env},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise WtpoolError(f"cannot start the agent in {slot}: {exc}") from exc
    try:
        started = psutil.Process(process.pid).create_time()
    except psutil.Error:  # it already ended: the exit file says how
        started = time.time()
    # wtpool never waits for the agent: the command exits long before it, and the runner is
    # then reaped by init. Marking the Popen done keeps it from warning that it was not waited on.
    process.returncode = 0
    return process.pid, started


def _alive(pid: int, started: float | None) -> bool:
    try:
        process = psutil.Process(pid)
        return (
            started is not None
            and abs(process.create_time() - started) < _SAME_PROCESS
            and process.status() != psutil.STATUS_ZOMBIE
        )
    except psutil.Error:
        return False


def _exit_code(repo: Repository, slot: str) -> int | None:
    try:
        return int(json.loads(_exit_path(repo, slot).read_text(encoding="utf-8"))["code"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def agent_process(repo: Repository, slot: Slot) -> AgentProcess | None:
    if slot.agent_pid is None:
        return None
    if _alive(slot.agent_pid, slot.agent_started):
        state, code = "running", None
    else:
        code = _exit_code(repo, slot.name)
        state = "missing" if code is None else "exited"
    return AgentProcess(slot.agent_pid, state, code, str(log_path(repo, slot.name)))


def is_running(slot: Slot) -> bool:
    return slot.agent_pid is not None and _alive(slot.agent_pid, slot.agent_started)


@dataclass(frozen=True)
class StopResult:
    slot: str
    pid: int | None
    outcome: str  # stopped, killed, not running, no agent
    exit_code: int | None


def stop_agent(repo: Repository, slot: Slot, grace: float) -> StopResult:
    """SIGTERM to the agent's process group; SIGKILL if it is still there after `grace`."""
    pid = slot.agent_pid
    if pid is None:
        return StopResult(slot.name, None, "no agent", None)
    if not _alive(pid, slot.agent_started):
        return StopResult(slot.name, pid, "not running", _exit_code(repo, slot.name))
    outcome = "stopped"
    _signal_group(pid, signal.SIGTERM)
    if not _wait_gone(pid, slot.agent_started, grace):
        _signal_group(pid, signal.SIGKILL)
        _wait_gone(pid, slot.agent_started, 5.0)
        outcome = "killed"
    # Whatever the agent started and left behind in its group goes too.
    _signal_group(pid, signal.SIGKILL)
    code = _exit_code(repo, slot.name)
    if code is None:
        code = -signal.SIGKILL
        record_exit(_exit_path(repo, slot.name), code, killed_by="wtpool stop")
    return StopResult(slot.name, pid, outcome, code)


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


def _wait_gone(pid: int, started: float | None, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while _alive(pid, started):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def stop_agents(repo: Repository, store: StateStore, name: str | None) -> list[StopResult]:
    """Stop the agent of slot `name`, or of every slot when `name` is None."""
    with store.snapshot() as conn:
        require_pool(conn, repo)
        slots = [lookup_slot(conn, name)] if name is not None else all_slots(conn)
    grace = repo.config.agent.stop_grace
    return [stop_agent(repo, slot, grace) for slot in slots if name or slot.agent_pid]

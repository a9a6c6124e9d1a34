"""An agent's process: starting it in a slot, its log and exit record, and whether it runs.

An agent runs under `agent_runner.py`, which leads a new session and process group, and which
records the agent's exit code in `.agent-worktrees/logs/<slot>.exit.json`; its output goes to
`.agent-worktrees/logs/<slot>.log`. The runner marks the environment of everything the agent
starts (WTPOOL_AGENT_GROUP), and the mark goes with a process that leaves the group or the
session (setsid, a double fork) or the slot. The state keeps the runner's pid (which is also the
group's and session's id) and a start marker, so that a pid the system has since given to
another process is never taken for the agent (see membership). Stopping agents is `stopping`.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from worktree_pool.agents.logs import (
    activity_path,
    exit_code,
    exit_path,
    handed_environment_path,
    log_path,
    stopped_path,
)
from worktree_pool.agents.membership import AgentGroup, members_of
from worktree_pool.agents.process_table import ProcessTable, start_marker
from worktree_pool.agents.runner import ENVIRONMENT_FILE_VARIABLE
from worktree_pool.agents.terminal import start_session
from worktree_pool.config.settings import AGENT_PLACEHOLDERS
from worktree_pool.errors import WtpoolError, bad_input
from worktree_pool.git.repo import Repository
from worktree_pool.git.run import environment_without_locations
from worktree_pool.store.slots import Slot
from worktree_pool.store.values import utc_now
from worktree_pool.util.private import open_private, replace_private
from worktree_pool.util.processes import (
    GROUP_VARIABLE,
    POOL_PROCESS_VARIABLE,
    pool_process_environment,
)

_PLACEHOLDER = re.compile(r"\{(" + "|".join(AGENT_PLACEHOLDERS) + r")\}")


@dataclass(frozen=True)
class AgentProcess:
    pid: int
    # running: the agent, or something it started, is still in the slot; exited: all of it is
    # gone and exit_code says how the agent ended; missing: gone without a record of its exit.
    state: str
    exit_code: int | None
    processes: int  # live processes of the agent's group
    log: str


def program_path(repo: Repository, program: str) -> str:
    """A relative path is the main worktree's: a slot's sparse checkout may well hide it."""
    return (
        str(repo.root / program) if "/" in program and not Path(program).is_absolute() else program
    )


def require_program(repo: Repository, program: str, key: str) -> str:
    """The program to run for `program` (see program_path); a one-line error naming `key`
    when it cannot be found, so that nothing is started or changed first."""
    path = program_path(repo, program)
    if not (Path(path).is_file() if "/" in path else shutil.which(path)):
        raise bad_input(
            f"{key}: program {program!r} not found",
            "give a program on PATH, or a path (a relative one is read from the main worktree)",
        )
    return path


def check_agent_command(repo: Repository) -> None:
    """Refuse, before any slot is claimed, an agent program that cannot be found."""
    command = repo.config.agent.command
    if command and not _PLACEHOLDER.search(command[0]):
        require_program(repo, command[0], "agent.command")


def start_wtpool_process(repo: Repository, log: Path, *args: str) -> subprocess.Popen:
    """`wtpool ARGS` in the background, in a session of its own so that a closing terminal
    does not reach it, its output appended to `log`. It is the pool's process, not the
    agent's, even when an agent's command starts it: stopping the agent leaves it running."""
    log.parent.mkdir(mode=0o700, exist_ok=True)
    # The same configuration as this command's, `--config` included: a queue run reading
    # another file could skip the gate this one names.
    config = ["--config", str(repo.config_path)] if repo.config_path else []
    with open_private(log, "ab") as out:
        return subprocess.Popen(
            # -P: never import a `worktree_pool` the managed repository happens to contain.
            [sys.executable, "-P", "-m", "worktree_pool", *config, *args],
            cwd=repo.root,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=pool_process_environment(),
        )


def launch(
    repo: Repository, slot: str, values: dict[str, str], env: dict[str, str]
) -> tuple[int, float]:
    """Start the configured agent in the slot; return the pid and start marker to record."""
    command = repo.config.agent.command
    argv = [_PLACEHOLDER.sub(lambda m: values[m.group(1)], arg) for arg in command]
    argv[0] = program_path(repo, argv[0])
    log = log_path(repo, slot)
    log.parent.mkdir(mode=0o700, exist_ok=True)
    exit_path(repo, slot).unlink(missing_ok=True)
    # The last agent's CPU time, and how it was stopped, are not this one's.
    for stale in (activity_path(repo, slot), stopped_path(repo, slot)):
        stale.unlink(missing_ok=True)
    path = repo.slot_path(slot)
    # Not the caller's git location variables (a hook's GIT_DIR would aim the agent's git at
    # another worktree, past its guard), nor its idea of the current directory. Nor the marks
    # of whoever started it: an agent started by another agent's `wtpool spawn` is not that
    # agent's, and one the daemon starts (which carries the pool's mark) is not the pool's,
    # or neither would be found to stop.
    inherited = environment_without_locations(GROUP_VARIABLE, POOL_PROCESS_VARIABLE)
    environment = {**inherited, **env, "PWD": str(path)}
    runner = [sys.executable, "-I", "-m", "worktree_pool.agent_runner", str(exit_path(repo, slot))]
    with open_private(log, "ab") as out:
        out.write(f"--- wtpool: {utc_now()} starting {argv}\n".encode())
        out.flush()
        if repo.config.agent.terminal == "tmux":
            pid = _start_in_tmux(repo, slot, [*runner, "--", *argv], environment)
            return pid, _marker_of(pid)
        try:
            process = subprocess.Popen(
                [*runner, "--", *argv],
                cwd=path,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise WtpoolError(f"cannot start the agent in {slot}: {exc}") from exc
    # wtpool never waits for the agent, which outlives the command that started it. Marking
    # the Popen done keeps it from warning that it was not waited on.
    process.returncode = 0
    return process.pid, _marker_of(process.pid)


def _start_in_tmux(repo: Repository, slot: str, argv: list[str], env: dict[str, str]) -> int:
    """Start the runner as the slot's tmux pane (see agents.terminal), handing it the agent's
    environment in a private file rather than on tmux's command line."""
    handed = handed_environment_path(repo, slot)
    replace_private(handed, json.dumps(env))
    try:
        return start_session(
            repo,
            slot,
            argv,
            repo.slot_path(slot),
            {ENVIRONMENT_FILE_VARIABLE: str(handed)},
            log_path(repo, slot),
        )
    except BaseException:
        handed.unlink(missing_ok=True)
        raise


def _marker_of(pid: int) -> float:
    import psutil  # not at the top: see process_table.ProcessTable

    try:
        return start_marker(pid)
    except (psutil.Error, OSError):  # it already ended: the exit file says how
        return 0.0


def agent_process(
    repo: Repository, slot: Slot, table: ProcessTable | None = None
) -> AgentProcess | None:
    """The slot's agent, if spawn started one; `table` is a process table already read."""
    group = AgentGroup.of(slot)
    if group is None:
        return None
    members = len(members_of(group, table))
    code = exit_code(repo, slot.name)
    state = "running" if members else "missing" if code is None else "exited"
    return AgentProcess(group.pgid, state, code, members, str(log_path(repo, slot.name)))


def is_running(slot: Slot) -> bool:
    group = AgentGroup.of(slot)
    return group is not None and bool(members_of(group))

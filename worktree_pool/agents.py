"""Agent processes that spawn starts in slots: starting, watching and stopping them.

An agent runs under `agent_runner.py`, which leads a new process group, so that stopping the
agent stops everything it started, and which records the agent's exit code in
`.agent-worktrees/logs/<slot>.exit.json`; its output goes to `.agent-worktrees/logs/<slot>.log`.

The state keeps the runner's pid (which is also the group's id) and a start marker, so that a
pid the system has since given to another process is never taken for the agent. The agent's
work is over only when its whole group is gone: the runner may exit, or be killed, while the
agent or something it started in the background still runs in the slot. A group member is
recognised by its group id and by the slot and agent named in the environment it started with;
wtpool signals a group only while it holds such a member, so it never signals a stranger.
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

from worktree_pool.agent_runner import record_exit
from worktree_pool.config import AGENT_PLACEHOLDERS
from worktree_pool.errors import WtpoolError, bad_input
from worktree_pool.gitops import LOCATION_VARIABLES
from worktree_pool.private import open_private
from worktree_pool.repo import Repository
from worktree_pool.slots import Slot, all_slots, lookup_slot, pid_alive, require_pool
from worktree_pool.state import StateStore, utc_now

LOG_DIR = "logs"
_PLACEHOLDER = re.compile(r"\{(" + "|".join(AGENT_PLACEHOLDERS) + r")\}")
# Start markers are whole clock ticks on Linux; elsewhere they are create times, which a clock
# step can shift, and a pid recycled within half a second of its predecessor is no real risk.
_SAME_PROCESS = 0.5


@dataclass(frozen=True)
class AgentProcess:
    pid: int
    # running: the agent, or something it started, is still in the slot; exited: all of it is
    # gone and exit_code says how the agent ended; missing: gone without a record of its exit.
    state: str
    exit_code: int | None
    processes: int  # live processes of the agent's group
    log: str


def log_path(repo: Repository, slot: str) -> Path:
    return repo.pool_dir / LOG_DIR / f"{slot}.log"


def _exit_path(repo: Repository, slot: str) -> Path:
    return repo.pool_dir / LOG_DIR / f"{slot}.exit.json"


def _program(repo: Repository, program: str) -> str:
    """A relative path is the main worktree's: a slot's sparse checkout may well hide it."""
    return (
        str(repo.root / program) if "/" in program and not Path(program).is_absolute() else program
    )


def check_agent_command(repo: Repository) -> None:
    """Refuse, before any slot is claimed, an agent program that cannot be found."""
    command = repo.config.agent.command
    if not command or _PLACEHOLDER.search(command[0]):
        return
    program = _program(repo, command[0])
    if not (Path(program).is_file() if "/" in program else shutil.which(program)):
        raise bad_input(
            f"agent.command: program {command[0]!r} not found",
            "give a program on PATH, or a path (a relative one is read from the main worktree)",
        )


def start_marker(pid: int) -> float:
    """When the process started, in a form that identifies it: on Linux its start in clock
    ticks after boot (immune to clock changes), elsewhere its create time."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return float(stat.rpartition(")")[2].split()[19])
    except (OSError, IndexError, ValueError):
        import psutil  # here, not at the top: see _members

        return psutil.Process(pid).create_time()


def same_process(pid: int, marker: float) -> bool:
    """Whether `pid` is still the process whose start_marker was `marker`: not exited, not a
    zombie nobody reaped, and not another process that got the pid since."""
    if not pid_alive(pid):
        return False
    import psutil  # only for a process that exists

    try:
        if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            return False
        return abs(start_marker(pid) - marker) < _SAME_PROCESS
    except (OSError, psutil.Error):  # gone between the looks
        return False


def start_wtpool_process(repo: Repository, log: Path, *args: str) -> subprocess.Popen:
    """`wtpool ARGS` in the background, in a session of its own so that a closing terminal
    does not reach it, its output appended to `log`."""
    log.parent.mkdir(mode=0o700, exist_ok=True)
    with open_private(log, "ab") as out:
        return subprocess.Popen(
            # -P: never import a `worktree_pool` the managed repository happens to contain.
            [sys.executable, "-P", "-m", "worktree_pool", *args],
            cwd=repo.root,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def launch(
    repo: Repository, slot: str, values: dict[str, str], env: dict[str, str]
) -> tuple[int, float]:
    """Start the configured agent in the slot; return the pid and start marker to record."""
    command = repo.config.agent.command
    argv = [_PLACEHOLDER.sub(lambda m: values[m.group(1)], arg) for arg in command]
    argv[0] = _program(repo, argv[0])
    log = log_path(repo, slot)
    log.parent.mkdir(mode=0o700, exist_ok=True)
    _exit_path(repo, slot).unlink(missing_ok=True)
    path = repo.slot_path(slot)
    # Not the caller's git location variables (a hook's GIT_DIR would aim the agent's git at
    # another worktree, past its guard), nor its idea of the current directory.
    inherited = {k: v for k, v in os.environ.items() if k not in LOCATION_VARIABLES}
    runner = [sys.executable, "-I", "-m", "worktree_pool.agent_runner"]
    with open_private(log, "ab") as out:
        out.write(f"--- wtpool: {utc_now()} starting {argv}\n".encode())
        out.flush()
        try:
            process = subprocess.Popen(
                [*runner, str(_exit_path(repo, slot)), "--", *argv],
                cwd=path,
                env={**inherited, **env, "PWD": str(path)},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise WtpoolError(f"cannot start the agent in {slot}: {exc}") from exc
    import psutil  # here, not at the top: see _members

    try:
        started = start_marker(process.pid)
    except (psutil.Error, OSError):  # it already ended: the exit file says how
        started = 0.0
    # wtpool never waits for the agent, which outlives the command that started it. Marking
    # the Popen done keeps it from warning that it was not waited on.
    process.returncode = 0
    return process.pid, started


@dataclass(frozen=True)
class AgentGroup:
    """How to recognise an agent's processes: its group id and the runner's start marker,
    and the slot and agent its environment names."""

    slot: str
    agent: str | None
    pgid: int
    started: float | None

    @classmethod
    def of(cls, slot: Slot) -> AgentGroup | None:
        if slot.agent_pid is None:
            return None
        return cls(slot.name, slot.agent, slot.agent_pid, slot.agent_started)


def process_groups() -> dict[int, list[int]]:
    """Every live process by group id: one walk of the process table, shared by all slots."""
    # psutil costs ~13 ms to import; most wtpool commands never look at a process.
    import psutil

    groups: dict[int, list[int]] = {}
    for pid in psutil.pids():
        try:
            groups.setdefault(os.getpgid(pid), []).append(pid)
        except OSError:  # gone since the listing
            continue
    return groups


def _members(group: AgentGroup, groups: dict[int, list[int]] | None = None) -> list[int]:
    return group_members(group, groups)[0]


def group_members(
    group: AgentGroup, groups: dict[int, list[int]] | None = None
) -> tuple[list[int], list[int]]:
    """The live processes of the agent's group (see the module's docstring), and the zombies in
    its group: exited children that nobody has reaped, which no environment can vouch for."""
    import psutil

    found, zombies = [], []
    for pid in (groups if groups is not None else process_groups()).get(group.pgid, []):
        try:
            process = psutil.Process(pid)
            if process.status() == psutil.STATUS_ZOMBIE:
                zombies.append(pid)
                continue
            if pid == group.pgid:
                ours = group.started is not None and (
                    abs(start_marker(pid) - group.started) < _SAME_PROCESS
                )
            else:
                environment = process.environ()
                ours = (
                    environment.get("WTPOOL_SLOT") == group.slot
                    and environment.get("WTPOOL_AGENT") == group.agent
                )
        except (psutil.Error, OSError):  # gone, or not ours to inspect
            continue
        if ours:
            found.append(pid)
    return found, zombies


def _exit_code(repo: Repository, slot: str) -> int | None:
    try:
        return int(json.loads(_exit_path(repo, slot).read_text(encoding="utf-8"))["code"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def agent_process(
    repo: Repository, slot: Slot, groups: dict[int, list[int]] | None = None
) -> AgentProcess | None:
    """The slot's agent, if spawn started one; `groups` is a process table already read."""
    group = AgentGroup.of(slot)
    if group is None:
        return None
    members = len(_members(group, groups))
    code = _exit_code(repo, slot.name)
    state = "running" if members else "missing" if code is None else "exited"
    return AgentProcess(group.pgid, state, code, members, str(log_path(repo, slot.name)))


def is_running(slot: Slot) -> bool:
    group = AgentGroup.of(slot)
    return group is not None and bool(_members(group))


@dataclass(frozen=True)
class StopResult:
    slot: str
    pid: int | None
    outcome: str  # stopped, killed, not running, no agent
    exit_code: int | None


def stop_agent(repo: Repository, slot: Slot, grace: float) -> StopResult:
    """SIGTERM to the agent's process group; SIGKILL if any of it is still there after
    `grace` seconds."""
    group = AgentGroup.of(slot)
    if group is None:
        return StopResult(slot.name, None, "no agent", None)
    if not _signal_group(group, signal.SIGTERM):
        return StopResult(slot.name, group.pgid, "not running", _exit_code(repo, slot.name))
    outcome = "stopped"
    if not _wait_gone(group, grace):
        _signal_group(group, signal.SIGKILL)
        _wait_gone(group, 5.0)
        outcome = "killed"
    code = _exit_code(repo, slot.name)
    if code is None:  # the runner itself was killed before it could record the agent's end
        code = -signal.SIGKILL
        record_exit(_exit_path(repo, slot.name), code, killed_by="wtpool stop")
    return StopResult(slot.name, group.pgid, outcome, code)


def kill_unrecorded(slot: str, agent: str, pid: int, started: float) -> None:
    """Kill an agent just started whose pid could not be recorded."""
    _signal_group(AgentGroup(slot, agent, pid, started), signal.SIGKILL)


def _signal_group(group: AgentGroup, signum: int) -> bool:
    """Signal the agent's group if a member of it is alive; whether one was."""
    if not _members(group):
        return False
    # A group id is not reused while the group has a member, so the signal cannot go astray.
    try:
        os.killpg(group.pgid, signum)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _wait_gone(group: AgentGroup, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while _members(group):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def stop_unrecorded(repo: Repository, grace: float) -> list[int]:
    """Stop agent processes under the pool that no slot records: an agent whose start was cut
    short before its pid reached the state. Only for cleanup, once every recorded agent is
    stopped. An agent runner, or a process carrying its WTPOOL_AGENT_GROUP, is an agent's,
    never the user's (a shell that sourced .env.worktree does not carry it); each such group
    gets SIGTERM, then SIGKILL after `grace`. Returns the groups stopped."""
    import psutil

    from worktree_pool.agent_runner import GROUP_VARIABLE

    pool_dir = str(repo.pool_dir) + os.sep
    groups: set[int] = set()
    for process in psutil.process_iter(["pid", "cwd", "cmdline"]):
        if not (process.info["cwd"] or "").startswith(pool_dir):
            continue
        try:
            if "worktree_pool.agent_runner" in (process.info["cmdline"] or ()):
                groups.add(os.getpgid(process.pid))  # the runner leads its agent's group
            elif (group := process.environ().get(GROUP_VARIABLE, "")).isdigit():
                groups.add(int(group))
        except (psutil.Error, ProcessLookupError):
            continue
    for signum in (signal.SIGTERM, signal.SIGKILL):
        for group in groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signum)
        deadline = time.monotonic() + grace
        while groups and time.monotonic() < deadline and _any_alive(groups):
            time.sleep(0.05)
    return sorted(groups)


def _any_alive(groups: set[int]) -> bool:
    for group in groups:
        try:
            os.killpg(group, 0)
            return True
        except (ProcessLookupError, PermissionError):
            continue
    return False


def stop_agents(repo: Repository, store: StateStore, name: str | None) -> list[StopResult]:
    """Stop the agent of slot `name`, or of every slot when `name` is None."""
    with store.snapshot() as conn:
        require_pool(conn, repo)
        slots = [lookup_slot(conn, name)] if name is not None else all_slots(conn)
    grace = repo.config.agent.stop_grace
    return [stop_agent(repo, slot, grace) for slot in slots if name or slot.agent_pid]

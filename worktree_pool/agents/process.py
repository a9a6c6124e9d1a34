"""Agent processes that spawn starts in slots: starting, watching and stopping them.

An agent runs under `agent_runner.py`, which leads a new session and process group, and which
records the agent's exit code in `.agent-worktrees/logs/<slot>.exit.json`; its output goes to
`.agent-worktrees/logs/<slot>.log`. The runner marks the environment of everything the agent
starts (WTPOOL_AGENT_GROUP), and the mark goes with a process that leaves the group or the
session (setsid, a double fork) or the slot.

The state keeps the runner's pid (which is also the group's and session's id) and a start
marker, so that a pid the system has since given to another process is never taken for the
agent. The agent's processes are its group, its session, the processes that carry its mark,
and their descendants (see group_members). Its work is over only when all of them are gone:
the runner may exit, or be killed, while something the agent started still runs. wtpool
signals processes one by one, each as it was seen, never a group id that may have been reused,
so it never signals a stranger.

`wtpool stop` stops the agent's processes. Before a slot is salvaged, reset or removed
(release, cleanup), wtpool also stops every other process whose working directory or an open
file is in the slot, except one with a terminal (a person's shell or editor), another user's,
another slot's running agent's, the pool's own (its database server, a background merge), and
wtpool itself with what it runs under (see clear_slot).
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from worktree_pool.agents.runner import record_exit
from worktree_pool.config.settings import AGENT_PLACEHOLDERS
from worktree_pool.errors import WtpoolError, bad_input
from worktree_pool.git.repo import Repository
from worktree_pool.git.run import LOCATION_VARIABLES
from worktree_pool.store.pool import require_pool
from worktree_pool.store.slots import Slot, all_slots, lookup_slot, pid_alive
from worktree_pool.store.sqlite import StateStore
from worktree_pool.store.values import utc_now
from worktree_pool.util.private import open_private
from worktree_pool.util.processes import (
    GROUP_VARIABLE,
    POOL_PROCESS_VARIABLE,
    pool_process_environment,
)

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
    does not reach it, its output appended to `log`. It is the pool's process, not the
    agent's, even when an agent's command starts it: stopping the agent leaves it running."""
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
            env=pool_process_environment(),
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


class ProcessTable:
    """One look at every process: its parent, group and session, and whether it is a zombie;
    shared by all slots. What costs more to read (environments, working directories, open
    files) is read when first asked, once per process. A process that ends after the look is
    still listed; every reader copes with it being gone."""

    def __init__(self) -> None:
        # psutil costs ~13 ms to import; most wtpool commands never look at a process.
        import psutil

        self.handles: dict[int, psutil.Process] = {}  # signals go through these: see signal
        self.parents: dict[int, int] = {}
        self.zombies: set[int] = set()
        self._families: dict[int, set[int]] = {}  # group or session id -> its processes
        self._children: dict[int, list[int]] = {}
        for process in psutil.process_iter(["ppid", "status"]):
            pid = process.pid
            try:
                family = {os.getpgid(pid), os.getsid(pid)}
            except OSError:  # gone since the listing
                continue
            self.handles[pid] = process
            self.parents[pid] = process.info["ppid"] or 0
            self._children.setdefault(self.parents[pid], []).append(pid)
            for leader in family:
                self._families.setdefault(leader, set()).add(pid)
            if process.info["status"] == psutil.STATUS_ZOMBIE:
                self.zombies.add(pid)
        self._environments: dict[int, dict[str, str]] = {}
        self._marked: dict[str, list[int]] | None = None

    def family(self, leader: int) -> set[int]:
        """The processes in the group or the session that `leader` leads (or led)."""
        return self._families.get(leader, set())

    def children(self, pid: int) -> list[int]:
        return self._children.get(pid, [])

    def environment(self, pid: int) -> dict[str, str]:
        """The environment the process started with; empty when it cannot be read."""
        if pid not in self._environments:
            import psutil

            try:
                self._environments[pid] = self.handles[pid].environ()
            except (psutil.Error, OSError, KeyError):
                self._environments[pid] = {}
        return self._environments[pid]

    def marked(self, pgid: int) -> list[int]:
        """The processes that carry the mark of the agent runner whose group is `pgid`."""
        if self._marked is None:
            self._marked = {}
            for pid in self.handles:
                if (mark := self.environment(pid).get(GROUP_VARIABLE)) is not None:
                    self._marked.setdefault(mark, []).append(pid)
        return self._marked.get(str(pgid), [])

    def is_pool_process(self, pid: int) -> bool:
        return POOL_PROCESS_VARIABLE in self.environment(pid)

    def lineage(self) -> set[int]:
        """This process and every process it runs under: never to be signalled by it."""
        found, pid = set(), os.getpid()
        while pid > 0 and pid not in found:
            found.add(pid)
            pid = self.parents.get(pid, 0)
        return found

    def places(self, pid: int) -> list[str]:
        """The working directory and the open files of the process, where they can be read."""
        import psutil

        places = []
        try:
            process = self.handles[pid]
            places.append(process.cwd().removesuffix(" (deleted)"))
            places.extend(file.path for file in process.open_files())
        except (psutil.Error, OSError):  # gone, or not ours to read
            pass
        return places

    def belongs_to_someone(self, pid: int) -> bool:
        """Whether the process is a person's (it has a terminal) or another user's: wtpool
        stops neither for being in a slot."""
        import psutil

        try:
            process = self.handles[pid]
            return process.terminal() is not None or process.uids().real != os.getuid()
        except (psutil.Error, OSError):
            return True

    def signal(self, pid: int, signum: int) -> None:
        """Signal the very process seen: psutil refuses one whose pid was since reused."""
        import psutil

        with contextlib.suppress(psutil.Error, OSError, KeyError):
            self.handles[pid].send_signal(signum)


def group_members(
    group: AgentGroup, table: ProcessTable | None = None
) -> tuple[list[int], list[int]]:
    """The agent's live processes, and its zombies (exited children nobody has reaped).

    The agent's processes are: the runner, known by its pid and start marker; while it lives,
    every process of its group and session, which nothing else can join; every process that
    carries its mark (the runner's WTPOOL_AGENT_GROUP, and the slot and agent), which
    survives setsid, a double fork and a change of directory; and every descendant of these.
    Never the pool's own processes (see agent_runner.POOL_PROCESS_VARIABLE), nor what they
    start. Once the runner is gone its group id may be reused, so a member of its group or
    session then counts only if it carries the mark; a child of the agent's that dropped its
    environment and left both the slot and every living ancestor cannot be recognised."""
    table = table if table is not None else ProcessTable()
    runner = group.pgid
    leading = (
        runner in table.handles
        and runner not in table.zombies
        and group.started is not None
        and _started_as(runner, group.started)
    )

    def marked(pid: int) -> bool:
        environment = table.environment(pid)
        return (
            environment.get(GROUP_VARIABLE) == str(runner)
            and environment.get("WTPOOL_SLOT") == group.slot
            and environment.get("WTPOOL_AGENT") == group.agent
        )

    zombies = {pid for pid in table.family(runner) if pid in table.zombies}
    roots = {runner} if leading else set()
    roots |= {pid for pid in table.family(runner) - zombies if leading or marked(pid)}
    roots |= {pid for pid in table.marked(runner) if marked(pid)}
    live: set[int] = set()
    pending = [pid for pid in roots if not table.is_pool_process(pid)]
    while pending:
        pid = pending.pop()
        if pid in live:
            continue
        live.add(pid)
        for child in table.children(pid):
            if child in table.zombies:
                zombies.add(child)
            elif not table.is_pool_process(child):
                pending.append(child)
    return sorted(live), sorted(zombies)


def _started_as(pid: int, marker: float) -> bool:
    import psutil

    try:
        return abs(start_marker(pid) - marker) < _SAME_PROCESS
    except (psutil.Error, OSError):  # gone between the looks
        return False


def _members(group: AgentGroup, table: ProcessTable | None = None) -> list[int]:
    return group_members(group, table)[0]


def slot_strays(path: Path, table: ProcessTable, excluded: set[int]) -> tuple[list[int], list[int]]:
    """The processes other than `excluded` whose working directory or an open file is in the
    slot at `path`: those to stop (no terminal: something left running there), and those
    spared (a person's shell or editor, another user's process). Never the pool's own
    processes, nor wtpool itself and the processes it runs under."""
    root = os.path.realpath(path)
    inside = (root, root + os.sep)
    skip = excluded | table.lineage()
    strays, spared = [], []
    for pid in table.handles:
        if pid in skip or pid in table.zombies:
            continue
        if not any(
            place == inside[0] or place.startswith(inside[1]) for place in table.places(pid)
        ):
            continue
        if table.is_pool_process(pid):
            continue
        (spared if table.belongs_to_someone(pid) else strays).append(pid)
    return sorted(strays), sorted(spared)


def _exit_code(repo: Repository, slot: str) -> int | None:
    try:
        return int(json.loads(_exit_path(repo, slot).read_text(encoding="utf-8"))["code"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def agent_process(
    repo: Repository, slot: Slot, table: ProcessTable | None = None
) -> AgentProcess | None:
    """The slot's agent, if spawn started one; `table` is a process table already read."""
    group = AgentGroup.of(slot)
    if group is None:
        return None
    members = len(_members(group, table))
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
    outcome: str  # the agent's: stopped, killed, not running, no agent
    exit_code: int | None
    # When the whole slot is cleared (see clear_slot), the other processes found in it: those
    # stopped with the agent, and those left alone (a terminal's, another user's).
    strays: list[int] = field(default_factory=list)
    spared: list[int] = field(default_factory=list)


def stop_agent(repo: Repository, slot: Slot, grace: float) -> StopResult:
    """Stop the slot's agent: its processes (see group_members), SIGTERM, then SIGKILL to
    whatever is still there after `grace` seconds. The slot stays its holder's: what else
    runs there is not the agent's, and is left alone."""
    return _stop(repo, slot.name, AgentGroup.of(slot), grace, None)


def clear_slot(
    repo: Repository, name: str, group: AgentGroup | None, grace: float, others: Sequence[Slot]
) -> StopResult:
    """Stop everything that runs in the slot before it is salvaged, reset or removed: its
    agent (`group`, if one was recorded), and every other process without a terminal whose
    working directory or an open file is in it (see slot_strays). The running agents of
    `others`, the pool's other slots, are left alone wherever they work."""
    return _stop(repo, name, group, grace, others)


def _stop(
    repo: Repository,
    name: str,
    group: AgentGroup | None,
    grace: float,
    others: Sequence[Slot] | None,
) -> StopResult:
    """`others` None: the agent alone; otherwise the whole slot, sparing their agents."""
    guarded = [g for slot in others or () if slot.name != name and (g := AgentGroup.of(slot))]
    agent: set[int] = set()
    strays: set[int] = set()
    spared: list[int] = []

    def find(table: ProcessTable) -> set[int]:
        members = set(_members(group, table)) if group is not None else set()
        found = members - table.lineage()
        if others is not None:
            elsewhere = {pid for other in guarded for pid in _members(other, table)}
            left, kept = slot_strays(repo.slot_path(name), table, members | elsewhere)
            strays.update(left)
            spared.extend(pid for pid in kept if pid not in spared)
            found |= set(left)
        agent.update(members)
        return found

    outcome, _ = stop_processes(find, grace)
    result = StopResult(name, None, "no agent", None, sorted(strays), sorted(spared))
    if group is None:
        return result
    code = _exit_code(repo, name)
    if not agent:
        return replace(result, pid=group.pgid, outcome="not running", exit_code=code)
    if code is None:  # the runner itself was killed before it could record the agent's end
        code = -signal.SIGKILL
        record_exit(_exit_path(repo, name), code, killed_by="wtpool stop")
    return replace(result, pid=group.pgid, outcome=outcome or "stopped", exit_code=code)


def stop_processes(
    find: Callable[[ProcessTable], set[int]], grace: float
) -> tuple[str | None, set[int]]:
    """SIGTERM to every process `find` names, then SIGKILL to those still there after `grace`
    seconds; `find` is asked again every 50 ms, so that a process started meanwhile (a child
    forked at the last moment) gets the same signal. Returns how it ended (None: nothing
    was found; stopped: all ended on SIGTERM; killed: SIGKILL was needed) and every process
    signalled."""
    signalled: dict[int, int] = {}
    for signum, seconds in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        deadline = time.monotonic() + seconds
        while live := find(table := ProcessTable()):
            for pid in live:
                if signalled.get(pid) != signum:
                    table.signal(pid, signum)
                    signalled[pid] = signum
            if time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        else:
            if not signalled:
                return None, set()
            return ("stopped" if signum == signal.SIGTERM else "killed"), set(signalled)
    return "killed", set(signalled)


def kill_unrecorded(slot: str, agent: str, pid: int, started: float) -> None:
    """Kill an agent just started whose pid could not be recorded."""
    group = AgentGroup(slot, agent, pid, started)
    stop_processes(lambda table: set(_members(group, table)) - table.lineage(), 0.0)


def unrecorded_processes(
    repo: Repository, table: ProcessTable, recorded: Sequence[AgentGroup]
) -> list[int]:
    """Processes of agents of this pool that no slot records: an agent runner of this pool
    (its exit file is in the pool's logs) that is no recorded agent, and a process under the
    pool directory that carries an agent runner's mark but is no recorded agent's; with their
    descendants. A shell that sourced .env.worktree carries no such mark."""
    known = {pid for group in recorded for pid in _members(group, table)}
    roots = [
        pid
        for pid in table.handles
        if pid not in known and pid not in table.zombies and _agents_process(repo, table, pid)
    ]
    found: set[int] = set()
    while roots:
        pid = roots.pop()
        if pid not in found and pid not in known and not table.is_pool_process(pid):
            found.add(pid)
            roots.extend(child for child in table.children(pid) if child not in table.zombies)
    return sorted(found - table.lineage())


def _agents_process(repo: Repository, table: ProcessTable, pid: int) -> bool:
    """Whether the process is an agent runner of this pool, or one that an agent runner
    started and that is under the pool directory."""
    import psutil

    try:
        command = table.handles[pid].cmdline()
    except (psutil.Error, OSError):
        return False
    if _runner_exit_file(command).startswith(str(repo.pool_dir / LOG_DIR) + os.sep):
        return True
    pool_dir = str(repo.pool_dir) + os.sep
    return table.environment(pid).get(GROUP_VARIABLE, "").isdigit() and any(
        place.startswith(pool_dir) for place in table.places(pid)
    )


def _runner_exit_file(command: list[str]) -> str:
    """The exit file of an agent runner's command line; empty for any other command."""
    if "worktree_pool.agent_runner" not in command:
        return ""
    rest = command[command.index("worktree_pool.agent_runner") + 1 :]
    return rest[0] if rest else ""


def stop_unrecorded(repo: Repository, grace: float, recorded: Sequence[AgentGroup]) -> list[int]:
    """Stop the processes of agents under the pool that no slot records (see
    unrecorded_processes): an agent whose start was cut short before its pid reached the
    state. Only for cleanup, once every recorded agent is stopped. Returns the processes
    stopped."""
    _, signalled = stop_processes(
        lambda table: set(unrecorded_processes(repo, table, recorded)), grace
    )
    return sorted(signalled)


def stop_agents(repo: Repository, store: StateStore, name: str | None) -> list[StopResult]:
    """Stop the agent of slot `name`, or every slot's agent when `name` is None."""
    with store.snapshot() as conn:
        require_pool(conn, repo)
        slots = [lookup_slot(conn, name)] if name is not None else all_slots(conn)
    grace = repo.config.agent.stop_grace
    return [stop_agent(repo, slot, grace) for slot in slots if name or slot.agent_pid]

"""Stopping agents and what else runs in a slot: SIGTERM, then SIGKILL after a grace period.

wtpool signals processes one by one, each as it was seen, never a group id that may have been
reused, so it never signals a stranger. `wtpool stop` stops the agent's processes. Before a
slot is salvaged, reset or removed (release, cleanup), wtpool also stops every other process
whose working directory or an open file is in the slot, except one with a terminal (a person's
shell or editor), another user's, another slot's running agent's, the pool's own (its database
server, a background merge), and wtpool itself with what it runs under (see clear_slot).
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from worktree_pool.agents.logs import exit_code, exit_path, stopped_path
from worktree_pool.agents.membership import (
    AgentGroup,
    members_of,
    slot_strays,
    unrecorded_processes,
)
from worktree_pool.agents.process_table import ProcessTable
from worktree_pool.agents.runner import record_exit
from worktree_pool.agents.terminal import kill_session, live_sessions
from worktree_pool.git.repo import Repository
from worktree_pool.store.pool import require_pool
from worktree_pool.store.protocol import Store
from worktree_pool.store.slots import Slot, all_slots, lookup_slot
from worktree_pool.store.values import utc_now
from worktree_pool.util.private import write_private


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

    @property
    def signalled(self) -> bool:
        """Whether anything in the slot was sent a signal."""
        return self.outcome in ("stopped", "killed") or bool(self.strays)


def stop_agent(repo: Repository, slot: Slot, grace: float) -> StopResult:
    """Stop the slot's agent: its processes (see group_members), SIGTERM, then SIGKILL to
    whatever is still there after `grace` seconds. The slot stays its holder's: what else
    runs there is not the agent's, and is left alone."""
    return _stop(repo, slot.name, AgentGroup.of(slot), grace, None)


def clear_slot(
    repo: Repository,
    name: str,
    group: AgentGroup | None,
    grace: float,
    others: Sequence[Slot],
    table: ProcessTable | None = None,
) -> StopResult:
    """Stop everything that runs in the slot before it is salvaged, reset or removed: its
    agent (`group`, if one was recorded), and every other process without a terminal whose
    working directory or an open file is in it (see slot_strays). The running agents of
    `others`, the pool's other slots, are left alone wherever they work. `table`: a fresh
    look at the processes to start from (see stop_processes)."""
    return _stop(repo, name, group, grace, others, table)


def _stop(
    repo: Repository,
    name: str,
    group: AgentGroup | None,
    grace: float,
    others: Sequence[Slot] | None,
    table: ProcessTable | None = None,
) -> StopResult:
    """`others` None: the agent alone; otherwise the whole slot, sparing their agents."""
    guarded = [g for slot in others or () if slot.name != name and (g := AgentGroup.of(slot))]
    agent: set[int] = set()
    strays: set[int] = set()
    spared: list[int] = []

    def find(table: ProcessTable) -> set[int]:
        members = set(members_of(group, table)) if group is not None else set()
        found = members - table.lineage()
        if found and not agent:  # the agent's, before their first signal: see logs.stopped_path
            with contextlib.suppress(OSError):
                write_private(stopped_path(repo, name), f"{utc_now()}\n")
        if others is not None:
            elsewhere = {pid for other in guarded for pid in members_of(other, table)}
            left, kept = slot_strays(repo.slot_path(name), table, members | elsewhere)
            strays.update(left)
            spared.extend(pid for pid in kept if pid not in spared)
            found |= set(left)
        agent.update(members)
        return found

    outcome, _ = stop_processes(find, grace, table)
    # Its pane ended with the agent, and with it the session, unless something else keeps it
    # (a window a person opened in it, a tmux.conf's remain-on-exit). Whatever the settings
    # say now: the agent may have been started in tmux before they changed.
    kill_session(repo, name)
    result = StopResult(name, None, "no agent", None, sorted(strays), sorted(spared))
    if group is None:
        return result
    code = exit_code(repo, name)
    if not agent:
        return replace(result, pid=group.pgid, outcome="not running", exit_code=code)
    if code is None:  # the runner itself was killed before it could record the agent's end
        code = -signal.SIGKILL
        record_exit(exit_path(repo, name), code, killed_by="wtpool stop")
    return replace(result, pid=group.pgid, outcome=outcome or "stopped", exit_code=code)


def stop_processes(
    find: Callable[[ProcessTable], set[int]], grace: float, first: ProcessTable | None = None
) -> tuple[str | None, set[int]]:
    """SIGTERM to every process `find` names, then SIGKILL to those still there after `grace`
    seconds; `find` is asked again every 50 ms, so that a process started meanwhile (a child
    forked at the last moment) gets the same signal. `first`: a fresh look to ask first (one
    look serves many slots: reading every process's open files is the cost). Returns how it
    ended (None: nothing was found; stopped: all ended on SIGTERM; killed: SIGKILL was
    needed) and every process signalled."""
    signalled: dict[int, int] = {}
    for signum, seconds in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        deadline = time.monotonic() + seconds
        while live := find(table := first or ProcessTable()):
            first = None  # every later look is a fresh one
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
    stop_processes(lambda table: set(members_of(group, table)) - table.lineage(), 0.0)


def stop_unrecorded(
    repo: Repository,
    grace: float,
    recorded: Sequence[AgentGroup],
    table: ProcessTable | None = None,
) -> list[int]:
    """Stop the processes of agents under the pool that no slot records (see
    unrecorded_processes): an agent whose start was cut short before its pid reached the
    state. Only for cleanup, once every recorded agent is stopped; it also ends every tmux
    session left on the pool's server. Returns the processes stopped."""
    _, signalled = stop_processes(
        lambda table: set(unrecorded_processes(repo, table, recorded)), grace, table
    )
    for slot in live_sessions(repo):  # every agent is stopped: a session left has no use
        kill_session(repo, slot)
    return sorted(signalled)


def stop_agents(repo: Repository, store: Store, name: str | None) -> list[StopResult]:
    """Stop the agent of slot `name`, or every slot's agent when `name` is None."""
    with store.snapshot() as conn:
        require_pool(conn, repo)
        slots = [lookup_slot(conn, name)] if name is not None else all_slots(conn)
    grace = repo.config.agent.stop_grace
    return [stop_agent(repo, slot, grace) for slot in slots if name or slot.agent_pid]

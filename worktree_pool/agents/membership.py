"""Which processes are an agent's, and which others are in a slot or are agents no slot records.

The agent's processes are its group, its session, the processes that carry its mark, and their
descendants (see group_members). Its work is over only when all of them are gone: the runner may
exit, or be killed, while something the agent started still runs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from worktree_pool.agents.logs import LOG_DIR
from worktree_pool.agents.process_table import ProcessTable, started_as
from worktree_pool.git.repo import Repository
from worktree_pool.store.slots import Slot
from worktree_pool.util.processes import GROUP_VARIABLE


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
        and started_as(runner, group.started)
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


def members_of(group: AgentGroup, table: ProcessTable | None = None) -> list[int]:
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


def unrecorded_processes(
    repo: Repository, table: ProcessTable, recorded: Sequence[AgentGroup]
) -> list[int]:
    """Processes of agents of this pool that no slot records: an agent runner of this pool
    (its exit file is in the pool's logs) that is no recorded agent, and a process under the
    pool directory that carries an agent runner's mark but is no recorded agent's; with their
    descendants. A shell that sourced .env.worktree carries no such mark."""
    known = {pid for group in recorded for pid in members_of(group, table)}
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
    import psutil  # not at the top: see process_table.ProcessTable

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

"""`wtpool status`: the pool, every slot as git and the disk show it, and the queue.

Agents call it constantly, so it reads the store once, asks git once for every worktree, and
looks at the process table only when a slot has an agent process; it never starts the
embedded database server (a slot's database is named, not connected to).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from worktree_pool.agents.activity import Activity, agent_activity
from worktree_pool.agents.process import AgentProcess, agent_process
from worktree_pool.agents.process_table import ProcessTable
from worktree_pool.db.names import slot_database
from worktree_pool.git.repo import Repository, git_dir_of
from worktree_pool.git.run import (
    WorktreeRecord,
    has_uncommitted,
    trees_of,
    worktree_records,
)
from worktree_pool.pool.handoff import env_file_in
from worktree_pool.pool.opening import host_id
from worktree_pool.store.limits import LatestSample, latest_sample
from worktree_pool.store.pool import PoolRecord, no_pool_error, read_pool
from worktree_pool.store.protocol import Store
from worktree_pool.store.queue import QueuedRequest, queued_requests
from worktree_pool.store.slots import all_slots


@dataclass(frozen=True)
class PoolInfo:
    root: str
    pool_dir: str
    config: str | None
    base: str
    min: int
    max: int
    size: int
    closing_pid: int | None  # set while `wtpool cleanup` ends the session, or after it crashed
    env_file: str  # agent.env_file: where the slots' hand-off files go unless it is tracked
    host: str | None  # this pool's host id, where a control plane is shared (state.url)


@dataclass(frozen=True)
class SlotStatus:
    name: str
    path: str
    state: str
    branch: str | None
    head: str | None
    task: str | None
    agent: str | None
    dirty: bool | None  # None when git cannot look: the directory or its record is missing
    present: bool  # whether the slot's directory exists
    scope: tuple[str, ...] | None  # the task's patterns; None: the whole tree
    acquired_at: str | None
    track: str | None
    agent_process: AgentProcess | None  # the agent spawn started here, if any
    database: str | None  # the slot's database; None when database.mode is none
    # The hand-off file wtpool wrote in the slot, relative to it (agent.env_file, or
    # .wtpool/env where the repository tracks that); None when there is none.
    env_file: str | None
    out_of_service: str | None = None  # why the slot is not handed out: a setup hook failed
    activity: Activity | None = None  # what its agent is doing: working, waiting, ...


@dataclass(frozen=True)
class StatusReport:
    pool: PoolInfo
    worktrees: list[SlotStatus]
    queue: list[QueuedRequest]
    sample: LatestSample | None = None  # the newest sample of the daemon or a monitor


def pool_status(repo: Repository, store: Store) -> StatusReport:
    with store.snapshot() as conn:
        pool = read_pool(conn)
        if pool is None:
            raise no_pool_error(repo)
        slots = all_slots(conn)
        queue = queued_requests(conn)
        sample = latest_sample(conn)
    records = {record.path: record for record in worktree_records(repo.git)}
    table = ProcessTable() if any(slot.agent_pid for slot in slots) else None
    dirty = _uncommitted(repo, [slot.name for slot in slots], records)
    worktrees = []
    for slot in slots:
        path = repo.slot_path(slot.name)
        record = records.get(path)
        process = agent_process(repo, slot, table)
        worktrees.append(
            SlotStatus(
                name=slot.name,
                path=str(path),
                state=slot.state,
                branch=record.branch if record else None,
                head=record.head if record else None,
                task=slot.task,
                agent=slot.agent,
                dirty=dirty[slot.name],
                present=path.is_dir(),
                scope=slot.scope,
                acquired_at=slot.acquired_at,
                track=slot.track,
                agent_process=process,
                database=_database_name(repo, pool, slot.name),
                env_file=env_file_in(repo, slot.name) if path.is_dir() else None,
                out_of_service=slot.out_of_service,
                activity=agent_activity(repo, slot, process, table) if table else None,
            )
        )
    return StatusReport(
        pool=PoolInfo(
            root=str(repo.root),
            pool_dir=str(repo.pool_dir),
            config=str(repo.config_path) if repo.config_path else None,
            base=pool.base,
            min=pool.min,
            max=pool.max,
            size=len(slots),
            closing_pid=pool.closing_pid,
            env_file=repo.config.agent.env_file,
            host=None if repo.config.state.url is None else host_id(repo, pool.pool_id),
        ),
        worktrees=worktrees,
        queue=queue,
        sample=sample,
    )


def _uncommitted(
    repo: Repository, slots: list[str], records: dict[Path, WorktreeRecord]
) -> dict[str, bool | None]:
    """Whether each slot has uncommitted work; None where git cannot look. Only a directory that
    is still the worktree: a plain one in its place (its `.git` gone) has no status of its own,
    and doctor reports it. The slots are asked at once: each `git status` waits mostly on the
    disk, and on a big repository they are most of what status costs."""
    paths = {slot: repo.slot_path(slot) for slot in slots}
    answers: dict[str, bool | None] = dict.fromkeys(slots)
    failures: list[BaseException] = []
    heads = {records[path].head for path in paths.values() if path in records}
    trees = trees_of(repo.git, {head for head in heads if head})

    def look(slot: str) -> None:
        path = paths[slot]
        git = repo.git.at(path)
        git_dir = git_dir_of(path)
        index = git_dir / "index" if git_dir else None
        try:
            answers[slot] = has_uncommitted(git, index, trees.get(records[path].head or ""))
        except BaseException as exc:  # raised below, in the caller's thread
            failures.append(exc)

    # Plain threads, not concurrent.futures: its import (logging with it) would cost status
    # more than two slots' answers take.
    threads = [
        threading.Thread(target=look, args=(slot,))
        for slot, path in paths.items()
        if path in records and (path / ".git").is_file()
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return answers


def _database_name(repo: Repository, pool: PoolRecord, slot: str) -> str | None:
    # The name only: status must stay fast, and must not start the embedded server.
    if repo.config.database.mode == "none":
        return None
    return slot_database(repo, pool, slot)

"""One sample of what the pool uses: database connections, disk, file descriptors, the pool's
size and queue, and the agents' processes.

A sample is one query to the database server, a few reads under /proc and one walk of the
process table, plus disk usage, which is remembered (diskusage.py): with `measure_disk` it
walks what is older than `monitor.disk_refresh`, without it it takes the remembered readings
as they are. It never starts the embedded server: a monitor that did would hold resources
nobody asked for.
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from worktree_pool.agents.activity import agent_activity
from worktree_pool.agents.membership import AgentGroup, group_members
from worktree_pool.agents.process import agent_process
from worktree_pool.agents.process_table import ProcessTable
from worktree_pool.db.inventory import server_load
from worktree_pool.db.server import SERVER_DIR
from worktree_pool.db.slots import owner_of, running_server
from worktree_pool.errors import WtpoolError
from worktree_pool.git.repo import Repository
from worktree_pool.monitor.diskusage import EntryUse, pool_usage
from worktree_pool.store.pool import PoolRecord, require_pool
from worktree_pool.store.protocol import Store
from worktree_pool.store.queue import queued_requests
from worktree_pool.store.slots import Slot, all_slots
from worktree_pool.store.values import utc_now
from worktree_pool.util.redact import mask

if TYPE_CHECKING:
    import psutil


@dataclass(frozen=True)
class DatabaseUse:
    server: str  # "embedded" or the external server's masked address
    connections: int
    max_connections: int
    by_database: dict[str, int]  # connections to each database that has any
    pool_databases: list[str]  # this pool's databases
    pool_bytes: int  # their size
    slot_databases: dict[str, str] = field(default_factory=dict)  # slot -> its database


@dataclass(frozen=True)
class DiskUse:
    pool_bytes: int  # slots, logs, state: the pool directory but the embedded server's data
    database_bytes: int  # the embedded server's data directory, or the external databases
    oldest_reading: str | None  # when the oldest remembered measurement was taken
    by_entry: dict[str, int] = field(default_factory=dict)

    @property
    def total_bytes(self) -> int:
        return self.pool_bytes + self.database_bytes


@dataclass(frozen=True)
class AgentFds:
    slot: str
    pid: int
    open: int
    limit: int  # the soft RLIMIT_NOFILE of that process

    @property
    def percent(self) -> float:
        return 100.0 * self.open / self.limit if self.limit > 0 else 0.0


@dataclass(frozen=True)
class FdUse:
    system_open: int
    system_max: int
    agents: list[AgentFds]  # for each agent's tree, its process nearest to its limit

    @property
    def system_percent(self) -> float:
        return 100.0 * self.system_open / self.system_max if self.system_max > 0 else 0.0

    @property
    def highest_percent(self) -> float:
        return max([self.system_percent, *(agent.percent for agent in self.agents)])

    @property
    def highest(self) -> str:
        """What the highest percentage is of, in words."""
        top = max(self.agents, key=lambda agent: agent.percent, default=None)
        if top is None or top.percent <= self.system_percent:
            return f"system {self.system_open}/{self.system_max}"
        return f"{top.slot} pid {top.pid} {top.open}/{top.limit}"


@dataclass(frozen=True)
class AgentUse:
    slot: str
    agent: str | None
    pid: int
    state: str  # running, exited, missing (gone without a record), or zombie
    processes: int
    zombies: int
    rss_bytes: int
    cpu_seconds: float  # user and system time so far, of the live processes
    activity: str | None = None  # starting, working, waiting, exited N, stopped: see activity


@dataclass(frozen=True)
class PoolLoad:
    size: int
    min: int
    max: int
    busy: int
    queued: int


@dataclass(frozen=True)
class Sample:
    taken_at: str
    pool: PoolLoad
    database: DatabaseUse | None  # None: no databases, or the embedded server is not running
    database_error: str | None  # why the server could not be asked
    disk: DiskUse
    fds: FdUse
    agents: list[AgentUse]


def take_sample(repo: Repository, store: Store, *, measure_disk: bool = True) -> Sample:
    """One sample; `measure_disk` False takes disk usage only from remembered readings."""
    with store.snapshot() as conn:
        pool = require_pool(conn, repo)
        slots = all_slots(conn)
        queued = len(queued_requests(conn))
    load = PoolLoad(
        size=len(slots),
        min=pool.min,
        max=pool.max,
        busy=sum(1 for slot in slots if slot.agent is not None),
        queued=queued,
    )
    database, database_error = _database_use(repo, store, pool)
    entries = pool_usage(repo.pool_dir, repo.config.monitor.disk_refresh, measure=measure_disk)
    agents, fds = _processes(repo, slots)
    return Sample(
        taken_at=utc_now(),
        pool=load,
        database=database,
        database_error=database_error,
        disk=_disk_use(repo, entries, database),
        fds=FdUse(*_system_fds(), fds),
        agents=agents,
    )


def _database_use(
    repo: Repository, store: Store, pool: PoolRecord
) -> tuple[DatabaseUse | None, str | None]:
    if repo.config.database.mode == "none":
        return None, None
    try:
        server = running_server(repo)
        if server is None:
            return None, None
        load = server_load(server, owner_of(repo, store, pool))
    except WtpoolError as exc:
        return None, exc.message
    where = "embedded" if repo.config.database.mode == "embedded" else mask(server.conninfo)
    names = [database.database for database in load.databases]
    size = sum(database.size_bytes for database in load.databases)
    slots = {info.slot: info.database for info in load.databases if info.slot is not None}
    use = DatabaseUse(
        where, load.connections, load.max_connections, load.by_database, names, size, slots
    )
    return use, None


def _disk_use(repo: Repository, entries: list[EntryUse], database: DatabaseUse | None) -> DiskUse:
    by_entry = {entry.name: entry.bytes for entry in entries}
    server_bytes = by_entry.get(SERVER_DIR, 0)  # the embedded server's data
    external = database.pool_bytes if database and repo.config.database.mode == "external" else 0
    oldest = min((entry.measured_at for entry in entries), default=None)
    return DiskUse(
        pool_bytes=sum(by_entry.values()) - server_bytes,
        database_bytes=server_bytes + external,
        oldest_reading=None if oldest is None else _iso(oldest),
        by_entry=by_entry,
    )


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


def _system_fds() -> tuple[int, int]:
    """Open and maximum file handles of the whole system, from /proc/sys/fs/file-nr."""
    try:
        allocated, unused, maximum = Path("/proc/sys/fs/file-nr").read_text().split()[:3]
        return int(allocated) - int(unused), int(maximum)
    except (OSError, ValueError):
        return 0, 0  # not Linux: no system-wide figure


def _processes(repo: Repository, slots: list[Slot]) -> tuple[list[AgentUse], list[AgentFds]]:
    with_agents = [slot for slot in slots if slot.agent_pid is not None]
    if not with_agents:
        return [], []
    import psutil  # not at the top: see agents.process_table.ProcessTable

    table = ProcessTable()
    agents, fds = [], []
    for slot in with_agents:
        group = AgentGroup.of(slot)
        process = agent_process(repo, slot, table)
        if group is None or process is None:
            continue
        live, zombies = group_members(group, table)
        rss, cpu, nearest = 0, 0.0, None
        for pid in live:
            try:
                handle = psutil.Process(pid)
                with handle.oneshot():
                    rss += handle.memory_info().rss
                    times = handle.cpu_times()
                    cpu += times.user + times.system
                    use = AgentFds(slot.name, pid, handle.num_fds(), _fd_limit(handle))
            except (psutil.Error, OSError):  # gone since the walk, or not ours to read
                continue
            if nearest is None or use.percent > nearest.percent:
                nearest = use
        if nearest is not None:
            fds.append(nearest)
        state = "zombie" if zombies and not live else process.state
        activity = agent_activity(repo, slot, process, table, cpu)
        agents.append(
            AgentUse(
                slot.name,
                slot.agent,
                group.pgid,
                state,
                len(live),
                len(zombies),
                rss,
                cpu,
                activity.label if activity else None,
            )
        )
    return agents, fds


def _fd_limit(process: psutil.Process) -> int:
    import psutil  # not at the top: see agents.process_table.ProcessTable

    if not hasattr(psutil.Process, "rlimit"):  # not Linux: assume our own limit applies
        return resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    soft, _hard = process.rlimit(psutil.RLIMIT_NOFILE)
    return soft if soft > 0 else os.sysconf("SC_OPEN_MAX")

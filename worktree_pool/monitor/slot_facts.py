"""Per-slot facts for the dashboard: task, agent state, branch, commits ahead of and behind the
base, uncommitted files, disk, and database connections.

Two of them cost real time on a large repository: counting uncommitted files runs
`git status` in each slot, and disk usage walks it. `SlotFactsCache` remembers both, so a frame
costs one `git for-each-ref` and, for a branch or base that moved, one `git rev-list`; the slow
parts are refreshed by `refresh_slow()`, which the live dashboard runs in a background thread.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from worktree_pool.errors import WtpoolError
from worktree_pool.git.repo import Repository
from worktree_pool.monitor.diskusage import pool_usage
from worktree_pool.monitor.resources import Sample
from worktree_pool.store.slots import Slot

_MAX_REMEMBERED = 1000


@dataclass(frozen=True)
class SlotFacts:
    name: str
    task: str | None
    agent_state: str | None  # the agent's name and its process state, in words
    branch: str | None
    ahead: int | None  # commits on the branch that the base lacks; None: no branch
    behind: int | None
    dirty: int | None  # uncommitted paths; None: not measured yet
    disk_bytes: int | None
    db_connections: int | None  # None: no database


class SlotFactsCache:
    def __init__(self, repo: Repository) -> None:
        self.repo = repo
        self._counts: dict[tuple[str, str], tuple[int, int]] = {}  # (head, base) -> counts
        self._dirty: dict[str, tuple[int, float]] = {}  # slot -> (paths, measured at)
        self._lock = threading.Lock()

    def facts(self, slots: list[Slot], sample: Sample, base: str) -> list[SlotFacts]:
        tips = self._branch_tips()
        base_tip = tips.get(base)
        agents = {agent.slot: agent for agent in sample.agents}
        found = []
        for slot in slots:
            head = tips.get(slot.branch) if slot.branch else None
            counts = self._ahead_behind(head, base_tip) if head and base_tip else None
            agent = agents.get(slot.name)
            state = slot.agent or ""
            if agent is not None:
                state = f"{state} {agent.activity or agent.state}".strip()
            with self._lock:
                dirty = self._dirty.get(slot.name)
            found.append(
                SlotFacts(
                    name=slot.name,
                    task=slot.task,
                    agent_state=state or None,
                    branch=slot.branch,
                    ahead=counts[0] if counts else None,
                    behind=counts[1] if counts else None,
                    dirty=dirty[0] if dirty else None,
                    disk_bytes=sample.disk.by_entry.get(slot.name),
                    db_connections=self._connections(slot, sample),
                )
            )
        return found

    def refresh_slow(self, slots: list[Slot], max_age: float) -> None:
        """Measure what is older than `max_age` seconds: disk usage and uncommitted files."""
        pool_usage(self.repo.pool_dir, max_age, measure=True)
        now = time.time()
        for slot in slots:
            with self._lock:
                known = self._dirty.get(slot.name)
            if known is not None and now - known[1] < max_age:
                continue
            path = self.repo.slot_path(slot.name)
            try:
                status = self.repo.git.at(path).out("status", "--porcelain", "--untracked-files")
            except WtpoolError:  # the slot is gone or broken: doctor's business, not ours
                continue
            with self._lock:
                self._dirty[slot.name] = (len(status.splitlines()), time.time())

    def _branch_tips(self) -> dict[str, str]:
        listed = self.repo.git.out(
            "for-each-ref", "--format=%(objectname) %(refname:strip=2)", "refs/heads/"
        )
        return {name: oid for oid, name in (line.split(" ", 1) for line in listed.splitlines())}

    def _ahead_behind(self, head: str, base: str) -> tuple[int, int]:
        key = (head, base)
        if len(self._counts) > _MAX_REMEMBERED:  # a long session moves many branches
            self._counts.clear()
        if key not in self._counts:
            counted = self.repo.git.out("rev-list", "--left-right", "--count", f"{head}...{base}")
            ahead, behind = (int(n) for n in counted.split())
            self._counts[key] = (ahead, behind)
        return self._counts[key]

    def _connections(self, slot: Slot, sample: Sample) -> int | None:
        """Connections to the slot's database; None when it has none (or none is known)."""
        if sample.database is None or slot.name not in sample.database.slot_databases:
            return None
        return sample.database.by_database.get(sample.database.slot_databases[slot.name], 0)

"""One look at the system's processes, and the start markers that tell a process from another
that got its pid later."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from worktree_pool.store.slots import pid_alive
from worktree_pool.util.processes import GROUP_VARIABLE, POOL_PROCESS_VARIABLE

# Start markers are whole clock ticks on Linux; elsewhere they are create times, which a clock
# step can shift, and a pid recycled within half a second of its predecessor is no real risk.
_SAME_PROCESS = 0.5


def start_marker(pid: int) -> float:
    """When the process started, in a form that identifies it: on Linux its start in clock
    ticks after boot (immune to clock changes), elsewhere its create time."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return float(stat.rpartition(")")[2].split()[19])
    except (OSError, IndexError, ValueError):
        import psutil  # not at the top: see ProcessTable

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


def started_as(pid: int, marker: float) -> bool:
    import psutil  # not at the top: see ProcessTable

    try:
        return abs(start_marker(pid) - marker) < _SAME_PROCESS
    except (psutil.Error, OSError):  # gone between the looks
        return False


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
        self._places: dict[int, list[str]] = {}
        self._marked: dict[str, list[int]] | None = None

    def family(self, leader: int) -> set[int]:
        """The processes in the group or the session that `leader` leads (or led)."""
        return self._families.get(leader, set())

    def children(self, pid: int) -> list[int]:
        return self._children.get(pid, [])

    def environment(self, pid: int) -> dict[str, str]:
        """The environment the process started with; empty when it cannot be read."""
        if pid not in self._environments:
            import psutil  # not at the top: see ProcessTable

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
        if pid in self._places:
            return self._places[pid]
        import psutil  # not at the top: see ProcessTable

        places = self._places[pid] = []
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
        import psutil  # not at the top: see ProcessTable

        try:
            process = self.handles[pid]
            return process.terminal() is not None or process.uids().real != os.getuid()
        except (psutil.Error, OSError):
            return True

    def signal(self, pid: int, signum: int) -> None:
        """Signal the very process seen: psutil refuses one whose pid was since reused."""
        import psutil  # not at the top: see ProcessTable

        with contextlib.suppress(psutil.Error, OSError, KeyError):
            self.handles[pid].send_signal(signum)

"""`wtpool leaks`: what the pool left lying around, and, with `--fix`, its safe repair.

Found:
- databases this pool made for a slot that no longer exists (dropped: a slot's database is a
  disposable clone, as release and cleanup treat it), and databases merely named like a
  slot's that this pool did not make (reported, never touched);
- worktrees under the pool directory that the state does not list, and slots whose directory
  is gone: doctor's checks of those kinds, with doctor's repairs (an unknown slot worktree is
  adopted, busy if it holds unique work, so that release salvages it);
- agent processes: a zombie in a running agent's group that is still there a second later
  (fixed by stopping that agent, whose exit lets the system reap it); processes of an agent
  that no slot records (an agent runner of this pool, or a process under the pool directory
  that carries a runner's WTPOOL_AGENT_GROUP, which a shell that sourced .env.worktree does
  not, and their descendants); and processes without a terminal whose working directory or
  an open file is in an idle slot. Stopped; never one started while leaks ran, which may be
  an agent not yet recorded. What a recorded agent left running is still that agent's: it
  keeps the agent "running" until `wtpool stop`;
- stale git lock files in slots (`index.lock` and the like, left by a git that died: no git
  process runs in that slot, and the file is older than a minute), and a daemon pid file whose
  process is gone, deleted;
- `wtpool/*` branches that the base already contains and no worktree has checked out,
  deleted (they hold nothing the base lacks);
- file reservations that expired and were never released (inactive already: marked released,
  as of their expiry), and stale ones: active, but their holder holds no slot, waits in no
  queue and runs no process (none has its WTPOOL_AGENT), so nobody would ever release them
  (released, as `unreserve --id N --force` does, and the holder is mailed).

`wtpool doctor` runs all of these checks too (examine_leaks), after its own.
"""

from __future__ import annotations

import contextlib
import os
import time

from worktree_pool.agents.membership import (
    AgentGroup,
    group_members,
    slot_strays,
    unrecorded_processes,
)
from worktree_pool.agents.process_table import ProcessTable
from worktree_pool.agents.reservations import close_expired, expired, force_release, stale
from worktree_pool.agents.stopping import stop_agent, stop_processes
from worktree_pool.coord.cleanup import delete_merged_branches
from worktree_pool.coord.consistency import examine
from worktree_pool.coord.daemon_lock import remove_stale_pid_file, stale_pid_file
from worktree_pool.coord.findings import DoctorReport, Finding, record_finding, unreachable
from worktree_pool.db.inventory import list_lookalikes, list_owned
from worktree_pool.db.slots import drop_slot_databases, owner_of, running_server
from worktree_pool.errors import WtpoolError
from worktree_pool.git.repo import Repository, git_dir_of
from worktree_pool.git.run import merged_branches, resolve, worktree_records
from worktree_pool.pool.worktrees import BRANCH_NAMESPACE
from worktree_pool.store.pool import PoolRecord, require_pool
from worktree_pool.store.protocol import Store
from worktree_pool.store.slots import Slot, SlotState, all_slots, slot_number

# Doctor's findings that are leaks: what git or the disk has that the state does not, and back.
_DOCTOR_KINDS = frozenset(
    {"unknown-worktree", "foreign-worktree", "missing-on-disk", "prunable", "moved-worktree"}
)
STALE_LOCK_AGE = 60.0  # seconds: git holds its locks for milliseconds, not minutes
_ZOMBIE_PATIENCE = 1.0  # seconds between the two looks that make a zombie lasting
_GIT_LOCKS = ("index.lock", "HEAD.lock")  # a worktree's own; the others are the repository's


def find_leaks(repo: Repository, store: Store, *, fix: bool) -> DoctorReport:
    report = examine(repo, store, DoctorReport(fix=fix, only=_DOCTOR_KINDS))
    report = DoctorReport(fix=fix, findings=report.findings)  # the rest are all wanted
    with store.snapshot() as conn:
        pool = require_pool(conn, repo)
    return examine_leaks(repo, store, report, pool)


def examine_leaks(
    repo: Repository, store: Store, report: DoctorReport, pool: PoolRecord
) -> DoctorReport:
    """The checks of leaks beyond doctor's own; doctor runs them too."""
    _databases(repo, store, report, pool)
    _processes(repo, store, report)
    _stale_locks(repo, report)
    _stale_daemon_record(repo, report)
    _merged_branches(repo, store, report, pool.base)
    # Shared reservations out of reach: doctor's check of the claims says the server is down.
    with contextlib.suppress(WtpoolError):
        _expired_reservations(repo, store, report)
        _stale_reservations(repo, store, report)
    return report


def _stale_reservations(repo: Repository, store: Store, report: DoctorReport) -> None:
    found = stale(store)
    running = _agents_with_processes({reservation.agent for reservation in found})
    for reservation in found:
        if reservation.agent in running:
            continue
        finding = Finding(
            "stale-reservation",
            f"#{reservation.id}",
            f"reservation #{reservation.id} of {reservation.agent} "
            f"({', '.join(reservation.patterns)}) is active, but {reservation.agent} holds no "
            "slot, waits in no queue and runs no process: nobody would ever release it",
            f"release it, as `wtpool unreserve --id {reservation.id} --force` does, and mail "
            f"{reservation.agent} why",
        )
        record_finding(report, finding, lambda rid=reservation.id: force_release(repo, store, rid))


def _agents_with_processes(agents: set[str]) -> set[str]:
    """Those of `agents` that a live process runs as: one started with their WTPOOL_AGENT (an
    agent whose slot was forgotten may still be at work)."""
    if not agents:
        return set()
    import psutil  # heavy to import: only when leaks looks at processes (see agents.ProcessTable)

    found = set()
    for process in psutil.process_iter():
        try:
            agent = process.environ().get("WTPOOL_AGENT")
        except (psutil.Error, OSError):
            continue
        if agent in agents:
            found.add(agent)
    return found


def _expired_reservations(repo: Repository, store: Store, report: DoctorReport) -> None:
    for reservation in expired(store):
        finding = Finding(
            "expired-reservation",
            f"#{reservation.id}",
            f"reservation #{reservation.id} of {reservation.agent} "
            f"({', '.join(reservation.patterns)}) expired at {reservation.expires_at} and was "
            "never released",
            "mark it released as of its expiry (it already holds nothing)",
        )
        record_finding(report, finding, lambda rid=reservation.id: close_expired(store, rid))


def _slots(store: Store) -> list[Slot]:
    with store.snapshot() as conn:
        return all_slots(conn)


def _databases(repo: Repository, store: Store, report: DoctorReport, pool: PoolRecord) -> None:
    if repo.config.database.mode == "none":
        return
    try:
        server = running_server(repo)
        if server is None:  # the embedded server is stopped: nothing of it is in use
            return
        owner = owner_of(repo, store, pool)
        owned = list_owned(server, owner)
        lookalikes = list_lookalikes(server, owner)
    except WtpoolError as exc:
        _note_unreachable(report, exc)
        return
    # The slots after the databases: a slot claimed in between has its database listed
    # with it, never as an orphan.
    present = {slot.name for slot in _slots(store)}
    for database in owned:
        if database.slot is None or database.slot in present:
            continue
        finding = Finding(
            "orphaned-database",
            database.database,
            f"database {database.database} was made for {database.slot}, which no longer exists",
            "drop it (a slot's database is a clone of the template)",
        )
        slot = str(database.slot)
        record_finding(report, finding, lambda slot=slot: _drop_orphan(repo, store, slot, pool))
    for name in lookalikes:
        report.findings.append(
            Finding(
                "lookalike-database",
                name,
                f"database {name} is named like a slot's, but this pool did not make it",
                "none: wtpool never drops a database it did not create",
                informational=True,
            )
        )


def _drop_orphan(repo: Repository, store: Store, slot: str, pool: PoolRecord) -> None:
    if slot in {s.name for s in _slots(store)}:
        raise WtpoolError(f"{slot} exists again: its database is in use")
    drop_slot_databases(repo, store, [slot], pool)


def _note_unreachable(report: DoctorReport, exc: WtpoolError) -> None:
    report.findings.append(
        unreachable("database-unreachable", "database server", "databases are", exc)
    )


def _processes(repo: Repository, store: Store, report: DoctorReport) -> None:
    import psutil  # heavy to import: only when leaks looks at processes (see agents.ProcessTable)

    scan_started = time.time()
    _zombies(repo, store, report)
    table = ProcessTable()
    for pid, why in _strays(repo, store, table).items():
        handle = table.handles[pid]
        try:
            if handle.create_time() >= scan_started:
                continue  # started during the scan: perhaps an agent not yet recorded
            name = handle.name()
        except (psutil.Error, OSError):  # gone already
            continue
        finding = Finding(
            "stray-process",
            f"pid {pid}",
            f"process {pid} ({name}) {why}",
            "stop it (SIGTERM, then SIGKILL)",
        )
        record_finding(report, finding, lambda pid=pid: _terminate(repo, store, pid))


def _strays(repo: Repository, store: Store, table: ProcessTable) -> dict[int, str]:
    """Processes the pool left running, and why each is a leak: those of agents no slot
    records (see agents.unrecorded_processes), and any other process without a terminal in
    an idle slot (see agents.slot_strays), which nobody holds. A process in a busy slot is
    its holder's, whoever started it."""
    slots = _slots(store)
    recorded = [group for slot in slots if (group := AgentGroup.of(slot)) is not None]
    found = {
        pid: "was started by an agent that no slot records"
        for pid in unrecorded_processes(repo, table, recorded)
    }
    agents = {pid for group in recorded for pid in group_members(group, table)[0]}
    for slot in slots:
        if slot.state == SlotState.IDLE:
            strays, _ = slot_strays(repo.slot_path(slot.name), table, agents)
            found.update((pid, f"runs in {slot.name}, which is idle") for pid in strays)
    return found


def _zombies(repo: Repository, store: Store, report: DoctorReport) -> None:
    """Zombies in agents' groups that are still there a moment later: a busy agent has
    short-lived ones all the time, which its next wait reaps."""
    first = _zombie_pids(store)
    if not first:
        return
    time.sleep(_ZOMBIE_PATIENCE)
    for name, (slot, pids) in _zombie_pids(store).items():
        lasting = sorted(set(pids) & set(first.get(name, (slot, []))[1]))
        if not lasting:
            continue
        finding = Finding(
            "zombie",
            slot.name,
            f"the agent in {slot.name} has {len(lasting)} exited child process(es) it never "
            f"reaped (pids {', '.join(map(str, lasting))})",
            "stop the agent, so that the system reaps them",
        )
        record_finding(report, finding, lambda slot=slot: _stop(repo, slot))


def _zombie_pids(store: Store) -> dict[str, tuple[Slot, list[int]]]:
    """Slot name -> (the slot, the zombies in its running agent's group)."""
    table = ProcessTable()
    found = {}
    for slot in _slots(store):
        group = AgentGroup.of(slot)
        if group is None:
            continue
        live, zombies = group_members(group, table)
        if live and zombies:
            found[slot.name] = (slot, zombies)
    return found


def _stop(repo: Repository, slot: Slot) -> str:
    return stop_agent(repo, slot, repo.config.agent.stop_grace).outcome


def _terminate(repo: Repository, store: Store, pid: int) -> str:
    """Stop a stray process, and only while it still is one: SIGTERM, then SIGKILL."""
    outcome, _ = stop_processes(lambda table: {pid} & set(_strays(repo, store, table)), 5.0)
    return outcome or "already gone"


def _stale_locks(repo: Repository, report: DoctorReport) -> None:
    busy_dirs = _git_working_dirs()
    now = time.time()
    for record in worktree_records(repo.git):
        if record.path.parent != repo.pool_dir or slot_number(record.path.name) is None:
            continue
        git_dir = git_dir_of(record.path)
        inside = (str(record.path), str(record.path) + os.sep)
        if git_dir is None or any(d == inside[0] or d.startswith(inside[1]) for d in busy_dirs):
            continue
        for lock in _GIT_LOCKS:
            path = git_dir / lock
            try:
                age = now - path.stat().st_mtime
            except OSError:
                continue
            if age < STALE_LOCK_AGE:
                continue
            finding = Finding(
                "stale-lock",
                str(path),
                f"{path} is {age:.0f} s old and no git process runs in "
                f"{record.path.name}: a git that died left it, and it blocks git there",
                "delete it",
            )
            record_finding(report, finding, lambda path=path: path.unlink(missing_ok=True))


def _stale_daemon_record(repo: Repository, report: DoctorReport) -> None:
    path = stale_pid_file(repo)
    if path is not None:
        finding = Finding(
            "stale-lock",
            str(path),
            f"{path} names a daemon process that is gone (it was killed, or the machine restarted)",
            "delete it",
        )
        record_finding(report, finding, lambda: remove_stale_pid_file(repo))


def _git_working_dirs() -> list[str]:
    """The working directories of running git processes."""
    import psutil  # heavy to import: only when leaks looks at processes (see agents.ProcessTable)

    found = []
    for process in psutil.process_iter(["name", "cwd"]):
        if process.info.get("name") == "git" and process.info.get("cwd"):
            found.append(process.info["cwd"])
    return found


def _merged_branches(repo: Repository, store: Store, report: DoctorReport, base: str) -> None:
    if resolve(repo.git, f"refs/heads/{base}") is None:  # doctor reports it: nothing is merged
        return
    checked_out = {record.branch for record in worktree_records(repo.git)}
    merged = merged_branches(repo.git, f"refs/heads/{base}", BRANCH_NAMESPACE)
    for branch in sorted(set(merged) - checked_out):
        finding = Finding(
            "merged-branch",
            branch,
            f"branch {branch} is already in {base} and no worktree has it checked out",
            f"delete it (its commits stay in {base})",
        )
        record_finding(report, finding, lambda branch=branch: _delete(repo, store, base, branch))


def _delete(repo: Repository, store: Store, base: str, branch: str) -> None:
    # A claim creates its branch at the base tip a moment before checking it out: while any
    # slot is being prepared, a merged, unchecked-out branch may be that one.
    if any(slot.state == SlotState.PREPARING for slot in _slots(store)):
        raise WtpoolError("a slot is being prepared; run `wtpool leaks --fix` again")
    if branch not in delete_merged_branches(repo, base, only={branch}):
        raise WtpoolError(f"{branch} moved or was checked out since it was found")

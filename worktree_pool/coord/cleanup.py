"""Verbs that span the whole session. For now: `cleanup`, which ends it.

Cleanup removes every slot, yet never destroys work. For each slot it first saves what is unique
there to a salvage branch (see salvage.py), and only then removes the worktree. A slot whose work
cannot be saved is not removed, and a directory under the pool that git does not know as a
worktree is left alone, since wtpool cannot tell what it holds. Branches under `wtpool/` that the
base already contains hold nothing unique and are deleted.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from worktree_pool.agents.logs import LOG_DIR
from worktree_pool.agents.mail import BRIEF_SUBJECT, WTPOOL_SENDER
from worktree_pool.agents.membership import AgentGroup
from worktree_pool.agents.process_table import ProcessTable
from worktree_pool.agents.reservations import release_in
from worktree_pool.agents.stopping import StopResult, clear_slot, stop_unrecorded
from worktree_pool.coord.daemon_lock import stop_daemon_if_running
from worktree_pool.db import server as pgserver
from worktree_pool.db.slots import drop_pool_databases
from worktree_pool.errors import WtpoolError
from worktree_pool.git.repo import Repository
from worktree_pool.git.run import (
    Git,
    WorktreeRecord,
    current_branch,
    delete_branches_if_at,
    merged_branches,
    resolve,
    worktree_records,
)
from worktree_pool.merge.queue import processor_in
from worktree_pool.merge.scratch import remove_scratch_worktrees
from worktree_pool.pool.copies import STAGING_DIR
from worktree_pool.pool.handoff import BRIEF_DIR
from worktree_pool.pool.opening import open_store_if_any
from worktree_pool.pool.salvage import UniqueWork, inspect_work, naming_salvage_on_failure, salvage
from worktree_pool.pool.slot_hooks import hooks_in_effect, run_reported
from worktree_pool.pool.stale_records import StaleRecord, settle_stale_record
from worktree_pool.pool.worktrees import (
    BRANCH_NAMESPACE,
    remove_worktree,
    slot_records,
)
from worktree_pool.scope.hooks import remove_guard
from worktree_pool.store import mail, merges, queue
from worktree_pool.store.databases import check_databases_visible
from worktree_pool.store.pool import close_pool, closing_error, delete_pool, read_pool, reopen_pool
from worktree_pool.store.protocol import Store
from worktree_pool.store.slots import (
    TRANSIENT_STATES,
    Slot,
    all_slots,
    delete_slot,
    in_use_error,
    owner_alive,
    pid_alive,
    slot_number,
)
from worktree_pool.store.split import leave
from worktree_pool.util import testpoints

# Slots checked and saved at once: enough to keep every core busy starting git.
_CLEANERS = min(8, max(2, os.cpu_count() or 2))
# Seconds one look at the processes stands for the slots' stops (see _stop_processes).
_LOOK_FRESH = 1.0


@dataclass(frozen=True)
class SlotCleanup:
    name: str
    path: str
    removed: bool
    work: UniqueWork | None = None  # what was unique in the slot
    salvage_branch: str | None = None
    branch: str | None = None  # the branch the slot had out; kept if it holds unmerged commits
    discarded: bool = False  # --force: something unique is gone
    discarded_commits: list[str] = field(default_factory=list)  # --force on a detached HEAD
    error: str | None = None
    stale: StaleRecord | None = None  # its directory was gone: what became of git's record


@dataclass
class CleanupResult:  # filled in as cleanup goes
    base: str
    slots: list[SlotCleanup] = field(default_factory=list)
    deleted_branches: list[str] = field(default_factory=list)
    left_alone: list[str] = field(default_factory=list)  # directories wtpool did not create
    dropped_requests: list[str] = field(default_factory=list)  # agents that were queued
    dropped_merges: list[str] = field(default_factory=list)  # branches still queued to land
    stopped_agents: list[StopResult] = field(default_factory=list)  # and what else ran in slots
    stopped_unrecorded: list[int] = field(default_factory=list)  # processes of unrecorded agents
    warnings: list[str] = field(default_factory=list)
    dropped_databases: list[str] = field(default_factory=list)
    stopped_server: bool = False  # the pool's embedded PostgreSQL was running, and was stopped
    stopped_daemon: bool = False  # `wtpool daemon` was running, and was stopped
    released_reservations: list[int] = field(default_factory=list)  # freed with the session
    database_error: str | None = None  # why the pool's databases could not all be dropped

    @property
    def complete(self) -> bool:
        return all(slot.removed for slot in self.slots) and self.database_error is None


def cleanup(repo: Repository, *, force: bool) -> CleanupResult:
    store = open_store_if_any(repo)  # checks the pool directory first
    with store or contextlib.nullcontext():
        return _cleanup(repo, store, force)


def _cleanup(repo: Repository, store: Store | None, force: bool) -> CleanupResult:
    if store is not None:
        with store.snapshot() as conn:
            check_databases_visible(conn, repo)
    slots, base = _close_pool(store) if store is not None else ([], None)
    testpoints.reached("cleanup.closed")
    known = [slot.name for slot in slots]
    try:
        # The pool is closed first, so that the daemon can no longer claim a slot; it is
        # stopped before any slot goes, so that it does not sample or tend while they do.
        stopped_daemon = store is not None and stop_daemon_if_running(repo)
        # Agents first: a slot must not be salvaged and removed while something still writes.
        stopped, unrecorded = _stop_processes(repo, slots)
        # After the agents, before the salvage: what the hooks change is saved like the rest.
        hook_notes = _run_ending_hooks(repo, store, slots) if store is not None else []
        result = _remove_everything(repo, known, base or _fallback_base(repo), force)
        result.warnings[:0] = hook_notes
        result.stopped_agents.extend(stopped)
        result.stopped_unrecorded.extend(unrecorded)
        result.stopped_daemon = stopped_daemon
    except BaseException:
        if store is not None:
            _reopen_pool(store)
        raise
    if store is not None:
        failed = {slot.name for slot in result.slots if not slot.removed}
        if not failed:
            _drop_databases(repo, store, result)
            testpoints.reached("cleanup.databases")
        with store.transaction() as conn:
            for name in known:
                if name not in failed:
                    delete_slot(conn, name)
            if result.complete:
                result.dropped_requests.extend(queue.clear(conn))
                # The processor lock goes too: _close_pool found no live holder of this pool.
                # Where the queue is shared, another host's processor may be landing some of
                # this pool's entries: it records how each ends (its own recovery, if it dies).
                shared = repo.config.state.url is not None
                result.dropped_merges.extend(merges.clear(conn, keep_merging=shared))
                # The session that held them is over; before the pool row, which says whose.
                result.released_reservations = release_in(conn)
                mail.retire_unread(conn, WTPOOL_SENDER, BRIEF_SUBJECT)
                delete_pool(conn)
        if result.complete:
            try:
                leave(store)
            except WtpoolError as exc:  # the session is over here all the same
                result.warnings.append(f"this host stays listed in the control plane: {exc}")
        if not result.complete:
            _reopen_pool(store)
    return result


def _run_ending_hooks(repo: Repository, store: Store, slots: list[Slot]) -> list[str]:
    """Each live slot's pre_release hooks (if an agent held it) and pre_remove hooks; what
    went wrong in them, which never stops the cleanup."""
    notes: list[str] = []
    hooks = hooks_in_effect(repo, store)
    for slot in slots:
        if repo.slot_path(slot.name).is_dir():
            ending = ("pre_release", "pre_remove") if slot.agent else ("pre_remove",)
            for hook in ending:
                notes += run_reported(repo, store, hooks, slot, hook)
    return list(dict.fromkeys(notes))  # one note of untrusted hooks, not one per slot


def _stop_processes(repo: Repository, slots: list[Slot]) -> tuple[list[StopResult], list[int]]:
    """Stop what runs in the pool: each slot's agent and the rest of what runs in the slot,
    in recorded slots and in slot worktrees the state does not know, then what agents no slot
    recorded left under the pool. Returns what was stopped, or found and spared, per slot,
    and the processes of unrecorded agents."""
    grace = repo.config.agent.stop_grace
    known = {slot.name for slot in slots}
    groups = {slot.name: AgentGroup.of(slot) for slot in slots}
    groups |= {name: None for name in slot_records(repo) if name not in known}
    # One look at the processes serves the slots until something is signalled, or for a
    # second: reading each process's open files is what costs, and a quiet pool has nothing
    # to signal.
    table, looked = ProcessTable(), time.monotonic()
    outcomes = []
    for name, group in groups.items():
        if time.monotonic() - looked > _LOOK_FRESH:
            table, looked = ProcessTable(), time.monotonic()
        outcome = clear_slot(repo, name, group, grace, slots, table)
        if outcome.signalled:
            table, looked = ProcessTable(), time.monotonic()  # the signalled are gone: look again
        outcomes.append(outcome)
    recorded = [group for group in groups.values() if group is not None]
    unrecorded = stop_unrecorded(repo, grace, recorded, table)
    found = [outcome for outcome in outcomes if outcome.signalled or outcome.spared]
    return found, unrecorded


def _drop_databases(repo: Repository, store: Store, result: CleanupResult) -> None:
    """Every database the pool made goes with it; if the server cannot be reached, the pool
    stays recorded so that running cleanup again finishes the job."""
    with store.snapshot() as conn:
        pool = read_pool(conn)
    if pool is None:
        return
    try:
        drop = drop_pool_databases(repo, store, pool)
        result.dropped_databases.extend(drop.dropped)
        # The embedded server's data goes with it, unless it holds someone else's database.
        result.stopped_server = pgserver.stop(repo, keep_data=bool(drop.strangers))
    except WtpoolError as exc:
        result.database_error = exc.message
        return
    if drop.strangers:
        result.warnings.append(
            f"kept the embedded PostgreSQL's data in {pgserver.server_dir(repo)}: it holds "
            f"databases wtpool did not create ({', '.join(drop.strangers)})"
        )


def _close_pool(store: Store) -> tuple[list[Slot], str | None]:
    """Mark the pool closed to new claims; return the slots it knows and its base."""
    with store.transaction() as conn:
        pool = read_pool(conn)
        slots = all_slots(conn)
        closer = pool.closing_pid if pool else None
        if closer is not None and closer != os.getpid() and pid_alive(closer):
            raise closing_error(closer)
        for slot in slots:
            if slot.state in TRANSIENT_STATES and owner_alive(slot):
                raise in_use_error(slot, "wait for it to finish, then run `wtpool cleanup` again")
        merging = processor_in(conn)
        if merging is not None:
            raise WtpoolError(
                f"wtpool process {merging} is landing branches from the merge queue",
                "wait for it to finish (wtpool queue), then run `wtpool cleanup` again",
            )
        if pool is not None:
            close_pool(conn, os.getpid())
    return slots, pool.base if pool else None


def _reopen_pool(store: Store) -> None:
    with store.transaction() as conn:
        reopen_pool(conn, os.getpid())


def _remove_everything(repo: Repository, known: list[str], base: str, force: bool) -> CleanupResult:
    # Only worktrees named like slots are wtpool's; any other under the pool is left alone.
    records = slot_records(repo)
    names = sorted(set(known) | set(records), key=lambda n: (slot_number(n) or 0, n))
    result = CleanupResult(base=base)
    remove_scratch_worktrees(repo)

    def clean(name: str) -> SlotCleanup | None:
        outcome = _clean_slot(repo, name, records.get(name), base, force)
        testpoints.reached("cleanup.slot")
        return outcome

    # A stale record may be settled by moving a worktree under another slot's name, so those
    # go one by one first. Live slots are independent: their checks are a dozen git calls
    # each, mostly process start-up, so they run side by side (removals still take turns).
    live = [name for name in names if _is_live(repo, name, records.get(name))]
    outcomes = {name: clean(name) for name in names if name not in live}
    cleaners = ThreadPoolExecutor(max_workers=_CLEANERS)
    try:
        outcomes.update(zip(live, cleaners.map(clean, live), strict=True))
    finally:  # on Ctrl-C, the slots under way finish and the rest are left for the next run
        cleaners.shutdown(cancel_futures=True)
    result.slots.extend(outcome for name in names if (outcome := outcomes[name]) is not None)
    failed = {slot.name for slot in result.slots if not slot.removed}
    for name in names:
        if name not in failed:
            remove_guard(repo, name)
    if not failed:
        shutil.rmtree(repo.pool_dir / BRIEF_DIR, ignore_errors=True)
        with contextlib.suppress(OSError):  # copies stage there; empty once none runs
            (repo.pool_dir / STAGING_DIR).rmdir()
    result.left_alone.extend(_stray_directories(repo, exclude=failed))
    if resolve(repo.git, f"refs/heads/{base}") is None:
        result.warnings.append(
            f"the base branch {base} no longer exists, so no branch was deleted as merged"
        )
    else:
        result.deleted_branches.extend(delete_merged_branches(repo, base))
    return result


def _fallback_base(repo: Repository) -> str:
    """The base to judge merged work by when no pool records one."""
    if repo.config.pool.base:
        return repo.config.pool.base
    head = current_branch(repo.git)
    if head is None:
        raise WtpoolError(
            "no pool records a base branch and the main worktree's HEAD is detached",
            "set pool.base in wtpool.yaml so cleanup can tell merged work from unmerged",
        )
    return head


def _is_live(repo: Repository, name: str, record: WorktreeRecord | None) -> bool:
    """A slot git knows as a worktree, whose directory is there."""
    return record is not None and record.prunable is None and repo.slot_path(name).is_dir()


def _clean_slot(
    repo: Repository, name: str, record: WorktreeRecord | None, base: str, force: bool
) -> SlotCleanup | None:
    """Salvage and remove one slot. None when there is no worktree to remove: git has no
    record of it, or it is not a worktree and so is reported as left alone."""
    path = repo.slot_path(name)
    if record is not None and not _is_live(repo, name, record):
        try:
            stale = settle_stale_record(repo, record.path)
        except WtpoolError as exc:
            return SlotCleanup(name, str(path), removed=False, error=exc.message)
        moved = Path(stale.moved_to) if stale.moved_to else None
        if moved is not None and moved.parent == repo.pool_dir and slot_number(moved.name):
            # Moved within the pool, under another slot's name: still the pool's to clean.
            return _clean_slot(repo, moved.name, slot_records(repo).get(moved.name), base, force)
        return SlotCleanup(name, str(path), removed=True, stale=stale)
    if record is None:
        return None
    if record.locked not in (None, "initializing"):  # "initializing": a crashed worktree add
        return SlotCleanup(
            name,
            str(path),
            removed=False,
            error=f"its worktree is locked ({record.locked or 'no reason given'}); "
            f"`git worktree unlock {path}` lets cleanup remove it",
        )
    branch = None
    lost_commits: list[str] = []
    try:
        git = repo.git.at(path)
        work = inspect_work(git, base)
        if not force:
            branch = salvage(git, name, work)
        else:
            lost_commits = _commits_only_here(git, work, detached=record.branch is None)
        with naming_salvage_on_failure(branch):
            remove_worktree(repo, name, discard=True)
    except WtpoolError as exc:
        return SlotCleanup(name, str(path), removed=False, error=exc.message)
    except Exception as exc:  # one slot's surprise must not strand the others half-cleaned
        note = f" (its work is saved on branch {branch})" if branch else ""
        return SlotCleanup(name, str(path), removed=False, error=f"{exc!r}{note}")
    return SlotCleanup(
        name,
        str(path),
        removed=True,
        work=None if work.is_empty else work,
        salvage_branch=branch,
        branch=record.branch,
        discarded=force and bool(work.staged or work.unstaged or work.untracked or lost_commits),
        discarded_commits=lost_commits,
    )


def _commits_only_here(git: Git, work: UniqueWork, *, detached: bool) -> list[str]:
    """What --force discards that no branch holds: HEAD's commits when no branch has them out
    (detached, or its branch deleted), stash entries and commits only the reflogs hold."""
    tips = list(work.stashes) + list(work.reflog_tips)
    if work.head and work.unmerged_commits and (detached or work.deleted_branch):
        tips.append(work.head)
    if not tips:
        return []
    return git.out("log", "--format=%h %s", *tips, "--not", "--branches", "--").splitlines()


def _stray_directories(repo: Repository, exclude: set[str]) -> list[str]:
    if not repo.pool_dir.is_dir():
        return []
    # Dot-directories are wtpool's own (the slots' generated hooks and task briefs, later the
    # database), and so are the agents' logs, which stay to be read after the session.
    return sorted(
        str(entry)
        for entry in repo.pool_dir.iterdir()
        if entry.is_dir()
        and entry.name not in exclude | {LOG_DIR}
        and not entry.name.startswith(".")
    )


def delete_merged_branches(repo: Repository, base: str, only: set[str] | None = None) -> list[str]:
    """Delete wtpool's branches (or those of `only`) that `base` contains and no worktree has
    checked out; return the ones deleted."""
    checked_out = {record.branch for record in worktree_records(repo.git)}
    merged = merged_branches(repo.git, f"refs/heads/{base}", BRANCH_NAMESPACE)
    return sorted(
        delete_branches_if_at(
            repo.git,
            {
                branch: oid
                for branch, oid in merged.items()
                if (only is None or branch in only) and branch not in checked_out
            },
        )
    )

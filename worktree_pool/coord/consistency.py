"""Doctor's own checks: the state store against git and the disk, and their repairs.

Git and the filesystem are the truth; the store records intent. A crash (kill -9, a full disk, a
closed terminal) can leave the two apart, and every repair here either completes the interrupted
step or undoes it. No repair deletes a file: a directory that wtpool cannot vouch for is left
where it is and reported, and a slot with unique work is adopted busy, so that release or
cleanup salvages it. git's record of a slot whose directory is gone is repaired where the slot
was moved to, when that is known, and otherwise removed only after what it points to is saved
(stale_records.settle_stale_record).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from worktree_pool.agents.reservations import release_in
from worktree_pool.coord.findings import DoctorReport, Finding, note, record_finding
from worktree_pool.errors import WtpoolError
from worktree_pool.git.repo import Repository
from worktree_pool.git.run import WorktreeRecord, current_branch, resolve, worktree_records
from worktree_pool.merge.landing import settle_interrupted
from worktree_pool.merge.queue import interrupted
from worktree_pool.pool.adoption import adopt_worktrees, orphaned_worktrees
from worktree_pool.pool.recycle import finish_release
from worktree_pool.pool.salvage import inspect_work
from worktree_pool.pool.serving import prepare_claim, serve_queue
from worktree_pool.pool.stale_records import admin_dir_of, moved_location, settle_stale_record
from worktree_pool.store.pool import PoolRecord, no_pool_error, read_pool, reopen_pool
from worktree_pool.store.protocol import Store
from worktree_pool.store.queue import queued_requests
from worktree_pool.store.slots import (
    TRANSIENT_STATES,
    ClaimRequest,
    Slot,
    SlotState,
    all_slots,
    delete_slot,
    find_slot,
    owner_alive,
    pid_alive,
    slot_number,
    update_slot,
)


def examine(repo: Repository, store: Store, report: DoctorReport) -> DoctorReport:
    """Fill `report` with what is found (of the kinds it wants), repairing it if it says fix."""
    with store.snapshot() as conn:
        pool = read_pool(conn)
        slots = all_slots(conn)
        queue = queued_requests(conn)
    if pool is None:
        raise no_pool_error(repo)
    records = {record.path: record for record in worktree_records(repo.git)}

    if resolve(repo.git, f"refs/heads/{pool.base}") is None:
        note(
            report,
            Finding(
                "missing-base",
                pool.base,
                f"the pool's base branch {pool.base} no longer exists",
                "none: recreate the branch, or run `wtpool cleanup` (which saves every slot's "
                "work) and `wtpool init --base BRANCH`",
            ),
        )
    if pool.closing_pid is not None and not pid_alive(pool.closing_pid):
        record_finding(
            report,
            Finding(
                "interrupted-cleanup",
                str(repo.pool_dir),
                f"wtpool cleanup (process {pool.closing_pid}) stopped before it finished, "
                "leaving the pool closed",
                "reopen the pool (or run `wtpool cleanup` again to finish ending the session)",
            ),
            lambda: _reopen(store, pool.closing_pid),
        )
    for slot in slots:
        if slot.state in TRANSIENT_STATES and owner_alive(slot):
            continue  # another wtpool process is working on it right now
        _examine_slot(repo, store, report, slot, records.get(repo.slot_path(slot.name)), pool)
    # Read again, since resuming a slot may have changed them; and before the orphans: a slot
    # moved within the pool is one once its record is repaired.
    for record in worktree_records(repo.git):
        if record.path.parent == repo.pool_dir:
            _examine_record(repo, store, report, record)
            _examine_branch(repo, report, record)
    for record in orphaned_worktrees(repo, {slot.name for slot in slots}):
        record_finding(
            report,
            Finding(
                "unknown-worktree",
                str(record.path),
                f"git has a worktree at {record.path} that the state does not list",
                "adopt it as a slot: idle if it holds nothing unique, else busy so release "
                "salvages it",
            ),
            lambda record=record: adopt_worktrees(repo, store, pool.base, [record]),
        )
    free = any(slot.state == SlotState.IDLE for slot in slots) or len(slots) < pool.max
    if queue and free:
        record_finding(
            report,
            Finding(
                "waiting-queue",
                queue[0].agent,
                f"{len(queue)} queued request(s) wait while the pool has room",
                "hand the free slots to the queue, oldest first",
            ),
            lambda: _serve(repo, store, pool.base),
        )
    _examine_merge_queue(repo, store, report)
    return report


def _examine_merge_queue(repo: Repository, store: Store, report: DoctorReport) -> None:
    try:
        found = interrupted(repo, store)
    except WtpoolError:  # a shared queue out of reach: the claims' check says so (doctor.py)
        return
    if found is None:
        return
    pid, entries = found
    branches = ", ".join(entry.branch for entry in entries) or "nothing"
    by = f"process {pid}" if pid is not None else "a process that is gone"
    finding = Finding(
        "interrupted-merge",
        str(pid or ""),
        f"a merge queue run ({by}) stopped while landing {branches}",
        "settle each: merged if the base has its landing, else back in the queue; free the lock",
    )

    record_finding(report, finding, lambda: settle_interrupted(repo, store))


def _examine_slot(
    repo: Repository,
    store: Store,
    report: DoctorReport,
    slot: Slot,
    record: WorktreeRecord | None,
    pool: PoolRecord,
) -> None:
    path = repo.slot_path(slot.name)
    held = f", releasing {slot.agent}'s file reservations" if slot.agent else ""
    if not path.is_dir():
        admin = admin_dir_of(repo, path)
        moved = moved_location(repo, admin) if admin is not None else None
        where = f": it was moved to {moved}" if moved else ""
        finding = Finding(
            "missing-on-disk",
            slot.name,
            f"the state lists {slot.name} ({slot.state}) but {path} does not exist{where}",
            f"forget the slot{held}; its branch, if any, is kept",
        )
        record_finding(report, finding, lambda: _forget(repo, store, slot))
    elif record is None or not (path / ".git").is_file():
        # A directory with no `.git` in a slot's place (`rm -rf` then `mkdir -p`) is no
        # worktree either, even while git's stale record of it stays: that record is settled
        # as for a slot that is gone (its prunable finding), once the slot is forgotten.
        finding = Finding(
            "not-a-worktree",
            slot.name,
            f"{path} exists but is not a git worktree",
            f"forget the slot{held}; leave the directory alone for you to inspect",
        )
        record_finding(report, finding, lambda: _forget(repo, store, slot))
    elif slot.state in TRANSIENT_STATES:
        finding = Finding(
            "interrupted",
            slot.name,
            f"{slot.name} was left {slot.state} by wtpool process {slot.owner_pid}, which is gone",
            _RESUME_TEXT[slot.state],
        )
        record_finding(report, finding, lambda: _resume(repo, store, slot, pool.base))
    elif slot.out_of_service:
        # Not repaired here: the repair runs the setup hooks again, which the user fixes first.
        reason = f"{slot.name} is out of service: {slot.out_of_service}"
        repair = f"none; once the hook is fixed, `wtpool refresh {slot.name}`"
        note(report, Finding("out-of-service", slot.name, reason, repair))


def _examine_record(
    repo: Repository, store: Store, report: DoctorReport, record: WorktreeRecord
) -> None:
    if slot_number(record.path.name) is None and record.prunable is None:
        note(
            report,
            Finding(
                "foreign-worktree",
                str(record.path),
                f"{record.path} is a worktree under the pool directory with a name wtpool "
                "does not use",
                "none: wtpool leaves it alone; `git worktree remove` it if you no longer need it",
                informational=True,
            ),
        )
    if record.locked is not None:
        reason = f" ({record.locked})" if record.locked else ""
        finding = Finding(
            "locked",
            str(record.path),
            f"git worktree record {record.path} is locked{reason}",
            "unlock it",
        )
        record_finding(
            report, finding, lambda: repo.git.run("worktree", "unlock", str(record.path))
        )
    if record.prunable is not None:
        record_finding(report, *_stale_record_finding(repo, store, record))


def _stale_record_finding(
    repo: Repository, store: Store, record: WorktreeRecord
) -> tuple[Finding, Callable[[], str | None]]:
    admin = admin_dir_of(repo, record.path)
    moved = moved_location(repo, admin) if admin is not None else None
    if moved is not None:
        adopted = moved.parent == repo.pool_dir and slot_number(moved.name) is not None
        finding = Finding(
            "moved-worktree",
            str(moved),
            f"{record.path} was moved to {moved}",
            "repair git's record of it there (`git worktree repair`), so that it stays a "
            + (
                "worktree, which doctor then adopts as a slot"
                if adopted
                else "worktree; the pool lets it go"
            ),
        )
    else:
        finding = Finding(
            "prunable",
            str(record.path),
            f"git worktree record {record.path} is stale: {record.prunable}",
            "save what the record points to and no branch has (HEAD, ORIG_HEAD, reflog, index) "
            "to a salvage branch, then remove that record only. If you moved the directory, "
            "run `wtpool doctor --fix` from inside it instead, so that it stays a worktree",
        )

    def repair() -> str | None:
        if _slot_listed(store, record.path.name):
            raise WtpoolError(f"the state lists {record.path.name} again")
        stale = settle_stale_record(repo, record.path)
        finding.salvage_branch = stale.salvage_branch
        return None if stale.moved_to else stale.describe()

    return finding, repair


def _slot_listed(store: Store, name: str) -> bool:
    with store.snapshot() as conn:
        return find_slot(conn, name=name) is not None


def _examine_branch(repo: Repository, report: DoctorReport, record: WorktreeRecord) -> None:
    """A slot whose checked-out branch was deleted has a HEAD that points at nothing. Asked
    of the worktree itself: a repair above may have released it since `record` was read."""
    if record.branch is None or record.prunable is not None or not record.path.is_dir():
        return
    branch = current_branch(repo.git.at(record.path))
    if branch is not None and resolve(repo.git, f"refs/heads/{branch}") is None:
        note(
            report,
            Finding(
                "deleted-branch",
                str(record.path),
                f"{record.path} has branch {branch} checked out, but the branch was "
                "deleted: its HEAD points at no commit",
                "none: `wtpool release` or `wtpool cleanup` saves its files and the commits "
                "its HEAD reflog names to a salvage branch",
            ),
        )


_RESUME_TEXT = {
    SlotState.PREPARING: "finish preparing it for its agent, or return it to idle",
    SlotState.RELEASING: "finish the release: salvage its work, reset it, hand it on",
    SlotState.REMOVING: "return it to idle; scale down decides again whether to remove it",
}


def _claim(store: Store, seen: Slot) -> None:
    """Take over a slot for a repair, provided it is still exactly as doctor saw it.

    Another doctor, or a release, may have acted on the slot since the snapshot; repairing from
    a stale view could hand one slot to two queued agents. Claiming makes this process the
    owner, so anyone else now sees a live owner and keeps off.
    """
    with store.transaction() as conn:
        current = find_slot(conn, name=seen.name)
        if current != seen:
            raise WtpoolError(f"{seen.name} changed while doctor ran; run doctor again")
        if seen.state in TRANSIENT_STATES:
            update_slot(conn, seen.name, state=seen.state, owner_pid=os.getpid())


def _forget(repo: Repository, store: Store, slot: Slot) -> None:
    """Drop a slot from the state, and with it its agent's reservations: nobody else would
    ever release them, and they would block others' commits until they expire."""
    _claim(store, slot)
    with store.transaction() as conn:
        delete_slot(conn, slot.name)
        if slot.agent is not None:
            release_in(conn, agent=slot.agent)


def _reopen(store: Store, closing_pid: int | None) -> None:
    with store.transaction() as conn:
        reopen_pool(conn, closing_pid)


def _serve(repo: Repository, store: Store, base: str) -> str | None:
    served, error = serve_queue(repo, store, base)
    if error:
        raise WtpoolError(error)
    return ", ".join(f"{slot} to {agent}" for slot, agent in served.items()) or None


def _resume(repo: Repository, store: Store, slot: Slot, base: str) -> str | None:
    _claim(store, slot)
    if slot.state == SlotState.RELEASING:
        _, salvage_branch, _, _ = finish_release(repo, store, slot, base)
        served, _ = serve_queue(repo, store, base)
        notes = [f"work saved on {salvage_branch}"] if salvage_branch else []
        notes += [f"handed to {served[slot.name]}"] if slot.name in served else []
        return ", ".join(notes) or None
    if slot.state == SlotState.PREPARING and slot.agent is not None:
        # The same steps as the interrupted acquire, scope first; on failure it returns the
        # slot to idle.
        request = ClaimRequest(slot.agent, slot.task, slot.scope, slot.track)
        prepare_claim(repo, store, slot.name, request, base, create=False)
        return None
    # A slot interrupted while being created or removed was never handed out, but a
    # half-finished checkout looks like changes; if anything looks unique, keep the slot busy
    # so that release salvages it instead of an agent inheriting it.
    work = inspect_work(repo.git.at(repo.slot_path(slot.name)), base)
    state = SlotState.IDLE if work.is_empty else SlotState.BUSY
    with store.transaction() as conn:
        update_slot(conn, slot.name, state=state)
    return None

"""`wtpool doctor`: compare the state store with git and the disk, and repair the difference.

Git and the filesystem are the truth; the store records intent. A crash (kill -9, a full disk, a
closed terminal) can leave the two apart, and every repair here either completes the interrupted
step or undoes it. No repair deletes a file: a directory that wtpool cannot vouch for is left
where it is and reported, and a slot with unique work is adopted busy, so that release or
cleanup salvages it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from worktree_pool.claims import hand_off, recycle
from worktree_pool.errors import WtpoolError
from worktree_pool.gitops import worktree_records
from worktree_pool.pool import adopt_worktrees, open_store, orphaned_worktrees, read_pool
from worktree_pool.repo import Repository
from worktree_pool.salvage import inspect_work
from worktree_pool.slots import (
    TRANSIENT_STATES,
    Slot,
    SlotState,
    all_slots,
    delete_slot,
    owner_alive,
    slot_number,
    update_slot,
)
from worktree_pool.state import StateStore
from worktree_pool.worktrees import base_tip, branch_for, check_out_branch, prune_worktrees


@dataclass
class Finding:
    kind: str
    subject: str
    detail: str
    repair: str  # what --fix does about it
    fixed: bool = False


@dataclass(frozen=True)
class DoctorReport:
    fix: bool
    findings: list[Finding] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return all(finding.fixed for finding in self.findings)


def doctor(repo: Repository, *, fix: bool) -> DoctorReport:
    store = open_store(repo)
    try:
        return _examine(repo, store, fix)
    finally:
        store.close()


def _examine(repo: Repository, store: StateStore, fix: bool) -> DoctorReport:
    with store.snapshot() as conn:
        pool = read_pool(conn)
        slots = all_slots(conn)
    if pool is None:
        raise WtpoolError(f"no wtpool pool in {repo.root}", "create one with `wtpool init`")
    report = DoctorReport(fix=fix)
    records = {record.path: record for record in worktree_records(repo.git)}
    pool_records = [r for r in records.values() if r.path.parent == repo.pool_dir]

    for slot in slots:
        path = repo.slot_path(slot.name)
        record = records.get(path)
        if not path.is_dir():
            _report(
                report,
                Finding(
                    "missing-on-disk",
                    slot.name,
                    f"the state lists {slot.name} ({slot.state}) but {path} does not exist",
                    "forget the slot; its branch, if any, is kept",
                ),
                lambda s=slot: _forget(store, s),
            )
        elif record is None:
            _report(
                report,
                Finding(
                    "not-a-worktree",
                    slot.name,
                    f"{path} exists but git does not know it as a worktree",
                    "forget the slot and leave the directory alone for you to inspect",
                ),
                lambda s=slot: _forget(store, s),
            )
        elif slot.state in TRANSIENT_STATES and not owner_alive(slot):
            _report(
                report,
                Finding(
                    "interrupted",
                    slot.name,
                    f"{slot.name} was left {slot.state} by wtpool process {slot.owner_pid}, "
                    "which is gone",
                    _RESUME_TEXT[slot.state],
                ),
                lambda s=slot: _resume(repo, store, s, pool.base),
            )

    for record in orphaned_worktrees(repo, {slot.name for slot in slots}):
        _report(
            report,
            Finding(
                "unknown-worktree",
                str(record.path),
                f"git has a worktree at {record.path} that the state does not list",
                "adopt it as a slot: idle if it holds nothing unique, else busy so release "
                "salvages it",
            ),
            lambda: adopt_worktrees(repo, store, pool.base),
        )
    for record in pool_records:
        if slot_number(record.path.name) is None and record.prunable is None:
            report.findings.append(
                Finding(
                    "foreign-worktree",
                    str(record.path),
                    f"{record.path} is a worktree under the pool directory with a name wtpool "
                    "does not use",
                    "none: remove it yourself with `git worktree remove` if you no longer need it",
                )
            )
        if record.locked is not None:
            _report(
                report,
                Finding(
                    "locked",
                    str(record.path),
                    f"git worktree record {record.path} is locked"
                    + (f" ({record.locked})" if record.locked else ""),
                    "unlock it",
                ),
                lambda r=record: repo.git.run("worktree", "unlock", str(r.path)),
            )
        if record.prunable is not None:
            _report(
                report,
                Finding(
                    "prunable",
                    str(record.path),
                    f"git worktree record {record.path} is stale: {record.prunable}",
                    "prune git's stale worktree records",
                ),
                lambda: prune_worktrees(repo),
            )
    return report


_RESUME_TEXT = {
    SlotState.PREPARING: "finish preparing it for its agent, or return it to idle",
    SlotState.RELEASING: "finish the release: salvage its work, reset it, hand it on",
    SlotState.REMOVING: "return it to idle; scale down decides again whether to remove it",
}


def _report(report: DoctorReport, finding: Finding, repair: Callable[[], object]) -> None:
    report.findings.append(finding)
    if not report.fix:
        return
    try:
        repair()
    except WtpoolError as exc:
        finding.repair += f" (failed: {exc.message})"
        return
    finding.fixed = True


def _forget(store: StateStore, slot: Slot) -> None:
    with store.transaction() as conn:
        delete_slot(conn, slot.name)


def _resume(repo: Repository, store: StateStore, slot: Slot, base: str) -> None:
    if slot.state == SlotState.RELEASING:
        recycle(repo, slot, base)
        hand_off(repo, store, slot.name, base)
    elif slot.state == SlotState.PREPARING and slot.agent is not None:
        branch = branch_for(slot.agent, slot.task)
        check_out_branch(repo, slot.name, branch, base_tip(repo, base), base)
        with store.transaction() as conn:
            update_slot(conn, slot.name, state=SlotState.BUSY, branch=branch)
    else:
        # A slot interrupted while being created or removed was never handed out, but a
        # half-finished checkout looks like changes; if anything looks unique, keep the slot
        # busy so that release salvages it instead of an agent inheriting it.
        work = inspect_work(repo.git.at(repo.slot_path(slot.name)), base)
        state = SlotState.IDLE if work.is_empty else SlotState.BUSY
        with store.transaction() as conn:
            update_slot(conn, slot.name, state=state)

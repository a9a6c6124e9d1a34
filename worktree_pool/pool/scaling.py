"""Growing and shrinking the pool within its bounds.

Growing creates idle slots and hands them straight to any queued requests. Shrinking removes
only idle slots that hold nothing unique and in which no process runs, highest number first,
and re-checks the count in every transaction, so two concurrent scale-downs cannot both
remove the last spare slot.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from worktree_pool.agents.membership import slot_strays
from worktree_pool.agents.process_table import ProcessTable
from worktree_pool.db.slots import drop_slot_databases
from worktree_pool.errors import WtpoolError, bad_input
from worktree_pool.git.repo import Repository
from worktree_pool.pool.adoption import build_slots
from worktree_pool.pool.salvage import inspect_work
from worktree_pool.pool.serving import serve_queue
from worktree_pool.pool.slot_hooks import hooks_in_effect, run_reported
from worktree_pool.pool.worktrees import free_slot_numbers, registered_paths, remove_worktree
from worktree_pool.store.databases import check_databases_visible
from worktree_pool.store.pool import PoolRecord, require_pool
from worktree_pool.store.protocol import Store
from worktree_pool.store.slots import (
    Slot,
    SlotState,
    all_slots,
    delete_slot,
    insert_slot,
    update_slot,
)


@dataclass(frozen=True)
class KeptSlot:
    name: str
    reason: str


@dataclass(frozen=True)
class ScaleResult:
    before: int
    after: int
    target: int
    created: list[str]
    removed: list[str]
    kept: list[KeptSlot]
    warnings: list[str] = field(default_factory=list)  # what went wrong in pre_remove hooks


def scale_pool(
    repo: Repository,
    store: Store,
    *,
    up: int | None = None,
    down: int | None = None,
    to: int | None = None,
) -> ScaleResult:
    if sum(value is not None for value in (up, down, to)) != 1:
        raise bad_input("say how to scale: `scale up`, `scale down` or `scale --to N`")
    for value in (up, down):
        if value is not None and value < 1:
            raise bad_input(f"--by must be at least 1, got {value}")
    registered = registered_paths(repo)
    with store.transaction() as conn:
        pool = require_pool(conn, repo)
        before = len(all_slots(conn))
        target = to if to is not None else before + (up or 0) - (down or 0)
        if not pool.min <= target <= pool.max:
            raise bad_input(
                f"the pool must hold between {pool.min} and {pool.max} slots; "
                f"that would make {target}",
                f"wtpool scale --to {max(pool.min, min(pool.max, target))}",
            )
        if target < before:
            check_databases_visible(conn, repo)
        new_slots = (
            [
                insert_slot(conn, number, SlotState.PREPARING)
                for number in free_slot_numbers(repo, conn, registered, target - before)
            ]
            if target > before
            else []
        )
    if target > before:
        created, warnings = build_slots(repo, store, new_slots, pool.base)
        serve_queue(repo, store, pool.base, grow=False)  # into the new slots, no further
        removed, kept = [], []
    else:
        created = []
        removed, kept, warnings = _remove_idle_slots(repo, store, pool, target)
    return ScaleResult(
        before=before,
        after=before + len(created) - len(removed),
        target=target,
        created=created,
        removed=removed,
        kept=kept,
        warnings=warnings,
    )


def _remove_idle_slots(
    repo: Repository, store: Store, pool: PoolRecord, target: int
) -> tuple[list[str], list[KeptSlot], list[str]]:
    """Remove idle slots that hold no unique work, those out of service first, then the
    highest number first, down to `target`; also return what went wrong in pre_remove hooks.

    The count is checked again in every transaction, against the slots not already being
    removed: two concurrent scale-downs must not both remove "the last spare slot".
    """
    removed: list[str] = []
    kept: list[KeptSlot] = []
    warnings: list[str] = []
    tried: set[str] = set()
    hooks = hooks_in_effect(repo, store)
    while True:
        with store.transaction() as conn:
            slots = all_slots(conn)
            staying = [slot for slot in slots if slot.state != SlotState.REMOVING]
            if len(staying) <= max(target, pool.min):
                break
            candidates = sorted(
                (
                    slot
                    for slot in reversed(staying)
                    if slot.state == SlotState.IDLE and slot.name not in tried
                ),
                key=lambda slot: slot.out_of_service is None,  # stable: highest first within
            )
            if not candidates:
                kept += [
                    KeptSlot(slot.name, _busy_reason(slot))
                    for slot in staying
                    if slot.state != SlotState.IDLE
                ]
                break
            slot = candidates[0]
            tried.add(slot.name)
            update_slot(conn, slot.name, state=SlotState.REMOVING)
        reason = _unremovable_reason(repo, slot.name, pool.base)
        if reason is None:
            warnings += run_reported(repo, store, hooks, slot, "pre_remove")
            # Again: the hook may have left something behind that is found nowhere else.
            reason = _unremovable_reason(repo, slot.name, pool.base)
        if reason is None:
            try:
                remove_worktree(repo, slot.name, discard=False)
            except WtpoolError as exc:
                reason = exc.message
        with store.transaction() as conn:
            if reason is None:
                delete_slot(conn, slot.name)
                removed.append(slot.name)
            else:
                update_slot(conn, slot.name, state=SlotState.IDLE)
                kept.append(KeptSlot(slot.name, reason))
    if removed and repo.config.database.mode != "none":
        with contextlib.suppress(WtpoolError):  # still recorded: cleanup drops them later
            drop_slot_databases(repo, store, removed, pool)
    return removed, kept, list(dict.fromkeys(warnings))


def _unremovable_reason(repo: Repository, name: str, base: str) -> str | None:
    path = repo.slot_path(name)
    if not path.is_dir():
        return "its directory is missing; run `wtpool doctor --fix`"
    # Something still works there, though no agent holds the slot: a scale-down is no reason
    # to stop it, nor to delete the directory under it.
    strays, spared = slot_strays(path, ProcessTable(), set())
    if strays or spared:
        return f"process(es) {', '.join(map(str, sorted(strays + spared)))} run in it"
    work = inspect_work(repo.git.at(path), base)
    return None if work.is_empty else f"holds unique work: {work.summary(base)}"


def _busy_reason(slot: Slot) -> str:
    if slot.state == SlotState.BUSY:
        task = f", task {slot.task}" if slot.task else ""
        return f"busy: held by agent {slot.agent}{task}"
    return f"{slot.state}: another wtpool process is working on it"

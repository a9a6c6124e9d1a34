"""Bringing worktrees into the pool: building the worktrees of new slot rows, adopting slot
worktrees the state does not list (say, after the state store was lost), and settling git's
records of slot worktrees whose directories are gone. `init`, scaling and doctor use these.
"""

from __future__ import annotations

from worktree_pool.git.repo import Repository
from worktree_pool.git.run import WorktreeRecord
from worktree_pool.pool.copies import copy_into_slot
from worktree_pool.pool.handoff import idle_environment
from worktree_pool.pool.salvage import inspect_work
from worktree_pool.pool.slot_hooks import hooks_in_effect, require_runnable, run_hook
from worktree_pool.pool.stale_records import StaleRecord, settle_stale_record
from worktree_pool.pool.worktrees import abandon_new_slots, add_worktree, base_tip, slot_records
from worktree_pool.store.protocol import Store
from worktree_pool.store.slots import (
    SlotState,
    all_slots,
    find_slot,
    insert_slot,
    slot_number,
    update_slot,
)


def build_slots(
    repo: Repository, store: Store, names: list[str], base: str
) -> tuple[list[str], list[str]]:
    """Create the worktrees of freshly inserted `preparing` rows, run their post_create hooks
    and mark them idle: out of service, where a hook failed. Returns the slots built, and a
    warning for each that is out of service."""
    if not names:
        return [], []
    tip = base_tip(repo, base)
    built: list[str] = []
    warnings: list[str] = []
    try:
        hooks = hooks_in_effect(repo, store)
        require_runnable(repo, hooks, ("post_create",))
        for name in names:
            add_worktree(repo, store, name, tip, base)
            copy_into_slot(repo, name)
            run = run_hook(repo, hooks, name, "post_create", idle_environment(repo, name))
            failed = None if run is None or run.ok else f"{run.failure} (see {run.log})"
            with store.transaction() as conn:
                update_slot(conn, name, state=SlotState.IDLE, out_of_service=failed)
            built.append(name)
            if failed:
                warnings.append(f"{name} is out of service: {failed}")
    finally:
        leftovers = [name for name in names if name not in built]
        if leftovers:
            abandon_new_slots(repo, store, leftovers)
    return built, warnings


def settle_stale_slot_records(repo: Repository, store: Store) -> list[StaleRecord]:
    """Settle git's records of slot worktrees whose directories are gone and that the state
    does not list (say, after `rm -rf .agent-worktrees`), so their numbers can be used again;
    what they point to is saved first (see settle_stale_record)."""
    with store.snapshot() as conn:
        known = {slot.name for slot in all_slots(conn)}
    return [
        settle_stale_record(repo, record.path)
        for name, record in slot_records(repo).items()
        if record.prunable is not None and name not in known
    ]


def orphaned_worktrees(repo: Repository, known: set[str]) -> list[WorktreeRecord]:
    """Live worktrees under the pool directory with slot names that the state does not list."""
    return [
        record
        for name, record in slot_records(repo).items()
        if record.prunable is None and record.path.is_dir() and name not in known
    ]


def adopt_worktrees(
    repo: Repository,
    store: Store,
    base: str,
    records: list[WorktreeRecord] | None = None,
) -> list[str]:
    """Record orphaned pool worktrees (all of them, or just `records`) as slots again, e.g.
    after the state store was lost.

    A worktree with nothing unique, detached as idle slots are, comes back idle. Anything else
    comes back busy with no agent, so that `wtpool release` or `cleanup` salvages its work
    rather than a new agent getting a slot full of someone else's changes.
    """
    if records is None:
        with store.snapshot() as conn:
            records = orphaned_worktrees(repo, {slot.name for slot in all_slots(conn)})
    plans = []
    for record in records:
        work = inspect_work(repo.git.at(record.path), base)
        idle = record.branch is None and work.is_empty
        plans.append((record, SlotState.IDLE if idle else SlotState.BUSY))
    adopted = []
    with store.transaction() as conn:
        for record, state in plans:
            number = slot_number(record.path.name)
            if number is None or find_slot(conn, name=record.path.name) is not None:
                continue
            # A found worktree shows what it shows: no scope, until a claim or release sets one.
            insert_slot(conn, number, state, branch=record.branch, scope=None)
            # The recorded branch is informational; release deletes only branches under
            # wtpool/, so adopting a worktree that has, say, the base checked out is safe.
            adopted.append(record.path.name)
    return adopted

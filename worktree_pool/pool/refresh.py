"""`wtpool refresh SLOT`: copy the `copy:` entries into a slot again, and put a slot that is out
of service back in service by running its post_create hooks again.

An idle slot is marked out of service for the length of the refresh, so that no claim takes it
half-copied; a refresh that is killed leaves it so, saying by which process, and running it
again finishes it. A busy slot is its agent's: it is copied into, and its hooks are left alone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from worktree_pool.git.repo import Repository
from worktree_pool.pool.copies import CopyReport, copy_into_slot
from worktree_pool.pool.handoff import idle_environment
from worktree_pool.pool.slot_hooks import HookRun, hooks_in_effect, require_runnable, run_hook
from worktree_pool.store.pool import require_pool
from worktree_pool.store.protocol import Store
from worktree_pool.store.slots import (
    TRANSIENT_STATES,
    SlotState,
    in_use_error,
    lookup_slot,
    update_slot,
)
from worktree_pool.util.names import validate_name


@dataclass(frozen=True)
class RefreshResult:
    slot: str
    copies: CopyReport
    hooks: HookRun | None  # the post_create hooks, run again for a slot out of service
    out_of_service: str | None  # why the slot still is; None: it is in service


def refresh_slot(repo: Repository, store: Store, name: str) -> RefreshResult:
    validate_name("slot", name)
    hooks = hooks_in_effect(repo, store)
    with store.transaction() as conn:
        require_pool(conn, repo)
        slot = lookup_slot(conn, name)
        if slot.state in TRANSIENT_STATES:
            raise in_use_error(slot)
        idle, broken = slot.state == SlotState.IDLE, slot.out_of_service
        if idle and broken:
            require_runnable(repo, hooks, ("post_create",))
        if idle:
            marker = f"being refreshed by wtpool process {os.getpid()}"
            update_slot(conn, name, out_of_service=marker)
    reason = broken
    try:
        copies = copy_into_slot(repo, name, refresh=True)
        run = None
        if idle and broken:
            run = run_hook(repo, hooks, name, "post_create", idle_environment(repo, name))
            reason = None if run is None or run.ok else f"{run.failure} (see {run.log})"
    finally:
        if idle:
            with store.transaction() as conn:
                update_slot(conn, name, out_of_service=reason)
    return RefreshResult(name, copies, run, reason)

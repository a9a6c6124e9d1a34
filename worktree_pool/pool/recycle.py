"""Taking a slot back: saving what is unique in it, resetting it to the base, dropping its
branch if merged, cloning its database afresh, and marking it idle with its agent's
reservations released. `wtpool release` (claims.py) and doctor finishing an interrupted
release both end here, so that both leave the same slot behind.
"""

from __future__ import annotations

from worktree_pool.agents.reservations import release_in
from worktree_pool.db.slots import clone_slot_database
from worktree_pool.errors import WtpoolError
from worktree_pool.git.repo import Repository
from worktree_pool.git.run import delete_branch_if_at, is_ancestor, resolve
from worktree_pool.pool.handoff import forget_handoff
from worktree_pool.pool.salvage import (
    SALVAGE_NAMESPACE,
    UniqueWork,
    inspect_work,
    naming_salvage_on_failure,
    salvage,
)
from worktree_pool.pool.worktrees import BRANCH_NAMESPACE, base_tip, checked_out_anywhere, reset_to
from worktree_pool.scope.filters import reapply
from worktree_pool.store.protocol import Store
from worktree_pool.store.slots import IDLE_SCOPE, Slot, mark_idle, update_slot
from worktree_pool.store.values import encode_scope
from worktree_pool.util import testpoints


def finish_release(
    repo: Repository, store: Store, slot: Slot, base: str
) -> tuple[UniqueWork | None, str | None, str | None, str | None]:
    """The work of a release once the slot is marked `releasing`: release itself, and doctor
    finishing one that was interrupted, so that both leave the same slot behind. Returns what
    recycle does.

    The slot goes idle with a fresh clone of the template, recorded as fresh in the same
    transaction (see slot_databases.hand_out_database), and its agent's reservations go.
    """
    outcome = recycle(repo, slot, base)
    if slot.scope is None:
        # A whole tree goes back to the empty view, so that the next claim writes only its
        # own files; a narrow scope stays as it is, warm (its build caches, its files) for a
        # next task in the same place, and the next claim swaps it for its own.
        with store.transaction() as conn:
            update_slot(conn, slot.name, scope=encode_scope(IDLE_SCOPE))
        reapply(repo, store, slot.name, base)
    testpoints.reached("release.recycled")
    fresh = repo.config.database.mode != "none"
    if fresh:  # the next task starts from a clean database
        clone_slot_database(repo, store, slot.name)
        testpoints.reached("release.database")
    with store.transaction() as conn:
        mark_idle(conn, slot.name)
        update_slot(conn, slot.name, database_fresh=int(fresh))
        if slot.agent is not None:  # its files are free again: the agent is done with them
            release_in(conn, agent=slot.agent)
    return outcome


def recycle(
    repo: Repository, slot: Slot, base: str
) -> tuple[UniqueWork | None, str | None, str | None, str | None]:
    """Save the slot's unique work, reset it to the base tip, and drop its branch if merged.

    Returns (what was saved, salvage branch, deleted branch, kept branch). Only wtpool's own
    branches are ever deleted, only when the base contains them and no worktree has them out.
    """
    path = repo.slot_path(slot.name)
    if not (path / ".git").is_file():
        raise WtpoolError(
            f"{slot.name} is no longer a git worktree: {path} has no .git file",
            "run `wtpool doctor --fix`: it saves what git's record of the slot points to",
        )
    git = repo.git.at(path)
    work = inspect_work(git, base)
    salvage_branch = salvage(git, slot.name, work)
    testpoints.reached("release.salvaged")
    deleted = kept = None
    with naming_salvage_on_failure(salvage_branch):
        reset_to(repo, slot.name, base_tip(repo, base), work)
        forget_handoff(repo, slot.name, slot.task)  # only now: a failed release keeps them
        branch = slot.branch
        if (
            branch
            and branch.startswith(BRANCH_NAMESPACE)
            and not branch.startswith(SALVAGE_NAMESPACE)
        ):
            tip = resolve(git, f"refs/heads/{branch}")
            merged = tip is not None and is_ancestor(git, tip, f"refs/heads/{base}")
            if merged and not checked_out_anywhere(repo, branch):
                if delete_branch_if_at(git, branch, tip):
                    deleted = branch
            elif tip is not None and not merged:
                kept = branch
    return None if work.is_empty else work, salvage_branch, deleted, kept

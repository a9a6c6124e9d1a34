"""What follows a landing: worktrees that have the base checked out brought along, the entry
recorded merged and its task recorded landed (one transaction), its slot released and its task
closed in its source.

The base has moved by then, so none of these may undo it: a step that fails becomes a note on the
entry, never an error.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

from worktree_pool.errors import WtpoolError
from worktree_pool.git.repo import Repository
from worktree_pool.git.run import is_ancestor, resolve
from worktree_pool.merge import integration
from worktree_pool.merge.queue import get_entry
from worktree_pool.pool.claims import release
from worktree_pool.store import merges
from worktree_pool.store.merges import MergeEntry, MergeState
from worktree_pool.store.origin import this_pool
from worktree_pool.store.protocol import Store
from worktree_pool.store.slots import find_slot
from worktree_pool.store.tasks import record_landed
from worktree_pool.store.values import utc_now
from worktree_pool.tasks.status import close_task


def follow_remote(repo: Repository, base: str) -> None:
    """With `merge.push`, after every queue run: bring the local base, and the worktrees that
    have it checked out, up to the remote's base when it is behind it, so that a host's base
    follows what the other hosts landed. Only forward, and only when no worktree would lose an
    uncommitted change; else it stays, and the next landing brings it along."""
    git, remote = repo.git, repo.config.merge.remote
    old = resolve(git, f"refs/heads/{base}")
    new = integration.fetch_base(git, remote, base)
    if old is None or old == new or not is_ancestor(git, old, new):
        return
    checkouts = integration.base_checkouts(repo, base)
    if any(integration.why_cannot_follow(git.at(path), old, new) for path in checkouts):
        return
    if not integration.swap(git, base, new, old, f"wtpool: follow {remote}/{base}"):
        return  # moved meanwhile: by a landing, which brought everything along itself
    _, stale = bring_along(repo, checkouts, old, new)
    if stale and integration.swap(git, base, old, new, "wtpool undo"):
        # An edit made between the check and the move: go back rather than leave a worktree
        # whose files look as if they undid what the other hosts landed.
        bring_along(repo, [path for path in checkouts if path not in stale], new, old)


def bring_along(
    repo: Repository, checkouts: list[Path], old: str, new: str
) -> tuple[list[str], list[Path]]:
    """Bring each worktree that has the base out from `old` to `new`: (a note for each, the
    ones that could not follow)."""
    notes, stale = [], []
    for path in checkouts:
        try:
            why = integration.follow(repo.git.at(path), old, new)
        except WtpoolError as exc:  # a timeout: the worktree is as git left it
            why = exc.message
        if why is None:
            notes.append(f"updated {path}, which has the base checked out")
        else:
            stale.append(path)
            notes.append(
                f"{path} has the base checked out but could not be updated ({why}); there, "
                f"commit or stash your changes, then run: git read-tree -m -u {old} {new}"
            )
    return notes, stale


# An entry that landed: the base's commit that holds it, and the notes so far.
Landed = tuple[MergeEntry, str, list[str]]


def record_merged(repo: Repository, store: Store, landed: list[Landed]) -> list[MergeEntry]:
    """Record the landings (one transaction for a batch), then do what follows each. Those
    steps are each on their own: the work has landed whatever becomes of them, so a failure
    is a note, never an error.

    Each task goes into the landed-task ledger in the same transaction as its entry turns
    merged: readiness then treats it as closed even if closing it in its source fails, and
    spawn does not start finished work again. Another host's entry is left to its own host,
    which holds its slot and its task's source (`follow_up`)."""
    with store.transaction() as conn:
        mine = this_pool(conn)
        for entry, new, notes in landed:
            merges.update(
                conn,
                entry.id,
                state=MergeState.MERGED,
                landed=new,
                finished_at=utc_now(),
                notes=notes,
                reason=None,
                follow_up=int(entry.pool_id != mine),
            )
            if entry.task is not None:
                record_landed(conn, entry.task, new)
    _delete_pushed_branches(repo, [entry for entry, _, _ in landed])
    for entry, new, notes in landed:
        if entry.pool_id == mine:
            _note_after_steps(repo, store, entry, new, notes)
    with store.snapshot() as conn:
        return [get_entry(conn, entry.id) for entry, _, _ in landed]


def _delete_pushed_branches(repo: Repository, entries: list[MergeEntry]) -> None:
    """The copies of landed branches pushed for a shared queue: they served their purpose,
    and would pile up on the remote. The slots keep their own branches."""
    tips = {entry.branch: entry.tip for entry in entries if entry.pushed}
    if tips:
        with contextlib.suppress(WtpoolError):  # a timeout: they stay, harmless
            integration.delete_landed_branches(repo.git, repo.config.merge.remote, tips)


def follow_up(repo: Repository, store: Store) -> None:
    """What follows the landing of this pool's entries that another host's processor landed:
    the slot released, the task closed, as if it had landed here. Each entry once: taking it
    and clearing its mark are one transaction."""
    with store.transaction() as conn:
        waiting = merges.landed_elsewhere(conn)
        for entry in waiting:
            merges.update(conn, entry.id, follow_up=0)
    for entry in waiting:
        _note_after_steps(repo, store, entry, str(entry.landed), list(entry.notes))


def _note_after_steps(
    repo: Repository, store: Store, entry: MergeEntry, new: str, notes: list[str]
) -> None:
    after = _after_steps(repo, store, entry, new)
    if after:
        with store.transaction() as conn:
            merges.update(conn, entry.id, notes=[*notes, *after])


def _after_steps(repo: Repository, store: Store, entry: MergeEntry, new: str) -> list[str]:
    notes = []
    if entry.release and entry.slot is not None:
        released = _after_step("release the slot", lambda: _release(repo, store, entry))
        notes += [released] if released is not None else []
    if repo.config.merge.close_tasks and entry.task is not None:
        task = entry.task
        closed = _after_step("close the task", lambda: close_task(repo, task, new))
        notes += [closed] if closed is not None else []
    return notes


def _after_step(what: str, step: Callable[[], str | None]) -> str | None:
    try:
        return step()
    except Exception as exc:  # see _merged: a failed step must not undo the landing
        message = exc.message if isinstance(exc, WtpoolError) else repr(exc)
        return f"could not {what}: {message}"


def _release(repo: Repository, store: Store, entry: MergeEntry) -> str:
    with store.snapshot() as conn:
        slot = find_slot(conn, name=str(entry.slot))
    if slot is None or slot.branch != entry.branch:
        return f"{entry.slot} was not released: it no longer holds {entry.branch}"
    result = release(repo, store, slot.name)
    saved = result.salvage_branch
    return f"released {entry.slot}" + (f"; its work was also saved on {saved}" if saved else "")

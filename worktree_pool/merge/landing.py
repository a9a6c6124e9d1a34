"""Working through the merge queue: entries are taken in batches (merge.batch_size, in queue
order), each entry's branch is checked against its scope and other agents' reservations, and
the rest of the batch lands together (batch.py: one chain of commits, one gate, one
compare-and-swap, one bring-along of checkouts of the base; bisected when it fails).

Every step before the swap only reads, or writes new objects; so a failure, or a crash, before
it leaves the base as it was. Each entry records its candidate commit just before the swap:
after a crash, the base containing the candidate means the landing happened.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from worktree_pool.agents.reservations import held_by_others, others_hold_exclusively
from worktree_pool.errors import WtpoolError
from worktree_pool.git.repo import Repository
from worktree_pool.git.run import is_ancestor, resolve
from worktree_pool.merge import integration
from worktree_pool.merge.after_landing import (
    bring_along,
    follow_remote,
    follow_up,
    record_merged,
)
from worktree_pool.merge.batch import land_batch
from worktree_pool.merge.queue import claim_batch, orphans, processor_lock, waiting_here
from worktree_pool.merge.scratch import remove_scratch_worktrees
from worktree_pool.merge.settling import Outcome, errored, settle, still_merging
from worktree_pool.scope.guard import allows, compiled
from worktree_pool.scope.patterns import compile_rules
from worktree_pool.store import merges
from worktree_pool.store.merges import MergeEntry, MergeState
from worktree_pool.store.pool import read_pool
from worktree_pool.store.protocol import Store


@dataclass(frozen=True)
class RunResult:
    processed: list[MergeEntry]


def run_queue(repo: Repository, store: Store) -> RunResult | None:
    """Land queued entries until none is left; None when another process is doing it.

    An entry that ends in an error goes back in line with the reason, and the run goes on with
    the others; it is tried again by the next run, and after MAX_ERRORS such runs it is
    `failed`. Once the lock is given up, the queue is looked at again: where it is shared,
    an entry queued while this process was letting go found the lock still held, and no one
    else would land it.
    """
    tried: set[int] = set()
    processed: list[MergeEntry] = []
    ran = False
    while (landed := _run_once(repo, store, tried)) is not None:
        ran = True
        processed += landed
        if not waiting_here(repo, store, tried):
            break
    return RunResult(processed) if ran else None


def _run_once(repo: Repository, store: Store, tried: set[int]) -> list[MergeEntry] | None:
    with processor_lock(repo, store) as mine:
        if not mine:
            return None
        processed = _recover(repo, store)
        size = repo.config.merge.batch_size
        while batch := claim_batch(repo, store, tried, size):
            tried.update(entry.id for entry in batch)
            try:
                processed += _land(repo, store, batch)
            except Exception as exc:
                processed += [errored(repo, store, e, exc) for e in still_merging(store, batch)]
            except BaseException as exc:  # interrupted: back in line, and stop
                for entry in still_merging(store, batch):
                    errored(repo, store, entry, exc)
                raise
        catch_up(repo, store)
        return processed


def follow_landed_elsewhere(repo: Repository, store: Store) -> None:
    """catch_up, when another host's processor landed entries of this pool (the daemon and
    the monitor look at every refresh, so that an idle host still releases those slots)."""
    with store.snapshot() as conn:
        landed = merges.landed_elsewhere(conn)
    if landed:
        catch_up(repo, store)


def catch_up(repo: Repository, store: Store) -> None:
    """After a queue run, or a wait while another host's processor ran: the base brought to
    what the remote has (merge.push), and what follows the landing of this pool's entries that
    another host landed (after_landing.follow_up)."""
    if repo.config.merge.push:
        with store.snapshot() as conn:
            pool = read_pool(conn)
        with contextlib.suppress(WtpoolError):  # unreachable: the next run follows
            if pool is not None:
                follow_remote(repo, pool.base)
    follow_up(repo, store)


def _land(repo: Repository, store: Store, batch: list[MergeEntry]) -> list[MergeEntry]:
    """Refuse what may not land, land the rest together; each entry settled, in batch order.
    An error in one entry's checks is that entry's alone."""
    settled: dict[int, MergeEntry] = {}
    for entry in batch:
        try:
            refused = _refused(repo, store, entry)
        except Exception as exc:
            refused = errored(repo, store, entry, exc)
        if refused is not None:
            settled[entry.id] = refused
    ready = [entry for entry in batch if entry.id not in settled]
    settled |= {entry.id: entry for entry in land_batch(repo, store, ready)}
    return [settled[entry.id] for entry in batch if entry.id in settled]


def settle_interrupted(repo: Repository, store: Store) -> str:
    """What `doctor --fix` does about a queue run that was killed: settle what it left
    `merging` and give up its lock, landing nothing new."""
    with processor_lock(repo, store) as mine:
        if not mine:
            raise WtpoolError("a merge queue run started meanwhile; it settles them itself")
        settled = _recover(repo, store)
    return f"{len(settled)} found landed, the rest back in the queue"


def _recover(repo: Repository, store: Store) -> list[MergeEntry]:
    """Clear up after a run that was killed (call with the lock): its scratch worktrees, and
    the entries it left `merging`; the ones that had landed."""
    remove_scratch_worktrees(repo)
    followed: set[str] = set()  # a batch's entries share the base they replaced
    orphaned = orphans(repo, store)
    settled = (_settle_orphan(repo, store, orphan, followed) for orphan in orphaned)
    return [entry for entry in settled if entry is not None]


def _settle_orphan(
    repo: Repository, store: Store, entry: MergeEntry, followed: set[str]
) -> MergeEntry | None:
    """An entry a crashed processor left `merging`: if its candidate reached the base, finish
    what landing does after the swap; else back in line (None), keeping the candidate, so
    that a landing that reached only the remote is recognised (see batch.py). Checkouts of
    the base are brought along once for all the entries of a batch (`followed`)."""
    base = resolve(repo.git, f"refs/heads/{entry.base}")
    candidate = entry.candidate
    if candidate is None or base is None or not is_ancestor(repo.git, candidate, base):
        with store.transaction() as conn:
            merges.update(conn, entry.id, state=MergeState.QUEUED)
        return None
    previous = entry.previous or base
    notes = ["landed by a queue run that was stopped; this run finished the rest"]
    if previous not in followed:
        followed.add(previous)
        notes += bring_along(repo, integration.base_checkouts(repo, entry.base), previous, base)[0]
    return record_merged(repo, store, [(entry, candidate, notes)])[0]


def _fetch_tip(repo: Repository, entry: MergeEntry) -> None:
    """Another host's entry: its commit fetched from the remote it was pushed to."""
    if not entry.pushed or resolve(repo.git, entry.tip) is not None:
        return
    remote = repo.config.merge.remote
    repo.git.run("fetch", "--quiet", "--no-tags", remote, f"refs/heads/{entry.branch}")
    if resolve(repo.git, entry.tip) is None:
        raise WtpoolError(
            f"{remote}'s {entry.branch} no longer holds {entry.tip[:12]}, the commit queued",
            f"queue it again from its host ({entry.host or entry.pool_id})",
        )


def _refused(repo: Repository, store: Store, entry: MergeEntry) -> MergeEntry | None:
    """The entry settled, when its branch may not land whatever the base holds."""
    outcome = _refusal(repo, store, entry)
    return None if outcome is None else settle(repo, store, entry, outcome)


def _refusal(repo: Repository, store: Store, entry: MergeEntry) -> Outcome | None:
    """Why the branch may not land whatever the base holds: a path outside its scope, or one
    another agent holds exclusively. An entry without a scope while nobody else holds
    anything exclusively cannot be refused: its changes are not even listed."""
    _fetch_tip(repo, entry)
    with store.snapshot() as conn:
        reserved = others_hold_exclusively(conn, entry.agent)
    if entry.scope is None and not reserved:
        return None
    changed = integration.changed_paths(repo.git, f"refs/heads/{entry.base}", entry.tip)
    if entry.scope is not None:
        combined = tuple(dict.fromkeys((*entry.scope, *repo.config.scope.always_include)))
        rules = compiled(compile_rules(combined))
        outside = tuple(sorted(path for path in changed if not allows(rules, path)))
        if outside:
            return Outcome(
                MergeState.REJECTED,
                f"{len(outside)} changed path(s) outside the task's scope "
                f"({', '.join(entry.scope) or 'empty'})",
                outside,
            )
    if not reserved:
        return None
    with store.snapshot() as conn:
        held = held_by_others(conn, entry.agent, changed)
    if held:
        holders = ", ".join(f"{r.agent} (reservation #{r.id})" for r, _ in held)
        paths = tuple(sorted({path for _, taken in held for path in taken}))
        return Outcome(MergeState.REJECTED, f"changes paths held exclusively by {holders}", paths)
    return None

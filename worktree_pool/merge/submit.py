"""What `wtpool merge` does with a finished branch: queue it, then either leave the landing to a
process in the background (the command returns at once), or land it here, waiting while another
process runs the queue, until the entry is settled (`--wait`)."""

from __future__ import annotations

import dataclasses

from worktree_pool.git.repo import Repository
from worktree_pool.merge.landing import catch_up, run_queue
from worktree_pool.merge.queue import (
    EnqueueResult,
    enqueue,
    list_entry,
    start_background_run,
    wait_until_settled,
)
from worktree_pool.store.protocol import Store


def submit(
    repo: Repository,
    store: Store,
    target: str | None,
    *,
    wait: bool,
    release: bool = False,
    priority: int | None = None,
) -> EnqueueResult:
    """Queue TARGET's branch; with `wait`, the result holds the entry as it was settled."""
    queued = enqueue(repo, store, target, release=release, priority=priority)
    if not wait:
        start_background_run(repo)
        return queued
    entry = wait_until_settled(store, queued.entry.id, lambda: run_queue(repo, store) is not None)
    if entry.follow_up:  # another host landed it: release and close here, follow the remote
        catch_up(repo, store)
        entry = list_entry(store, entry.id)
    return dataclasses.replace(queued, entry=entry)

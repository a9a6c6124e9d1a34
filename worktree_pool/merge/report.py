"""What `wtpool queue` shows: the merge queue's entries, the process working through them, and
(with `--run`) how many entries this process settled itself."""

from __future__ import annotations

from worktree_pool.git.repo import Repository
from worktree_pool.merge.landing import run_queue
from worktree_pool.merge.queue import QueueReport, list_entries, processor
from worktree_pool.store.protocol import Store


def queue_report(repo: Repository, store: Store, *, run: bool = False) -> QueueReport:
    """The queue as it stands; with `run`, after working through it in this process first."""
    ran = run_queue(repo, store) if run else None
    holder = processor(repo, store)
    return QueueReport(
        list_entries(store),
        holder.pid if holder is not None else None,
        None if ran is None else len(ran.processed),
        holder.host if holder is not None else None,
    )

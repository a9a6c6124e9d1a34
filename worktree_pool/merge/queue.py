"""The merge queue: finished branches wait here, and one process at a time lands them.

    queued -> merging -> merged | conflict | rejected | failed-tests
                      -> queued (an error: git or the remote failed) -> ... -> failed

An entry keeps the commit it was asked to land (the branch tip when `wtpool merge` ran): commits
the agent makes afterwards stay on the branch for a later merge, so what lands is what was
asked for. Order: an entry whose task depends on another queued task goes after it; otherwise
the lower priority number (0 is the most urgent, as in Beads), then the earlier arrival.

The processor lock is a row in the state store naming a process by pid and start time: taking
it, and giving it up once the queue is empty, are each one transaction. So an entry is either
seen by the running processor before it lets go, or enqueued after, when its own `merge` finds
the lock free; none is stranded. A processor that died is recognised by its pid and start time,
and whatever it left `merging` is settled by looking at git (see landing.py).

Where a control plane is shared, so is the queue, and the lock is the control plane's session
lock (split.running_alone), which a processor that dies on any host gives up with its
connection; the row then only says who holds it. `wtpool merge` pushes the branch to
merge.remote before queueing it (with merge.push), so that any host's processor may land it:
the entry's own host releases its slot and closes its task when it sees it landed
(after_landing.follow_up).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from worktree_pool.agents.logs import LOG_DIR
from worktree_pool.agents.process import start_wtpool_process
from worktree_pool.agents.process_table import same_process, start_marker
from worktree_pool.errors import ExitCode, WtpoolError, bad_input
from worktree_pool.git.repo import Repository
from worktree_pool.git.run import has_uncommitted, is_ancestor, resolve
from worktree_pool.merge.integration import push_branch
from worktree_pool.pool.worktrees import BRANCH_NAMESPACE, base_tip, branch_for
from worktree_pool.store import merges
from worktree_pool.store.merges import PENDING, MergeEntry, MergeState, Processor
from worktree_pool.store.origin import this_pool
from worktree_pool.store.pool import closing_error, read_pool, require_pool
from worktree_pool.store.protocol import Connection, Store
from worktree_pool.store.shared_schema import MERGE_CHANNEL
from worktree_pool.store.slots import SlotState, find_slot, slot_number
from worktree_pool.store.split import running_alone, running_anywhere, waiting_for
from worktree_pool.store.tasks import pinned_scopes
from worktree_pool.tasks.graph import BLOCKING_EDGES
from worktree_pool.tasks.sources import check_task_id, load_task_graph
from worktree_pool.tasks.tracks import Scoping, task_scope
from worktree_pool.util import testpoints
from worktree_pool.util.names import validate_name

WAIT_POLL = 0.1  # seconds between looks at an entry another process is landing
# Where the control plane announces changed entries, a waiting `merge --wait` is woken by them;
# it still looks this often, to take over the queue from a processor that died.
WAIT_WOKEN = 5.0
QUEUE_LOCK = "merge-queue"
DEFAULT_PRIORITY = 2  # Beads' default, for an entry whose task is in no task graph
# Runs that may end in an error (git failing, the remote unreachable) before an entry gives up:
# a lasting error must not hold every entry behind it, nor fail every `merge --wait`.
MAX_ERRORS = 3


@dataclass(frozen=True)
class EnqueueResult:
    entry: MergeEntry
    already_queued: bool = False  # the branch was queued already: its tip was brought up to date
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class QueueReport:
    entries: list[MergeEntry]
    processor: int | None  # the process working through the queue, if one is
    ran: int | None = None  # with --run: how many entries this process settled
    processor_host: str | None = None  # its host, where a control plane is shared


@dataclass(frozen=True)
class Target:
    """What `wtpool merge` was pointed at: a branch, and the slot and task it belongs to."""

    branch: str
    slot: str | None
    agent: str | None
    task: str | None
    scope: tuple[str, ...] | None


def get_entry(conn: Connection, entry_id: int) -> MergeEntry:
    entry = merges.get(conn, entry_id)
    if entry is None:
        raise WtpoolError(f"merge queue entry {entry_id} is gone", "the pool was cleaned up")
    return entry


def list_entries(store: Store) -> list[MergeEntry]:
    with store.snapshot() as conn:
        return merges.every(conn)


def list_entry(store: Store, entry_id: int) -> MergeEntry:
    with store.snapshot() as conn:
        return get_entry(conn, entry_id)


# --- enqueueing -----------------------------------------------------------------------------


def enqueue(
    repo: Repository,
    store: Store,
    target: str | None,
    *,
    release: bool = False,
    priority: int | None = None,
) -> EnqueueResult:
    if priority is not None and not 0 <= priority <= 4:
        raise bad_input(f"priority must be between 0 and 4, got {priority}")
    with store.snapshot() as conn:
        pool = require_pool(conn, repo)
        found = _resolve_target(repo, conn, target)
        pinned = pinned_scopes(conn)
    tip = resolve(repo.git, f"refs/heads/{found.branch}")
    if tip is None:
        raise WtpoolError(f"branch {found.branch} does not exist")
    if is_ancestor(repo.git, tip, base_tip(repo, pool.base)):
        raise WtpoolError(
            f"nothing to merge: {pool.base} already contains {found.branch}",
            "commit the work in the slot first",
        )
    facts = _task_facts(repo, found, pinned)
    warnings = _uncommitted_warning(repo, found) + ([facts.warning] if facts.warning else [])
    with store.snapshot() as conn:  # refused before the push, which must change nothing then
        _check_not_landing(found.branch, merges.pending_for(conn, found.branch))
        last = merges.last_for(conn, found.branch)
    pushed = _publish(repo, found.branch, tip, last.tip if last and last.pushed else None)
    with store.transaction() as conn:
        pending = merges.pending_for(conn, found.branch)
        if pending is not None:
            _check_not_landing(found.branch, pending)
            changes: dict[str, object] = {
                "tip": tip,
                "release": int(release or pending.release),
                "pushed": int(pushed),
            }
            if priority is not None:
                changes["priority"] = priority
            merges.update(conn, pending.id, **changes)
            return EnqueueResult(get_entry(conn, pending.id), True, warnings)
        entry_id = merges.insert(
            conn,
            slot=found.slot,
            agent=found.agent,
            task=found.task,
            branch=found.branch,
            tip=tip,
            base=pool.base,
            scope=facts.scope,
            priority=facts.priority if priority is None else priority,
            depends_on=facts.depends_on,
            release=release,
            pushed=pushed,
        )
        return EnqueueResult(get_entry(conn, entry_id), False, warnings)


def _check_not_landing(branch: str, pending: MergeEntry | None) -> None:
    # A candidate means a run got as far as landing it: which tip landed must stay the one
    # the candidate was built from.
    if pending is not None and (pending.state == MergeState.MERGING or pending.candidate):
        raise WtpoolError(
            f"{branch} is being landed (queue entry {pending.id})",
            "wait for it (wtpool queue); if no process is landing it, "
            "`wtpool queue --run` finishes it",
        )


def _publish(repo: Repository, branch: str, tip: str, pushed_before: str | None) -> bool:
    """Where the queue is shared and lands on the remote, push the branch there first, so that
    any host's processor can land it; whether it was pushed. Before anything is queued: a
    refused push queues nothing. What wtpool pushed there before (`pushed_before`) may be
    replaced, a branch rewritten since included; anything else on it is someone's work."""
    settings = repo.config.merge
    if repo.config.state.url is None or not settings.push:
        return False
    push_branch(repo.git, settings.remote, branch, tip, pushed_before)
    return True


def _resolve_target(repo: Repository, conn: Connection, target: str | None) -> Target:
    """A slot (its branch), a task held by a slot, or a task whose slot was released with its
    branch kept (`wtpool/task/<task>`)."""
    if target is None:
        if repo.current_slot is None:
            raise WtpoolError(
                "no slot or task given, and this directory is not inside a slot",
                "name one, e.g. `wtpool merge pool-wt-1` or `wtpool merge TASK`",
                ExitCode.USAGE,
            )
        target = repo.current_slot
    if slot_number(target) is not None:
        slot = find_slot(conn, name=target)
        if slot is None:
            raise WtpoolError(f"no slot named {target}", "see `wtpool status`", ExitCode.USAGE)
    else:
        slot = find_slot(conn, task=validate_name("task", target))
        if slot is None:
            branch = branch_for(target, target)
            if resolve(repo.git, f"refs/heads/{branch}") is None:
                check_task_id(repo, target, "see `wtpool status` for the tasks slots hold")
                raise WtpoolError(
                    f"no slot holds task {target}, and there is no branch {branch}",
                    "see `wtpool status` for the tasks slots hold",
                    ExitCode.USAGE,
                )
            return Target(branch, None, None, target, None)
    if slot.state != SlotState.BUSY or slot.branch is None:
        raise WtpoolError(
            f"{slot.name} holds no work to merge (it is {slot.state})",
            "merge a busy slot, or a task by its id",
        )
    if not slot.branch.startswith(BRANCH_NAMESPACE):
        raise WtpoolError(f"{slot.name}'s branch {slot.branch} is not one of wtpool's")
    return Target(slot.branch, slot.name, slot.agent, slot.task, slot.scope)


@dataclass(frozen=True)
class TaskFacts:
    priority: int
    depends_on: list[str]
    scope: tuple[str, ...] | None
    warning: str | None = None


def _task_facts(repo: Repository, target: Target, pinned: dict[str, tuple[str, ...]]) -> TaskFacts:
    """Priority, the tasks it depends on, and scope, from the task graph. A released task's
    branch has no slot to say its scope, so the task's own scope is used: a pin, its files,
    a files section or a scope rule. Never an inferred one: inference is a guess that moves
    with every commit to the base, and a guess must not reject work that was fine when done."""
    unscoped = (
        None
        if target.slot is not None
        else f"{target.task} is in no task graph, so {target.branch} is checked against "
        "reservations only, not against a scope"
    )
    facts = TaskFacts(DEFAULT_PRIORITY, [], target.scope, unscoped)
    if target.task is None:
        return facts
    try:
        graph = load_task_graph(repo.root, repo.config.tasks, lenient=True)
    except WtpoolError:  # no task file: a slot acquired by hand still has its own scope
        return facts
    task = graph.tasks.get(target.task)
    if task is None:
        return facts
    depends_on = [d.target for d in task.dependencies if d.kind in BLOCKING_EDGES]
    if target.slot is not None:
        return TaskFacts(task.priority, depends_on, target.scope)
    settings = repo.config.tasks
    scoping = Scoping(settings.scope_rules, settings.default_files, pinned)
    files = task_scope(task, scoping).patterns
    return TaskFacts(task.priority, depends_on, None if files == ("**",) else files)


def _uncommitted_warning(repo: Repository, target: Target) -> list[str]:
    if target.slot is None:
        return []
    if not has_uncommitted(repo.git.at(repo.slot_path(target.slot))):
        return []
    return [f"{target.slot} has uncommitted changes: only its commits are merged"]


# --- the processor lock ---------------------------------------------------------------------


def _me() -> tuple[int, float]:
    return os.getpid(), start_marker(os.getpid())


def lock_name(repo: Repository, store: Store) -> str:
    """The queue's lock where the control plane is shared: one for every host whose queue
    lands on the remote, since any of them may land any pushed entry; else each pool's own,
    as its entries land on its own base alone."""
    if repo.config.merge.push or repo.config.state.url is None:  # local: the name is unused
        return QUEUE_LOCK
    with store.snapshot() as conn:
        return f"{QUEUE_LOCK}-{this_pool(conn)}"


@contextmanager
def processor_lock(repo: Repository, store: Store) -> Iterator[bool]:
    """Yields True when this process now runs the queue, False when a live one already does.
    The lock is given up by `claim_batch` finding the queue empty, or on the way out."""
    with running_alone(store, lock_name(repo, store)) as alone:
        if not alone:
            yield False
            return
        me = _me()
        with store.transaction() as conn:
            # Cleanup closes the pool first: from then on, nothing may land.
            pool = require_pool(conn, repo)
            if pool.closing_pid is not None:
                raise closing_error(pool.closing_pid)
            holder = merges.processor(conn)
            # Another host's holder is dead: this process could take the shared lock.
            busy = (
                holder is not None
                and holder.pool_id == pool.pool_id
                and holder.pid != me[0]
                and same_process(holder.pid, holder.started)
            )
            if not busy:
                merges.take_processor(conn, *me)
        if busy:
            yield False
            return
        try:
            yield True
        finally:
            testpoints.reached("merge.letting-go")
            with store.transaction() as conn:
                merges.drop_processor(conn, me[0])


def processor(repo: Repository, store: Store) -> Processor | None:
    """The live process running the queue (of any host, where the queue is shared), if any."""
    with store.snapshot() as conn:
        holder = merges.processor(conn)
    return holder if _running(repo, store, holder) else None


def processor_in(conn: Connection) -> int | None:
    """The pid of this pool's live process running the queue, if any (a process of this
    machine, whose pid and start time tell whether it lives)."""
    holder = merges.processor(conn)
    if holder is None or holder.pool_id != this_pool(conn):
        return None
    return holder.pid if same_process(holder.pid, holder.started) else None


def _running(repo: Repository, store: Store, holder: Processor | None) -> bool:
    """Whether a queue run is alive: where the queue is shared, whether any host holds its
    lock; else whether the recorded process still runs."""
    shared = running_anywhere(store, lock_name(repo, store))
    if shared is not None:
        return shared
    return holder is not None and same_process(holder.pid, holder.started)


def interrupted(repo: Repository, store: Store) -> tuple[int | None, list[MergeEntry]] | None:
    """A queue run that died: (its pid, if its lock is still there; the entries it left
    `merging`), or None when there is none or its process still runs."""
    with store.snapshot() as conn:
        holder = merges.processor(conn)
    entries = orphans(repo, store)
    if _running(repo, store, holder) or (holder is None and not entries):
        return None
    return (holder.pid if holder is not None else None), entries


def next_entry(
    queued: list[MergeEntry], skip: set[int], waiting: list[MergeEntry] | None = None
) -> MergeEntry | None:
    """Of the `queued` entries, the one to land next: see the module docstring for the order.
    `waiting`: every entry still queued, of every host (default `queued`), so that an entry
    goes after one of its dependencies that another host is to land."""
    waiting_tasks = {entry.task for entry in waiting or queued if entry.task is not None}
    entries = [entry for entry in queued if entry.id not in skip]
    for entry in entries:
        if not waiting_tasks.intersection(entry.depends_on) - {entry.task}:
            return entry
    return entries[0] if entries else None  # a dependency cycle: priority, then arrival


def claim_batch(repo: Repository, store: Store, skip: set[int], size: int) -> list[MergeEntry]:
    """Move the next `size` entries this host may land (none of `skip`, tried in this run
    already), in order, to `merging`; when there is none, give up the lock in the same
    transaction.

    Taken one after another, so an entry whose task depends on one taken earlier in the batch
    is ready by then: the batch lands in the order the queue gives."""
    with store.transaction() as conn:
        waiting = merges.in_state(conn, MergeState.QUEUED)
        queued = _landable(repo, conn, waiting)
        batch: list[MergeEntry] = []
        while len(batch) < size:
            entry = next_entry(queued, skip, waiting)
            if entry is None:
                break
            queued.remove(entry)  # taken: no longer waiting, so what depends on it may follow
            waiting.remove(entry)
            merges.update(conn, entry.id, state=MergeState.MERGING, reason=None)
            batch.append(get_entry(conn, entry.id))
        if not batch:
            merges.drop_processor(conn, os.getpid())
        return batch


def waiting_here(repo: Repository, store: Store, skip: set[int]) -> bool:
    """Whether entries this host may land wait in the queue (none of `skip`): one queued while
    a processor of another host was letting go of the lock is found by the last to let go."""
    with store.snapshot() as conn:
        queued = _landable(repo, conn, merges.in_state(conn, MergeState.QUEUED))
    return any(entry.id not in skip for entry in queued)


def _landable(repo: Repository, conn: Connection, entries: list[MergeEntry]) -> list[MergeEntry]:
    """Those of `entries` this pool's processor may land: its own, and, where its queue lands
    on the remote, another host's whose branch is there, to be landed on the same base."""
    pool = read_pool(conn)
    if pool is None:
        return []
    push = repo.config.merge.push
    return [
        entry
        for entry in entries
        if entry.base == pool.base and (entry.pool_id == pool.pool_id or (push and entry.pushed))
    ]


def orphans(repo: Repository, store: Store) -> list[MergeEntry]:
    """Entries a processor that died left `merging`, of those this host may land (call with
    the lock held)."""
    with store.snapshot() as conn:
        return _landable(repo, conn, merges.in_state(conn, MergeState.MERGING))


def start_background_run(repo: Repository) -> None:
    """Run the queue in a process of its own, so `wtpool merge` returns at once."""
    start_wtpool_process(repo, repo.pool_dir / LOG_DIR / "merge-queue.log", "queue", "--run")


def wait_until_settled(store: Store, entry_id: int, run: Callable[[], bool]) -> MergeEntry:
    """Run the queue, or wait while another process runs it, until the entry is settled."""
    with waiting_for(store, MERGE_CHANNEL, poll=WAIT_POLL) as wait:
        while True:
            ran = run()
            entry = list_entry(store, entry_id)
            if entry.state not in PENDING:
                return entry
            if not ran:
                wait(WAIT_WOKEN)

"""Handing a slot over: claiming it inside the caller's transaction, preparing it (database,
worktree, scope, branch, hand-off file, agent), and serving the queue with free capacity.

acquire (claims.py), release, `wtpool init`, scaling up, the watch and doctor all hand slots out
through here, so a slot is prepared one way whoever claimed it. A claim is a row marked
`preparing` for the agent; only then does git work start, outside the write lock, and a failure
undoes the claim (a new slot is abandoned, an old one goes idle, a queued request goes back to
the head of the queue).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from worktree_pool.agents.process import launch
from worktree_pool.agents.stopping import kill_unrecorded
from worktree_pool.db.slots import Target, hand_out_database
from worktree_pool.errors import WtpoolError
from worktree_pool.git.repo import Repository
from worktree_pool.monitor.limits import assess, critical_reason
from worktree_pool.monitor.ports import foreign_holders
from worktree_pool.pool.copies import copy_into_slot, copy_warnings
from worktree_pool.pool.handoff import (
    env_file_path,
    moved_env_file_note,
    slot_environment,
    write_env_file,
)
from worktree_pool.pool.recycle import finish_release
from worktree_pool.pool.slot_hooks import (
    SETUP_HOOKS,
    HookRun,
    hooks_in_effect,
    require_runnable,
    run_hook,
)
from worktree_pool.pool.worktrees import (
    abandon_new_slots,
    add_worktree,
    base_tip,
    branch_for,
    check_out_branch,
    free_slot_numbers,
    registered_paths,
)
from worktree_pool.scope.filters import reapply
from worktree_pool.scope.sparse import ScopePlan
from worktree_pool.store import queue
from worktree_pool.store.pool import PoolRecord, read_pool
from worktree_pool.store.protocol import Connection, Store
from worktree_pool.store.slots import (
    ClaimRequest,
    SlotState,
    all_slots,
    insert_slot,
    lookup_slot,
    mark_idle,
    update_slot,
)
from worktree_pool.store.values import encode_scope, utc_now
from worktree_pool.util import testpoints


def claim_slot(
    repo: Repository,
    conn: Connection,
    pool: PoolRecord,
    request: ClaimRequest,
    registered: set[Path],
    *,
    grow: bool = True,
) -> tuple[str, bool] | None:
    """Mark the lowest idle slot, or (with `grow`) a new one below max, `preparing` for the
    agent.

    Returns (slot, whether it is new), or None when the pool is full. Runs inside the caller's
    transaction, so the claim and the decision to make it are one atomic step; `registered`
    (git's worktree paths) is listed before it, so no git runs while the write lock is held.
    """
    slots = all_slots(conn)
    idle = next(
        (slot for slot in slots if slot.state == SlotState.IDLE and not slot.out_of_service),
        None,
    )
    if idle is not None:
        update_slot(
            conn,
            idle.name,
            state=SlotState.PREPARING,
            agent=request.agent,
            task=request.task,
            scope=encode_scope(request.scope),
            track=request.track,
            acquired_at=utc_now(),
        )
        return idle.name, False
    if grow and len(slots) < pool.max:
        (number,) = free_slot_numbers(repo, conn, registered, 1)
        return insert_slot(conn, number, SlotState.PREPARING, request), True
    return None


@dataclass(frozen=True)
class Prepared:
    branch: str
    resumed: bool
    plan: ScopePlan
    agent_pid: int | None
    warnings: tuple[str, ...]


def prepare_claim(
    repo: Repository,
    store: Store,
    name: str,
    request: ClaimRequest,
    base: str,
    *,
    create: bool,
    target: Target | None = None,
) -> Prepared:
    """Do the git work for a `preparing` claim, start its agent if asked, and mark it busy;
    undo the claim on failure.

    The scope goes on before the branch: narrowing first means the switch writes only the
    files the agent will see.
    """
    branch = branch_for(request.agent, request.task)
    hooks = hooks_in_effect(repo, store)
    try:
        # Inside: a slot with no port block must undo its claim like any other failure.
        environment = slot_environment(repo, name, request)
        require_runnable(repo, hooks, SETUP_HOOKS)
        if repo.config.database.mode != "none":
            # The database first: a server that is down must fail the claim before any git
            # work.
            environment.update(hand_out_database(repo, store, name, target))
            testpoints.reached("claim.database")
        tip = base_tip(repo, base)
        plan = (
            add_worktree(repo, store, name, tip, base)
            if create
            else reapply(repo, store, name, base)
        )
        resumed = check_out_branch(repo, name, branch, tip, base)
        testpoints.reached("claim.checked-out")
        env_file = env_file_path(repo, base, branch)
        write_env_file(repo, name, env_file, environment)
        copies = copy_into_slot(repo, name)  # once the view is set: it decides where
    except BaseException:
        if create:  # brand new, never handed out: nothing in it can be anyone's work
            abandon_new_slots(repo, store, [name])
        else:
            with store.transaction() as conn:
                mark_idle(conn, name)
        raise
    with store.transaction() as conn:
        update_slot(conn, name, state=SlotState.BUSY, branch=branch)
    for hook in SETUP_HOOKS if create else SETUP_HOOKS[1:]:
        run = run_hook(repo, hooks, name, hook, environment)
        if run is not None and not run.ok:
            raise _take_out_of_service(repo, store, name, base, run)
    moved = moved_env_file_note(repo, env_file)
    taken = foreign_holders(repo.config.ports, {name: repo.slot_path(name)})
    pid, warnings = (
        None,
        (
            *((moved,) if moved else ()),
            *copy_warnings(copies),
            *(holder.describe() for holder in taken),
        ),
    )
    if request.launch and repo.config.agent.command:
        pid, started_warnings = _start_agent(repo, store, name, request, environment)
        warnings += started_warnings
    return Prepared(branch, resumed, plan, pid, warnings)


def _take_out_of_service(
    repo: Repository, store: Store, name: str, base: str, run: HookRun
) -> WtpoolError:
    """Take back a slot whose setup hook failed, as a release would (saving whatever the hook
    left that is found nowhere else), and keep it from being handed out again until
    `wtpool refresh` succeeds; the error to raise."""
    reason = f"{run.failure} (see {run.log})"
    with store.transaction() as conn:
        update_slot(conn, name, out_of_service=reason)
        slot = lookup_slot(conn, name)
    _, salvage_branch, _, _ = finish_release(repo, store, slot, base)
    saved = f"; what it changed is on {salvage_branch}" if salvage_branch else ""
    return WtpoolError(
        f"{run.failure} in {name}, which is now out of service{saved}",
        f"see {run.log}; once the hook is fixed, `wtpool refresh {name}` puts the slot back "
        "in service; the next acquire gets another slot",
    )


def _start_agent(
    repo: Repository,
    store: Store,
    name: str,
    request: ClaimRequest,
    environment: dict[str, str],
) -> tuple[int | None, tuple[str, ...]]:
    """Start the agent in a slot already marked busy, and record it; an agent that cannot be
    recorded is stopped again, since nothing else would ever know to stop it."""
    values = {
        "slot": name,
        "path": str(repo.slot_path(name)),
        "task": request.task or "",
        "brief": environment["WTPOOL_BRIEF"],
    }
    try:
        pid, started = launch(repo, name, values, environment)
    except WtpoolError as exc:  # the slot is ready; the agent can be started by hand
        return None, (exc.message,)
    testpoints.reached("claim.agent-started")
    try:
        with store.transaction() as conn:
            update_slot(conn, name, agent_pid=pid, agent_started=started)
    except BaseException:
        kill_unrecorded(name, request.agent, pid, started)
        raise
    return pid, ()


def serve_queue(
    repo: Repository, store: Store, base: str, *, grow: bool = True
) -> tuple[dict[str, str], str | None]:
    """Give free capacity to queued requests, oldest first: idle slots, and with `grow` new
    slots below max.

    Returns ({slot: agent it went to}, why serving stopped early). A request whose slot cannot
    be prepared goes back to the head of the queue, so it is never silently dropped.
    """
    served: dict[str, str] = {}
    while True:
        with store.snapshot() as conn:  # most releases find no one waiting: no git call then
            if not queue.anyone_waiting(conn):
                return served, None
        # Before every claim: each one (a clone, an agent) adds to what the limits measure.
        # Remembered disk readings: serving runs inside a release or a monitor's refresh.
        held_back = critical_reason(assess(repo, store, measure_disk=False))
        if held_back is not None:
            return served, f"the queue waits while limits are critical: {held_back}"
        registered = registered_paths(repo)
        with store.transaction() as conn:
            pool = read_pool(conn)
            request = queue.oldest(conn)
            if pool is None or pool.closing_pid is not None or request is None:
                return served, None
            claim = claim_slot(repo, conn, pool, request.request, registered, grow=grow)
            if claim is None:
                return served, None
            queue.remove(conn, request.id)
        name, created = claim
        try:
            prepare_claim(repo, store, name, request.request, base, create=created)
        except BaseException as exc:
            with store.transaction() as conn:
                queue.enqueue(conn, request.request, request.requested_at, request_id=request.id)
            if not isinstance(exc, WtpoolError):
                raise
            return served, f"could not hand {name} to queued agent {request.agent}: {exc.message}"
        served[name] = request.agent

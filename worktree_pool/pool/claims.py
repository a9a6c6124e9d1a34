"""Handing slots to agents and taking them back.

A claim is decided inside one `BEGIN IMMEDIATE` transaction: find the agent's existing claim, or
an idle slot, or room to create one, or else a place in the queue. Only after the row says
`preparing` for this agent does any git work start, so two processes can never be handed the
same slot. Both verbs are idempotent, because agents retry after timeouts: acquiring again
returns the slot (or queue place) the agent already has, and releasing an idle slot is a no-op.

The queue is first come, first served: while anyone is queued, a newcomer queues behind them,
and free capacity (a released slot, room below max) goes to the oldest request first.

This module decides; serving.py does the claim's work (preparing the slot, serving the queue)
and recycle.py what a release does to the slot.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from worktree_pool.agents.mail import WTPOOL_SENDER, post
from worktree_pool.agents.membership import AgentGroup
from worktree_pool.agents.process import is_running
from worktree_pool.agents.reservations import grant, release_held
from worktree_pool.agents.stopping import clear_slot
from worktree_pool.db.slots import check_template
from worktree_pool.errors import ExitCode, WtpoolError, bad_input
from worktree_pool.git.repo import Repository
from worktree_pool.monitor.limits import assess, critical_reason
from worktree_pool.pool.handoff import brief_path, write_brief
from worktree_pool.pool.recycle import finish_release
from worktree_pool.pool.salvage import (
    UniqueWork,
)
from worktree_pool.pool.serving import claim_slot, prepare_claim, serve_queue
from worktree_pool.pool.slot_hooks import (
    SETUP_HOOKS,
    hooks_in_effect,
    require_runnable,
    run_reported,
)
from worktree_pool.pool.worktrees import (
    registered_paths,
)
from worktree_pool.scope.filters import unmatched_warnings
from worktree_pool.scope.patterns import check_compiles
from worktree_pool.store import claims, queue
from worktree_pool.store.databases import check_databases_visible
from worktree_pool.store.pool import require_pool
from worktree_pool.store.protocol import Connection, Store
from worktree_pool.store.queue import QueuedRequest
from worktree_pool.store.slots import (
    ClaimRequest,
    Slot,
    SlotState,
    all_slots,
    find_slot,
    in_use_error,
    lookup_slot,
    owner_alive,
    update_slot,
)
from worktree_pool.store.tasks import landed_commit
from worktree_pool.store.values import utc_now
from worktree_pool.tasks.graph import TaskGraph
from worktree_pool.tasks.selection import independence_error
from worktree_pool.tasks.sources import ADHOC_HINT, check_task_id
from worktree_pool.util import testpoints
from worktree_pool.util.names import ensure_valid_names, validate_name
from worktree_pool.util.pattern_syntax import validate_patterns


@dataclass(frozen=True)
class AcquireResult:
    agent: str
    task: str | None
    queued: bool
    slot: str | None = None
    path: str | None = None
    branch: str | None = None
    created: bool = False  # a slot was added to the pool for this request
    resumed: bool = False  # the branch existed with unmerged work and was checked out as it was
    already_held: bool = False  # the agent already had this slot (or queue place)
    queue_position: int | None = None
    scope: tuple[str, ...] | None = None  # the slot's patterns; None: the whole tree
    track: str | None = None
    agent_pid: int | None = None  # the agent process started in the slot
    warnings: tuple[str, ...] = ()
    held_back: str | None = None  # queued although a slot may be free: the critical limits
    # Other agents' exclusive reservations that overlap this slot's write scope: files it was
    # given but may not commit while they hold them.
    held_by: tuple[str, ...] = ()


def acquire(
    repo: Repository,
    store: Store,
    agent: str,
    task: str | None,
    scope: tuple[str, ...] | None = None,
    *,
    track: str | None = None,
    launch_agent: bool = False,
    exclusive: bool = False,
    reserve: bool = False,
    brief: tuple[str, str] | None = None,
    adhoc: bool = False,
    graph: TaskGraph | None = None,
) -> AcquireResult:
    """Claim a slot for `agent`, showing only `scope` (see filters.py) when one is given.

    A `task` must be one the task source has (`graph`, if the caller has read it already),
    unless `adhoc`, or unless the repository has no task source.

    `exclusive` (spawn, assign) refuses, in the same transaction as the claim, a track that
    is already assigned or a scope that overlaps a slot in use or a queued request: two
    spawns running at once can never both take overlapping work. `reserve` (spawn, assign)
    also reserves the scope's files for the agent in that transaction (see
    reservations.grant), and `brief` (subject, body) is mailed to the agent in it too, so the
    agent, once started, finds it waiting; once the claim or queue place is won, the body is
    also written to the task's brief file (by the winner alone: a refused claim writes none).
    """
    ensure_valid_names(agent=agent, task=task)
    if task is None and adhoc:
        raise bad_input("--adhoc is for a task: give it with --task")
    if task is not None and not adhoc:
        check_task_id(repo, task, ADHOC_HINT, graph)
    request = ClaimRequest(agent, task, scope, track, launch_agent)
    if scope is not None:
        validate_patterns(scope)
        check_compiles(scope)
    target, held_back, warnings, granted = None, None, (), None
    held_by: tuple[str, ...] = ()
    if _will_claim(repo, store, request, exclusive):
        # After the cheap refusals, so that a refused request neither samples the resources
        # nor starts a database server.
        assessment = assess(repo, store)
        held_back = critical_reason(assessment)
        warnings = tuple(finding.message for finding in assessment.warnings)
        # Hooks that could not run would leave a slot that is not what the user set up.
        require_runnable(repo, hooks_in_effect(repo, store), SETUP_HOOKS)
        if held_back is None and repo.config.database.mode != "none":
            # Before the claim, so that a server that is down changes nothing.
            target = check_template(repo, store)
    registered = registered_paths(repo)
    with store.transaction() as conn:
        pool = require_pool(conn, repo)
        held = find_slot(conn, agent=agent)
        if held is not None:
            return _already_held(repo, held, agent, task, scope)
        queued = queue.queued_for(conn, agent)
        if queued is not None:
            _check_same_request(queued, task)
            claim = None
        else:
            _check_claimable(conn, request, exclusive)
            if task is not None and (landed := landed_commit(conn, task)) is not None:
                # Spawn and assign skip landed tasks; asked for by name, it may be a follow-up.
                warnings += (
                    f"task {task} already landed (in {landed[:12]}): this starts new work on it",
                )
            if reserve:
                reason = f"{track or 'work'}, task {task}" if task else track
                # A scope of the whole tree means nothing is known of the task: holding all of
                # it exclusively would freeze every other slot, so it is only ever shared.
                granted = grant(
                    conn,
                    repo,
                    agent,
                    scope or ("**",),
                    reason=reason,
                    shared=scope is None,
                    overlap_on_purpose=not exclusive,
                )
                held_by = tuple(
                    f"{c.holder.agent} ({', '.join(c.holder.patterns)})"
                    for c in granted.conflicts
                    if c.holder.exclusive
                )
                warnings += tuple(
                    f"{agent}'s scope overlaps {c.holder.agent}'s reservation "
                    f"({', '.join(c.holder.patterns)}), e.g. {c.path}"
                    for c in granted.conflicts
                )
            if brief is not None:
                post(conn, WTPOOL_SENDER, agent, *brief, thread=task)
            claim = (
                None
                if queue.anyone_waiting(conn) or held_back
                else claim_slot(repo, conn, pool, request, registered)
            )
            if claim is None:
                queue.enqueue(conn, request, utc_now())
    if brief is not None and task is not None and queued is None:
        write_brief(repo, task, brief[1])
    if claim is None:
        if held_back is None:
            # Room may have appeared since the queue last moved (a scale-up, a raised maximum,
            # a slot freed by doctor): serve it in order, which may reach this very request.
            serve_queue(repo, store, pool.base)
        queued_result = _after_queueing(repo, store, agent, task, was_queued=queued is not None)
        if queued_result.queued and held_back is None:  # asked again, or held back in serving
            held_back = critical_reason(assess(repo, store, measure_disk=False))
        return replace(queued_result, held_back=held_back, warnings=warnings)
    name, created = claim
    testpoints.reached("claim.claimed")
    try:
        prepared = prepare_claim(
            repo, store, name, request, pool.base, create=created, target=target
        )
    except BaseException:
        if granted is not None:  # the claim was undone: so is its reservation
            release_held(store, ids=[granted.reservation.id])
        if brief is not None and task is not None:  # and nobody else holds the task yet
            brief_path(repo, task).unlink(missing_ok=True)
        raise
    return AcquireResult(
        agent,
        task,
        queued=False,
        slot=name,
        path=str(repo.slot_path(name)),
        branch=prepared.branch,
        created=created,
        resumed=prepared.resumed,
        scope=scope,
        track=track,
        agent_pid=prepared.agent_pid,
        warnings=(*warnings, *unmatched_warnings(prepared.plan), *prepared.warnings),
        held_by=held_by,
    )


def _check_claimable(conn: Connection, request: ClaimRequest, exclusive: bool) -> None:
    """Raise the refusal of a new claim or queue place, if there is one."""
    _check_task_free(conn, request.agent, request.task)
    if exclusive and (error := independence_error(conn, request)) is not None:
        raise error


def _will_claim(repo: Repository, store: Store, request: ClaimRequest, exclusive: bool) -> bool:
    """Whether the request, as the state stands, would claim a slot or queue, rather than be
    refused or find the agent's slot or queue place. The claim's transaction checks again."""
    with store.snapshot() as conn:
        require_pool(conn, repo)
        if find_slot(conn, agent=request.agent) or queue.queued_for(conn, request.agent):
            return False
        _check_claimable(conn, request, exclusive)
    return True


def _after_queueing(
    repo: Repository, store: Store, agent: str, task: str | None, *, was_queued: bool
) -> AcquireResult:
    """Report a queued request, or the slot it got if serving the queue reached it."""
    with store.snapshot() as conn:
        held = find_slot(conn, agent=agent)
        if held is not None and held.state == SlotState.BUSY:
            return AcquireResult(
                agent,
                task,
                queued=False,
                slot=held.name,
                path=str(repo.slot_path(held.name)),
                branch=held.branch,
                scope=held.scope,
                track=held.track,
                agent_pid=held.agent_pid,
            )
        queued = queue.queued_for(conn, agent)
        position = queue.position(conn, queued.id) if queued else None
    return AcquireResult(
        agent,
        queued.task if queued else task,
        queued=True,
        already_held=was_queued,
        queue_position=position,
    )


def _already_held(
    repo: Repository, held: Slot, agent: str, task: str | None, scope: tuple[str, ...] | None
) -> AcquireResult:
    if task is not None and held.task != task:
        raise bad_input(
            f"agent {agent} already holds {held.name} for "
            + (f"task {held.task}" if held.task else "no task"),
            f"release it first: wtpool release {held.name}",
        )
    if scope is not None and held.scope != scope:
        raise bad_input(
            f"agent {agent} already holds {held.name} with another scope",
            f"change it with `wtpool filter set {held.name} PATTERN...`",
        )
    return AcquireResult(
        agent,
        held.task,
        queued=False,
        slot=held.name,
        path=str(repo.slot_path(held.name)),
        branch=held.branch,
        already_held=True,
        scope=held.scope,
        track=held.track,
        agent_pid=held.agent_pid,
    )


def _check_same_request(queued: QueuedRequest, task: str | None) -> None:
    if task is not None and queued.task != task:
        raise bad_input(
            f"agent {queued.agent} is already queued for "
            + (f"task {queued.task}" if queued.task else "no task"),
            "wait for that request, or end it with `wtpool cleanup`",
        )


def _check_task_free(conn: Connection, agent: str, task: str | None) -> None:
    if task is None:
        return
    holder = claims.holder_of(conn, task)
    if holder is not None:
        raise WtpoolError(
            f"task {task} is already held by agent {holder.agent} in {holder.where}",
            "one task, one slot: pick another task or wait for that agent to release it",
        )
    waiting = queue.agent_queued_for_task(conn, task)
    if waiting is not None:
        raise WtpoolError(f"task {task} is already queued for agent {waiting}")


@dataclass(frozen=True)
class ReleaseResult:
    slot: str
    agent: str | None
    task: str | None
    was_idle: bool = False
    saved: str | None = None  # what was unique, in words
    work: UniqueWork | None = None  # what was unique, path by path and commit by commit
    salvage_branch: str | None = None
    branch_deleted: str | None = None  # the slot's branch, deleted because the base contains it
    branch_kept: str | None = None  # the slot's branch, kept because it holds unmerged commits
    handed_to: str | None = None  # the queued agent that now holds the slot
    handoff_error: str | None = None  # why the oldest queued request could not take the slot
    # What still ran in the slot once its agent had ended (see agents.slot_strays): stopped
    # before the salvage, so that nothing writes there after it; spared: with a terminal.
    stopped_processes: list[int] = field(default_factory=list)
    spared_processes: list[int] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # what went wrong in pre_release hooks


def release(repo: Repository, store: Store, name: str | None) -> ReleaseResult:
    name = slot_argument(repo, name)
    # Outside the write lock: reading the process table takes a while, and a busy slot's
    # agent cannot change under us (agents start only when a slot is claimed).
    with store.snapshot() as conn:
        if (found := find_slot(conn, name=name)) is not None and is_running(found):
            raise WtpoolError(
                f"the agent in {name} is still running (process {found.agent_pid})",
                f"stop it first: wtpool stop {name}",
            )
    with store.transaction() as conn:
        pool = require_pool(conn, repo)
        slot = lookup_slot(conn, name)
        if slot.state == SlotState.IDLE:
            return ReleaseResult(name, None, None, was_idle=True)
        check_databases_visible(conn, repo)
        if slot.state != SlotState.BUSY:
            if owner_alive(slot):
                raise in_use_error(slot)
            if slot.state != SlotState.RELEASING:
                raise WtpoolError(
                    f"{name} was left {slot.state} by a wtpool process that stopped",
                    "run `wtpool doctor --fix`",
                )
        update_slot(conn, name, state=SlotState.RELEASING)
        others = all_slots(conn)
    testpoints.reached("release.releasing")
    try:
        left = clear_slot(repo, name, AgentGroup.of(slot), repo.config.agent.stop_grace, others)
        # Once nothing of the agent's runs, before the salvage: what it changes is saved too.
        warnings = run_reported(repo, store, hooks_in_effect(repo, store), slot, "pre_release")
        work, salvage_branch, deleted, kept = finish_release(repo, store, slot, pool.base)
    except BaseException:
        with store.transaction() as conn:
            update_slot(conn, name, state=SlotState.BUSY)
        raise
    served, handoff_error = serve_queue(repo, store, pool.base)
    return ReleaseResult(
        slot=name,
        agent=slot.agent,
        task=slot.task,
        saved=work.summary(pool.base) if work else None,
        work=work,
        salvage_branch=salvage_branch,
        branch_deleted=deleted,
        branch_kept=kept,
        handed_to=served.get(name),
        handoff_error=handoff_error,
        stopped_processes=left.strays,
        spared_processes=left.spared,
        warnings=warnings,
    )


def slot_argument(repo: Repository, name: str | None) -> str:
    if name is None:
        if repo.current_slot is None:
            raise WtpoolError(
                "no slot given, and this directory is not inside a slot",
                "name the slot, e.g. `wtpool release pool-wt-1`",
                ExitCode.USAGE,
            )
        return repo.current_slot
    return validate_name("slot", name)

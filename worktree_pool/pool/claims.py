"""Handing slots to agents and taking them back.

A claim is decided inside one `BEGIN IMMEDIATE` transaction: find the agent's existing claim, or
an idle slot, or room to create one, or else a place in the queue. Only after the row says
`preparing` for this agent does any git work start, so two processes can never be handed the
same slot. Both verbs are idempotent, because agents retry after timeouts: acquiring again
returns the slot (or queue place) the agent already has, and releasing an idle slot is a no-op.

The queue is first come, first served: while anyone is queued, a newcomer queues behind them,
and free capacity (a released slot, room below max) goes to the oldest request first.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from worktree_pool.agents.mail import WTPOOL_SENDER, post
from worktree_pool.agents.membership import AgentGroup
from worktree_pool.agents.process import is_running, launch
from worktree_pool.agents.reservations import grant, release_held, release_in
from worktree_pool.agents.stopping import clear_slot, kill_unrecorded
from worktree_pool.errors import ExitCode, WtpoolError, bad_input
from worktree_pool.git.repo import Repository
from worktree_pool.git.run import delete_branch_if_at, is_ancestor, resolve
from worktree_pool.pool.handoff import (
    env_file_path,
    forget_handoff,
    moved_env_file_note,
    slot_environment,
    write_env_file,
)
from worktree_pool.pool.salvage import (
    SALVAGE_NAMESPACE,
    UniqueWork,
    inspect_work,
    naming_salvage_on_failure,
    salvage,
)
from worktree_pool.pool.worktrees import (
    BRANCH_NAMESPACE,
    abandon_new_slots,
    add_worktree,
    base_tip,
    branch_for,
    check_out_branch,
    checked_out_anywhere,
    free_slot_numbers,
    registered_paths,
    reset_to,
)
from worktree_pool.scope.filters import ScopePlan, reapply, unmatched_warnings
from worktree_pool.scope.patterns import check_compiles
from worktree_pool.store.slots import (
    ClaimRequest,
    PoolRecord,
    QueuedRequest,
    Slot,
    SlotState,
    all_slots,
    check_databases_visible,
    encode_scope,
    enqueue,
    find_slot,
    in_use_error,
    insert_slot,
    lookup_slot,
    mark_idle,
    owner_alive,
    read_pool,
    require_pool,
    update_slot,
)
from worktree_pool.store.sqlite import StateStore, utc_now
from worktree_pool.util import testpoints
from worktree_pool.util.names import ensure_valid_names, validate_name
from worktree_pool.util.pattern_syntax import validate_patterns

if TYPE_CHECKING:
    from worktree_pool.db.slots import Target
    from worktree_pool.tasks.graph import TaskGraph


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


def acquire(
    repo: Repository,
    store: StateStore,
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
    agent, once started, finds it waiting.
    """
    ensure_valid_names(agent=agent, task=task)
    if task is None and adhoc:
        raise bad_input("--adhoc is for a task: give it with --task")
    if task is not None and not adhoc:
        # Imported here: only a claim with a task reads the task source.
        from worktree_pool.tasks.graph import ADHOC_HINT, check_task_id

        check_task_id(repo, task, ADHOC_HINT, graph)
    request = ClaimRequest(agent, task, scope, track, launch_agent)
    if scope is not None:
        validate_patterns(scope)
        check_compiles(scope)
    target, held_back, warnings, granted = None, None, (), None
    # Imported here: sampling costs start-up time that commands other than claims never need.
    from worktree_pool.monitor.limits import assess, critical_reason

    if _will_claim(repo, store, request, exclusive):
        # After the cheap refusals, so that a refused request neither samples the resources
        # nor starts a database server.
        assessment = assess(repo, store)
        held_back = critical_reason(assessment)
        warnings = tuple(finding.message for finding in assessment.warnings)
        if held_back is None and repo.config.database.mode != "none":
            # Before the claim, so that a server that is down changes nothing. Imported here:
            # the database code costs start-up time that most pools never need.
            from worktree_pool.db.slots import check_template

            target = check_template(repo, store)
    registered = registered_paths(repo)
    with store.transaction() as conn:
        pool = require_pool(conn, repo)
        held = find_slot(conn, agent=agent)
        if held is not None:
            return _already_held(repo, held, agent, task, scope)
        queued = _queued(conn, agent)
        if queued is not None:
            _check_same_request(queued, task)
            claim = None
        else:
            _check_claimable(conn, request, exclusive)
            if reserve:
                reason = f"{track or 'work'}, task {task}" if task else track
                granted = grant(
                    conn,
                    repo,
                    agent,
                    scope or ("**",),
                    reason=reason,
                    overlap_on_purpose=not exclusive,
                )
                warnings += tuple(
                    f"{agent}'s reservation overlaps {c.holder.agent}'s "
                    f"({', '.join(c.holder.patterns)}) at {c.path}"
                    for c in granted.conflicts
                )
            if brief is not None:
                post(conn, repo, WTPOOL_SENDER, agent, *brief, thread=task)
            others_waiting = conn.execute("SELECT COUNT(*) FROM queue").fetchone()[0] > 0
            claim = (
                None
                if others_waiting or held_back
                else _claim_slot(repo, conn, pool, request, registered)
            )
            if claim is None:
                enqueue(conn, request, utc_now())
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
            release_held(repo, store, ids=[granted.reservation.id])
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
    )


def _check_claimable(conn: sqlite3.Connection, request: ClaimRequest, exclusive: bool) -> None:
    """Raise the refusal of a new claim or queue place, if there is one."""
    _check_task_free(conn, request.agent, request.task)
    if exclusive:
        # Here, not at the top: plain acquires never need the overlap machinery.
        from worktree_pool.tasks.selection import independence_error

        if (error := independence_error(conn, request)) is not None:
            raise error


def _will_claim(
    repo: Repository, store: StateStore, request: ClaimRequest, exclusive: bool
) -> bool:
    """Whether the request, as the state stands, would claim a slot or queue, rather than be
    refused or find the agent's slot or queue place. The claim's transaction checks again."""
    with store.snapshot() as conn:
        require_pool(conn, repo)
        if find_slot(conn, agent=request.agent) or _queued(conn, request.agent):
            return False
        _check_claimable(conn, request, exclusive)
    return True


def _claim_slot(
    repo: Repository,
    conn: sqlite3.Connection,
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
    idle = next((slot for slot in slots if slot.state == SlotState.IDLE), None)
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


def _after_queueing(
    repo: Repository, store: StateStore, agent: str, task: str | None, *, was_queued: bool
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
        queued = _queued(conn, agent)
        position = _position(conn, queued.id) if queued else None
    return AcquireResult(
        agent,
        queued.task if queued else task,
        queued=True,
        already_held=was_queued,
        queue_position=position,
    )


def _position(conn: sqlite3.Connection, request_id: int) -> int:
    return conn.execute("SELECT COUNT(*) FROM queue WHERE id <= ?", (request_id,)).fetchone()[0]


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


def _queued(conn: sqlite3.Connection, agent: str) -> QueuedRequest | None:
    row = conn.execute("SELECT * FROM queue WHERE agent = ?", (agent,)).fetchone()
    return QueuedRequest.from_row(row) if row else None


def _check_same_request(queued: QueuedRequest, task: str | None) -> None:
    if task is not None and queued.task != task:
        raise bad_input(
            f"agent {queued.agent} is already queued for "
            + (f"task {queued.task}" if queued.task else "no task"),
            "wait for that request, or end it with `wtpool cleanup`",
        )


def _check_task_free(conn: sqlite3.Connection, agent: str, task: str | None) -> None:
    if task is None:
        return
    holder = find_slot(conn, task=task)
    if holder is not None:
        raise WtpoolError(
            f"task {task} is already held by agent {holder.agent} in {holder.name}",
            "one task, one slot: pick another task or wait for that agent to release it",
        )
    row = conn.execute("SELECT agent FROM queue WHERE task = ?", (task,)).fetchone()
    if row is not None:
        raise WtpoolError(f"task {task} is already queued for agent {row['agent']}")


@dataclass(frozen=True)
class Prepared:
    branch: str
    resumed: bool
    plan: ScopePlan
    agent_pid: int | None
    warnings: tuple[str, ...]


def prepare_claim(
    repo: Repository,
    store: StateStore,
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
    environment = slot_environment(repo, name, request)
    try:
        if repo.config.database.mode != "none":
            # The database first: a server that is down must fail the claim before any git
            # work. Imported here: most pools never need the database code.
            from worktree_pool.db.slots import hand_out_database

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
    except BaseException:
        if create:  # brand new, never handed out: nothing in it can be anyone's work
            abandon_new_slots(repo, store, [name])
        else:
            with store.transaction() as conn:
                mark_idle(conn, name)
        raise
    with store.transaction() as conn:
        update_slot(conn, name, state=SlotState.BUSY, branch=branch)
    moved = moved_env_file_note(repo, env_file)
    pid, warnings = None, (moved,) if moved else ()
    if request.launch and repo.config.agent.command:
        pid, started_warnings = _start_agent(repo, store, name, request, environment)
        warnings += started_warnings
    return Prepared(branch, resumed, plan, pid, warnings)


def _start_agent(
    repo: Repository,
    store: StateStore,
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


def release(repo: Repository, store: StateStore, name: str | None) -> ReleaseResult:
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
    )


def finish_release(
    repo: Repository, store: StateStore, slot: Slot, base: str
) -> tuple[UniqueWork | None, str | None, str | None, str | None]:
    """The work of a release once the slot is marked `releasing`: release itself, and doctor
    finishing one that was interrupted, so that both leave the same slot behind. Returns what
    recycle does.

    The slot goes idle with a fresh clone of the template, recorded as fresh in the same
    transaction (see slot_databases.hand_out_database), and its agent's reservations go.
    """
    outcome = recycle(repo, slot, base)
    testpoints.reached("release.recycled")
    fresh = repo.config.database.mode != "none"
    if fresh:  # the next task starts from a clean database
        from worktree_pool.db.slots import clone_slot_database

        clone_slot_database(repo, store, slot.name)
        testpoints.reached("release.database")
    with store.transaction() as conn:
        mark_idle(conn, slot.name)
        update_slot(conn, slot.name, database_fresh=int(fresh))
        if slot.agent is not None:  # its files are free again: the agent is done with them
            release_in(conn, repo, agent=slot.agent)
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


def serve_queue(
    repo: Repository, store: StateStore, base: str, *, grow: bool = True
) -> tuple[dict[str, str], str | None]:
    """Give free capacity to queued requests, oldest first: idle slots, and with `grow` new
    slots below max.

    Returns ({slot: agent it went to}, why serving stopped early). A request whose slot cannot
    be prepared goes back to the head of the queue, so it is never silently dropped.
    """
    served: dict[str, str] = {}
    while True:
        with store.snapshot() as conn:  # most releases find no one waiting: no git call then
            if conn.execute("SELECT 1 FROM queue LIMIT 1").fetchone() is None:
                return served, None
        from worktree_pool.monitor.limits import assess, critical_reason

        # Before every claim: each one (a clone, an agent) adds to what the limits measure.
        # Remembered disk readings: serving runs inside a release or a monitor's refresh.
        held_back = critical_reason(assess(repo, store, measure_disk=False))
        if held_back is not None:
            return served, f"the queue waits while limits are critical: {held_back}"
        registered = registered_paths(repo)
        with store.transaction() as conn:
            pool = read_pool(conn)
            row = conn.execute("SELECT * FROM queue ORDER BY id LIMIT 1").fetchone()
            if pool is None or pool.closing_pid is not None or row is None:
                return served, None
            request = QueuedRequest.from_row(row)
            claim = _claim_slot(repo, conn, pool, request.request, registered, grow=grow)
            if claim is None:
                return served, None
            conn.execute("DELETE FROM queue WHERE id = ?", (request.id,))
        name, created = claim
        try:
            prepare_claim(repo, store, name, request.request, base, create=created)
        except BaseException as exc:
            with store.transaction() as conn:
                enqueue(conn, request.request, request.requested_at, request_id=request.id)
            if not isinstance(exc, WtpoolError):
                raise
            return served, f"could not hand {name} to queued agent {request.agent}: {exc.message}"
        served[name] = request.agent


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

"""The pool: creating it, growing and shrinking it, and reporting on it.

The bounds and the base branch are recorded in the state store by `wtpool init`; the config only
supplies the defaults for that first `init`. Slots are `pool-wt-<n>` directories under
`.agent-worktrees/`, numbered from 1, always taking the lowest free number.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace

from worktree_pool.agents import AgentProcess, ProcessTable, agent_process
from worktree_pool.claims import serve_queue
from worktree_pool.config import CONFIG_FILE_NAME, Config, check_pool_bounds, render_config
from worktree_pool.errors import WtpoolError, bad_input
from worktree_pool.gitops import (
    WorktreeRecord,
    branch_exists,
    current_branch,
    has_uncommitted,
    worktree_records,
)
from worktree_pool.repo import POOL_DIR_NAME, Repository, exclude_from_git
from worktree_pool.salvage import inspect_work
from worktree_pool.slots import (
    PoolRecord,
    QueuedRequest,
    SlotState,
    all_slots,
    closing_error,
    find_slot,
    insert_slot,
    no_pool_error,
    queued_requests,
    read_pool,
    slot_number,
    update_slot,
)
from worktree_pool.state import POOL_DIR_MODE, LatestSample, StateStore, latest_sample, utc_now
from worktree_pool.worktrees import (
    abandon_new_slots,
    add_worktree,
    base_tip,
    enable_per_worktree_config,
    forget_stale_record,
    free_slot_numbers,
    registered_paths,
    slot_records,
)


def check_pool_dir(repo: Repository) -> None:
    if repo.pool_dir.exists() and not repo.pool_dir.is_dir():
        raise WtpoolError(
            f"{repo.pool_dir} exists but is not a directory",
            "wtpool keeps its pool there; move that file aside",
        )
    if repo.state_path.exists() and not repo.state_path.is_file():
        raise WtpoolError(
            f"{repo.state_path} exists but is not a file",
            "wtpool keeps its state store there; move it aside",
        )


def open_store(repo: Repository) -> StateStore:
    """Open an existing pool's store; never creates anything."""
    check_pool_dir(repo)
    if not repo.state_path.is_file():
        raise no_pool_error(repo)
    return StateStore(repo.state_path, repo.config.timeouts.state_lock)


def open_store_if_any(repo: Repository) -> StateStore | None:
    """The pool's store, or None when the repository has no pool (yet, or any more)."""
    return open_store(repo) if repo.state_path.is_file() else None


# --- init ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class InitResult:
    root: str
    pool_dir: str
    base: str
    min: int
    max: int
    created: list[str]
    adopted: list[str]  # worktrees found under the pool directory and recorded as slots again
    config_written: str | None
    bounds_changed: bool


def init_pool(
    repo: Repository, minimum: int | None, maximum: int | None, base: str | None
) -> InitResult:
    """Create the pool, or bring an existing one up to its minimum; idempotent."""
    check_pool_dir(repo)
    existing, size = _existing_pool(repo)
    if existing is not None and existing.closing_pid is not None:
        raise closing_error(existing.closing_pid)
    minimum = minimum if minimum is not None else existing.min if existing else repo.config.pool.min
    maximum = maximum if maximum is not None else existing.max if existing else repo.config.pool.max
    check_pool_bounds(minimum, maximum)
    if size > maximum:
        raise bad_input(
            f"the pool has {size} slots, more than the new maximum {maximum}",
            f"scale down first: wtpool scale --to {maximum}",
        )
    base = _choose_base(repo, base, existing)

    store = _create_store(repo)  # first: if it fails, nothing else has changed
    # Keep the pool out of `git status` in the main worktree.
    exclude_from_git(repo, f"/{POOL_DIR_NAME}/", "wtpool's worktree pool")
    enable_per_worktree_config(repo)
    config_written = _write_default_config(repo, minimum, maximum, base)
    adopted = adopt_worktrees(repo, store, base)
    _forget_stale_slot_records(repo, store)
    registered = registered_paths(repo)
    with store.transaction() as conn:
        pool = read_pool(conn)
        if pool is None:
            conn.execute(
                "INSERT INTO pool (id, min_slots, max_slots, base_branch, created_at, pool_id)"
                " VALUES (1, ?, ?, ?, ?, lower(hex(randomblob(8))))",
                (minimum, maximum, base, utc_now()),
            )
        elif pool.closing_pid is not None:
            raise closing_error(pool.closing_pid)
        changed = pool is not None and (pool.min, pool.max) != (minimum, maximum)
        if changed:
            conn.execute(
                "UPDATE pool SET min_slots = ?, max_slots = ? WHERE id = 1", (minimum, maximum)
            )
        missing = max(0, minimum - len(all_slots(conn)))
        new_slots = [
            insert_slot(conn, number, SlotState.PREPARING)
            for number in free_slot_numbers(repo, conn, registered, missing)
        ]
    created = build_slots(repo, store, new_slots, base)
    serve_queue(repo, store, base)  # raised bounds may have made room for waiting requests
    store.close()
    return InitResult(
        root=str(repo.root),
        pool_dir=str(repo.pool_dir),
        base=base,
        min=minimum,
        max=maximum,
        created=created,
        adopted=adopted,
        config_written=config_written,
        bounds_changed=changed,
    )


def _create_store(repo: Repository) -> StateStore:
    created = not repo.pool_dir.exists()
    repo.pool_dir.mkdir(mode=POOL_DIR_MODE, exist_ok=True)
    repo.pool_dir.chmod(POOL_DIR_MODE)
    try:
        return StateStore.create(repo.state_path, repo.config.timeouts.state_lock)
    except (OSError, WtpoolError) as exc:
        if created:
            shutil.rmtree(repo.pool_dir, ignore_errors=True)
        if isinstance(exc, WtpoolError):
            raise
        raise WtpoolError(f"cannot create the state store {repo.state_path}: {exc}") from exc


def _forget_stale_slot_records(repo: Repository, store: StateStore) -> None:
    """Drop git's records of slot worktrees whose directories are gone and that the state does
    not list (say, after `rm -rf .agent-worktrees`), so their numbers can be used again."""
    with store.snapshot() as conn:
        known = {slot.name for slot in all_slots(conn)}
    for name, record in slot_records(repo).items():
        if record.prunable is not None and name not in known:
            forget_stale_record(repo, record.path)


def _existing_pool(repo: Repository) -> tuple[PoolRecord | None, int]:
    if not repo.state_path.is_file():
        return None, 0
    store = open_store(repo)
    try:
        with store.snapshot() as conn:
            return read_pool(conn), len(all_slots(conn))
    finally:
        store.close()


def _choose_base(repo: Repository, requested: str | None, existing: PoolRecord | None) -> str:
    if existing is not None:
        if requested is not None and requested != existing.base:
            raise bad_input(
                f"the pool already uses base branch {existing.base}",
                "run `wtpool cleanup` first to start a pool on another base",
            )
        return existing.base
    base = requested or repo.config.pool.base
    if base is None:
        base = current_branch(repo.git)
        if base is None:
            raise bad_input(
                "the main worktree's HEAD is detached, so there is no default base branch",
                "pass --base BRANCH",
            )
        if not branch_exists(repo.git, base):
            raise bad_input(
                f"the repository has no commits yet (branch {base} is unborn)",
                "commit something first: slots start from a commit",
            )
    # check-ref-format first: show-ref alone would accept `main~1` or `refs/heads/x`-style
    # spellings that are not branch names.
    if not repo.git.ok("check-ref-format", "--branch", base) or not branch_exists(repo.git, base):
        raise bad_input(f"unknown base branch {base!r}", "name an existing local branch")
    return base


def _write_default_config(repo: Repository, minimum: int, maximum: int, base: str) -> str | None:
    if repo.config_path is not None:
        return None
    path = repo.root / CONFIG_FILE_NAME
    # The built-in defaults, not repo.config: an environment override is not the repository's.
    defaults = Config()
    pool = replace(defaults.pool, min=minimum, max=maximum, base=base)
    path.write_text(render_config(replace(defaults, pool=pool)), encoding="utf-8")
    return str(path)


# --- creating and removing slots ------------------------------------------------------------


def build_slots(repo: Repository, store: StateStore, names: list[str], base: str) -> list[str]:
    """Create the worktrees of freshly inserted `preparing` rows and mark them idle."""
    if not names:
        return []
    tip = base_tip(repo, base)
    built: list[str] = []
    try:
        for name in names:
            add_worktree(repo, store, name, tip, base)
            with store.transaction() as conn:
                update_slot(conn, name, state=SlotState.IDLE)
            built.append(name)
    finally:
        leftovers = [name for name in names if name not in built]
        if leftovers:
            abandon_new_slots(repo, store, leftovers)
    return built


# --- status ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PoolInfo:
    root: str
    pool_dir: str
    config: str | None
    base: str
    min: int
    max: int
    size: int
    closing_pid: int | None  # set while `wtpool cleanup` ends the session, or after it crashed


@dataclass(frozen=True)
class SlotStatus:
    name: str
    path: str
    state: str
    branch: str | None
    head: str | None
    task: str | None
    agent: str | None
    dirty: bool | None  # None when git cannot look: the directory or its record is missing
    present: bool  # whether the slot's directory exists
    scope: tuple[str, ...] | None  # the task's patterns; None: the whole tree
    acquired_at: str | None
    track: str | None
    agent_process: AgentProcess | None  # the agent spawn started here, if any
    database: str | None  # the slot's database; None when database.mode is none


@dataclass(frozen=True)
class StatusReport:
    pool: PoolInfo
    worktrees: list[SlotStatus]
    queue: list[QueuedRequest]
    sample: LatestSample | None = None  # the newest sample of the daemon or a monitor


def pool_status(repo: Repository, store: StateStore) -> StatusReport:
    with store.snapshot() as conn:
        pool = read_pool(conn)
        if pool is None:
            raise no_pool_error(repo)
        slots = all_slots(conn)
        queue = queued_requests(conn)
        sample = latest_sample(conn)
    records = {record.path: record for record in worktree_records(repo.git)}
    table = ProcessTable() if any(slot.agent_pid for slot in slots) else None
    worktrees = []
    for slot in slots:
        path = repo.slot_path(slot.name)
        record = records.get(path)
        worktrees.append(
            SlotStatus(
                name=slot.name,
                path=str(path),
                state=slot.state,
                branch=record.branch if record else None,
                head=record.head if record else None,
                task=slot.task,
                agent=slot.agent,
                dirty=has_uncommitted(repo.git.at(path)) if record and path.is_dir() else None,
                present=path.is_dir(),
                scope=slot.scope,
                acquired_at=slot.acquired_at,
                track=slot.track,
                agent_process=agent_process(repo, slot, table),
                database=_database_name(repo, slot.number),
            )
        )
    return StatusReport(
        pool=PoolInfo(
            root=str(repo.root),
            pool_dir=str(repo.pool_dir),
            config=str(repo.config_path) if repo.config_path else None,
            base=pool.base,
            min=pool.min,
            max=pool.max,
            size=len(slots),
            closing_pid=pool.closing_pid,
        ),
        worktrees=worktrees,
        queue=queue,
        sample=sample,
    )


def _database_name(repo: Repository, number: int) -> str | None:
    # The name only: status must stay fast, and must not start the embedded server.
    if repo.config.database.mode == "none":
        return None
    from worktree_pool.database import slot_database_name  # only when databases are on

    return slot_database_name(repo.root, number)


# --- adoption -------------------------------------------------------------------------------


def orphaned_worktrees(repo: Repository, known: set[str]) -> list[WorktreeRecord]:
    """Live worktrees under the pool directory with slot names that the state does not list."""
    return [
        record
        for name, record in slot_records(repo).items()
        if record.prunable is None and record.path.is_dir() and name not in known
    ]


def adopt_worktrees(
    repo: Repository,
    store: StateStore,
    base: str,
    records: list[WorktreeRecord] | None = None,
) -> list[str]:
    """Record orphaned pool worktrees (all of them, or just `records`) as slots again, e.g.
    after the state store was lost.

    A worktree with nothing unique, detached as idle slots are, comes back idle. Anything else
    comes back busy with no agent, so that `wtpool release` or `cleanup` salvages its work
    rather than a new agent getting a slot full of someone else's changes.
    """
    if records is None:
        with store.snapshot() as conn:
            records = orphaned_worktrees(repo, {slot.name for slot in all_slots(conn)})
    plans = []
    for record in records:
        work = inspect_work(repo.git.at(record.path), base)
        idle = record.branch is None and work.is_empty
        plans.append((record, SlotState.IDLE if idle else SlotState.BUSY))
    adopted = []
    with store.transaction() as conn:
        for record, state in plans:
            number = slot_number(record.path.name)
            if number is None or find_slot(conn, name=record.path.name) is not None:
                continue
            insert_slot(conn, number, state, branch=record.branch)
            # The recorded branch is informational; release deletes only branches under
            # wtpool/, so adopting a worktree that has, say, the base checked out is safe.
            adopted.append(record.path.name)
    return adopted

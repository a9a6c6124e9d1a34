"""The pool: creating it, growing and shrinking it, and reporting on it.

The bounds and the base branch are recorded in the state store by `wtpool init`; the config only
supplies the defaults for that first `init`. Slots are `pool-wt-<n>` directories under
`.agent-worktrees/`, numbered from 1, always taking the lowest free number.
"""

from __future__ import annotations

import os
import secrets
import shutil
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path

from worktree_pool.agents.process import AgentProcess, agent_process
from worktree_pool.agents.process_table import ProcessTable
from worktree_pool.config.display import render_config
from worktree_pool.config.settings import CONFIG_FILE_NAME, Config
from worktree_pool.config.validation import check_pool_bounds
from worktree_pool.db.names import pool_prefix
from worktree_pool.db.slots import slot_database
from worktree_pool.errors import WtpoolError, bad_input
from worktree_pool.git.repo import POOL_DIR_NAME, Repository, exclude_from_git
from worktree_pool.git.run import branch_exists, current_branch, has_uncommitted, worktree_records
from worktree_pool.pool.adoption import adopt_worktrees, build_slots, settle_stale_slot_records
from worktree_pool.pool.handoff import env_file_in
from worktree_pool.pool.serving import serve_queue
from worktree_pool.pool.stale_records import StaleRecord
from worktree_pool.pool.worktrees import (
    enable_per_worktree_config,
    free_slot_numbers,
    registered_paths,
)
from worktree_pool.store.limits import LatestSample, latest_sample
from worktree_pool.store.pool import (
    PoolRecord,
    closing_error,
    create_pool,
    no_pool_error,
    read_pool,
    set_bounds,
)
from worktree_pool.store.protocol import Store
from worktree_pool.store.queue import QueuedRequest, queued_requests
from worktree_pool.store.slots import SlotState, all_slots, insert_slot
from worktree_pool.store.sqlite import POOL_DIR_MODE, StateStore


def check_pool_dir(repo: Repository) -> None:
    """Refuse a pool directory that wtpool must not use; every command that opens the pool
    calls this before anything else, so a refusal changes nothing.

    The pool is a real directory directly inside the repository, or not there yet: never a
    link (init would chmod its target and build the pool outside the repository, and cleanup
    would not find the slots there), never a file, and never a path the repository tracks (a
    checkout would write into the pool, and wtpool into the repository's files). The state
    store inside it is a regular file, not a link.
    """
    kind = _file_kind(repo.pool_dir)
    if kind == "link":
        raise WtpoolError(
            f"{repo.pool_dir} is a symbolic link (to {os.readlink(repo.pool_dir)}), not a "
            "directory",
            "wtpool keeps its pool in a real directory inside the repository; remove the link "
            "(`git worktree list` shows any worktrees made through it)",
        )
    if kind not in (None, "directory"):
        raise WtpoolError(
            f"{repo.pool_dir} exists but is not a directory",
            "wtpool keeps its pool there; move that file aside",
        )
    tracked = repo.git.out("ls-files", "-z", "--", f":(literal){POOL_DIR_NAME}").split("\0")
    if tracked[0]:
        raise WtpoolError(
            f"the repository tracks {POOL_DIR_NAME}/ ({tracked[0]}), where wtpool keeps its pool",
            f"remove it from the repository (`git rm -r --cached {POOL_DIR_NAME}`) and commit",
        )
    if _file_kind(repo.state_path) not in (None, "file"):
        raise WtpoolError(
            f"{repo.state_path} exists but is not a file",
            "wtpool keeps its state store there; move it aside",
        )


def _file_kind(path: Path) -> str | None:
    """What is at `path` itself, links not followed: None when nothing is."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(mode):
        return "link"
    if stat.S_ISDIR(mode):
        return "directory"
    return "file" if stat.S_ISREG(mode) else "other"


def open_store(repo: Repository) -> Store:
    """Open an existing pool's store; never creates anything."""
    store = open_store_if_any(repo)
    if store is None:
        raise no_pool_error(repo)
    return store


def open_store_if_any(repo: Repository) -> Store | None:
    """The pool's store, or None when the repository has no pool (yet, or any more)."""
    check_pool_dir(repo)
    if not repo.state_path.is_file():
        return None
    return StateStore(repo.state_path, repo.config.timeouts.state_lock)


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
    # git's records of slot worktrees whose directories were gone: what became of each
    stale_records: list[StaleRecord] = field(default_factory=list)


def init_pool(
    repo: Repository, minimum: int | None, maximum: int | None, base: str | None
) -> InitResult:
    """Create the pool, or bring an existing one up to its minimum; idempotent."""
    existing, size = _existing_pool(repo)  # checks the pool directory before anything else
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
    config_target = _default_config_target(repo)

    store = _create_store(repo)  # first: if it fails, nothing else has changed
    # Keep the pool out of `git status` in the main worktree.
    exclude_from_git(repo, f"/{POOL_DIR_NAME}/", "wtpool's worktree pool")
    enable_per_worktree_config(repo)
    config_written = _write_default_config(config_target, minimum, maximum, base)
    # Stale records first: one whose slot was moved within the pool is repaired, and adopted.
    stale_records = settle_stale_slot_records(repo, store)
    adopted = adopt_worktrees(repo, store, base)
    registered = registered_paths(repo)
    with store.transaction() as conn:
        pool = read_pool(conn)
        if pool is None:
            pool_id = secrets.token_hex(8)
            create_pool(conn, minimum, maximum, base, pool_id, pool_prefix(repo.root, pool_id))
        elif pool.closing_pid is not None:
            raise closing_error(pool.closing_pid)
        changed = pool is not None and (pool.min, pool.max) != (minimum, maximum)
        if changed:
            set_bounds(conn, minimum, maximum)
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
        stale_records=stale_records,
    )


def _create_store(repo: Repository) -> StateStore:
    created = not repo.pool_dir.exists()
    repo.pool_dir.mkdir(mode=POOL_DIR_MODE, exist_ok=True)
    _make_private(repo)
    try:
        return StateStore.create(repo.state_path, repo.config.timeouts.state_lock)
    except (OSError, WtpoolError) as exc:
        if created:
            shutil.rmtree(repo.pool_dir, ignore_errors=True)
        if isinstance(exc, WtpoolError):
            raise
        raise WtpoolError(f"cannot create the state store {repo.state_path}: {exc}") from exc


def _make_private(repo: Repository) -> None:
    """Take read and write from everyone but the owner; keep search (x) permission, which the
    embedded server's user, run as root, needs to reach its data below (pgserver gives it):
    taking it would leave a running server unreachable, so that the next command would try
    to start a second one over its postmaster.pid."""
    mode = stat.S_IMODE(repo.pool_dir.stat().st_mode)
    wanted = POOL_DIR_MODE | (mode & 0o011)
    if mode != wanted:
        repo.pool_dir.chmod(wanted)


def _existing_pool(repo: Repository) -> tuple[PoolRecord | None, int]:
    store = open_store_if_any(repo)
    if store is None:
        return None, 0
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


def _default_config_target(repo: Repository) -> Path | None:
    """Where init writes the default config: nowhere when a config file is in use. Anything
    else at that name (a link, even a dangling one the repository tracks) is refused, before
    init changes anything: writing would follow it out of the repository."""
    if repo.config_path is not None:
        return None
    path = repo.root / CONFIG_FILE_NAME
    if _file_kind(path) is not None:
        raise WtpoolError(
            f"{path} exists but is not a config file wtpool can read"
            + (f" (a link to {os.readlink(path)})" if path.is_symlink() else ""),
            "replace it with a regular file, or pass --config PATH",
        )
    return path


def _write_default_config(path: Path | None, minimum: int, maximum: int, base: str) -> str | None:
    if path is None:
        return None
    # The built-in defaults, not repo.config: an environment override is not the repository's.
    defaults = Config()
    pool = replace(defaults.pool, min=minimum, max=maximum, base=base)
    try:  # O_EXCL and O_NOFOLLOW: whatever appeared there since the check is left alone
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
    except OSError as exc:
        raise WtpoolError(f"cannot write the default config {path}: {exc.strerror}") from exc
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(render_config(replace(defaults, pool=pool)))
    return str(path)


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
    env_file: str  # agent.env_file: where the slots' hand-off files go unless it is tracked


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
    # The hand-off file wtpool wrote in the slot, relative to it (agent.env_file, or
    # .wtpool/env where the repository tracks that); None when there is none.
    env_file: str | None


@dataclass(frozen=True)
class StatusReport:
    pool: PoolInfo
    worktrees: list[SlotStatus]
    queue: list[QueuedRequest]
    sample: LatestSample | None = None  # the newest sample of the daemon or a monitor


def pool_status(repo: Repository, store: Store) -> StatusReport:
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
                # Only a directory that is still the worktree: a plain one in its place (its
                # `.git` gone) has no status of its own, and doctor reports it.
                dirty=has_uncommitted(repo.git.at(path))
                if record and (path / ".git").is_file()
                else None,
                present=path.is_dir(),
                scope=slot.scope,
                acquired_at=slot.acquired_at,
                track=slot.track,
                agent_process=agent_process(repo, slot, table),
                database=_database_name(repo, pool, slot.name),
                env_file=env_file_in(repo, slot.name) if path.is_dir() else None,
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
            env_file=repo.config.agent.env_file,
        ),
        worktrees=worktrees,
        queue=queue,
        sample=sample,
    )


def _database_name(repo: Repository, pool: PoolRecord, slot: str) -> str | None:
    # The name only: status must stay fast, and must not start the embedded server.
    if repo.config.database.mode == "none":
        return None
    return slot_database(repo, pool, slot)

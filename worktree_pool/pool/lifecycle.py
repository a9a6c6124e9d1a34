"""The pool's first step: `wtpool init` creates the pool, or tops it up to its bounds.

The bounds and the base branch are recorded in the state store by `wtpool init`; the config only
supplies the defaults for that first `init`. Slots are `pool-wt-<n>` directories under
`.agent-worktrees/`, numbered from 1, always taking the lowest free number.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path

from worktree_pool.config.display import render_config
from worktree_pool.config.settings import CONFIG_FILE_NAME, Config
from worktree_pool.config.validation import check_pool_bounds
from worktree_pool.db.names import pool_prefix
from worktree_pool.errors import WtpoolError, bad_input
from worktree_pool.git.repo import POOL_DIR_NAME, Repository, exclude_from_git
from worktree_pool.git.run import branch_exists, current_branch
from worktree_pool.pool.adoption import adopt_worktrees, build_slots, settle_stale_slot_records
from worktree_pool.pool.opening import (
    check_control_plane,
    create_store,
    file_kind,
    open_store_if_any,
)
from worktree_pool.pool.serving import serve_queue
from worktree_pool.pool.stale_records import StaleRecord
from worktree_pool.pool.worktrees import (
    enable_per_worktree_config,
    free_slot_numbers,
    registered_paths,
)
from worktree_pool.store.pool import (
    PoolRecord,
    closing_error,
    create_pool,
    read_pool,
    set_bounds,
)
from worktree_pool.store.slots import SlotState, all_slots, insert_slot

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
    warnings: list[str] = field(default_factory=list)  # slots a post_create hook failed in


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
    check_control_plane(repo)

    with create_store(repo) as store:  # first: if it fails, nothing else has changed
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
        created, warnings = build_slots(repo, store, new_slots, base)
        serve_queue(repo, store, base)  # raised bounds may have made room for waiting requests
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
        warnings=warnings,
    )


def _existing_pool(repo: Repository) -> tuple[PoolRecord | None, int]:
    store = open_store_if_any(repo)
    if store is None:
        return None, 0
    with store, store.snapshot() as conn:
        return read_pool(conn), len(all_slots(conn))


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
    if file_kind(path) is not None:
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

"""The `wtpool filter` commands: show, set, add to, clear and verify a slot's scope.

A slot's scope is its task's patterns plus `scope.always_include`. It is applied two ways:
visibility, a sparse checkout that shows only those files (sparse.py), and enforcement, the
slot's own hooks, which run the guard on every commit (hooks.py). Both belong to the slot alone;
the main worktree and the other slots never see them.

The state store holds each slot's patterns; the guard reads a compiled copy, `scope.json`, next
to its hooks. `filter verify` compares git's settings and those files with what the state says.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from worktree_pool.errors import WtpoolError, bad_input
from worktree_pool.git.ignores import untracked_work
from worktree_pool.git.repo import Repository
from worktree_pool.git.run import resolve
from worktree_pool.scope import guard
from worktree_pool.scope.building import BuildResult, build_slot
from worktree_pool.scope.hooks import (
    HOOK_NAMES,
    guard_dir,
    guard_files,
    install_guard,
    slot_filter_lock,
)
from worktree_pool.scope.patterns import check_compiles, compile_rules
from worktree_pool.scope.sparse import ScopePlan, show_only, sparse_enabled
from worktree_pool.scope.view import plan_view
from worktree_pool.store.pool import PoolRecord, read_pool, require_pool
from worktree_pool.store.protocol import Connection, Store
from worktree_pool.store.slots import (
    TRANSIENT_STATES,
    Slot,
    in_use_error,
    lookup_slot,
    owner_alive,
    update_slot,
)
from worktree_pool.store.values import encode_scope
from worktree_pool.util.pattern_syntax import validate_patterns

NON_CONE_NOTE = "non-cone mode: file patterns are slower than directories on large trees"


def apply_scope(repo: Repository, name: str, plan: ScopePlan, base: str) -> None:
    """Make git show the planned files in the slot and install its guard. Idempotent.

    Re-applying to a populated slot changes only the files that enter or leave the scope; a
    modified file that leaves it stays on disk (git refuses to drop it), so no work is lost.
    """
    show_only(repo.git.at(repo.slot_path(name)), plan, repo.config.scope.sparse_index)
    install_guard(repo, name, plan, base)


# --- the filter commands --------------------------------------------------------------------


@dataclass(frozen=True)
class ViewPath:
    pattern: str
    reason: str  # which manifest, import or setting brought it into the view
    writable: bool  # a lock file the agent may commit; otherwise read-only


@dataclass(frozen=True)
class FilterReport:
    slot: str
    patterns: list[str] | None  # the task's patterns; None when the slot has no scope
    always_include: list[str]
    view: list[ViewPath]  # what the slot shows beyond its write scope, and why
    view_problems: list[str]  # what build-context detection could not read
    mode: str  # "full", "cone" or "non-cone"
    sparse_index: bool
    visible_files: int
    tracked_files: int
    note: str | None = None
    warnings: list[str] = field(default_factory=list)


def show_filter(repo: Repository, store: Store, name: str) -> FilterReport:
    with store.snapshot() as conn:
        slot = lookup_slot(conn, name)
    git = repo.git.at(repo.slot_path(name))
    return _report(repo, name, plan_view(repo, git, slot.scope))


def set_filter(
    repo: Repository, store: Store, name: str, patterns: list[str], *, add: bool = False
) -> FilterReport:
    if not patterns:
        raise bad_input(
            "give at least one pattern", f"to show every file: wtpool filter clear {name}"
        )
    validate_patterns(patterns)
    check_compiles(tuple(patterns))
    return _change(
        repo, store, name, lambda old: (*(old or ()), *patterns) if add else tuple(patterns)
    )


def clear_filter(repo: Repository, store: Store, name: str) -> FilterReport:
    return _change(repo, store, name, lambda old: None)


ScopeUpdate = Callable[[tuple[str, ...] | None], tuple[str, ...] | None]


def _change(repo: Repository, store: Store, name: str, update: ScopeUpdate) -> FilterReport:
    with store.snapshot() as conn:
        base = require_pool(conn, repo).base
        check_keeps_work(repo, name, _new_scope(_usable_slot(conn, name), update), base)
    with store.transaction() as conn:
        pool = require_pool(conn, repo)
        scope = _new_scope(_usable_slot(conn, name), update)
        update_slot(conn, name, scope=encode_scope(scope))
    plan = reapply(repo, store, name, pool.base)
    return _report(repo, name, plan, warnings=unmatched_warnings(plan))


def _new_scope(slot: Slot, update: ScopeUpdate) -> tuple[str, ...] | None:
    scope = update(slot.scope)
    return tuple(dict.fromkeys(scope)) if scope is not None else None


def check_keeps_work(repo: Repository, name: str, scope: tuple[str, ...] | None, base: str) -> None:
    """Refuse a scope that would make git delete untracked work.

    In cone mode, `git sparse-checkout` removes a directory that leaves the cone when every
    untracked file in it is ignored, by the slot's own rules. Those rules may be the agent's
    (a `scratch/.gitignore` of `*`); wtpool judges work by the base's rules (ignores.py), so
    such files are work, and a change that would delete them is refused.
    """
    git = repo.git.at(repo.slot_path(name))
    plan = plan_view(repo, git, scope)
    if plan.mode != "cone":
        return
    seen_by_git = set(git.out("ls-files", "--others", "--exclude-standard", "-z").split("\0"))
    work = untracked_work(git, resolve(git, f"refs/heads/{base}"))
    hidden = [path for path in work if path not in seen_by_git]
    leaving = [path for path in hidden if not _in_cone(path, plan.cone_dirs)]
    if leaving:
        more = f" and {len(leaving) - 3} more" if len(leaving) > 3 else ""
        shown = ", ".join(leaving[:3]) + more
        raise WtpoolError(
            f"{name} has untracked work outside that scope which its own ignore rules hide, "
            f"and git would delete it: {shown}",
            "commit it, or move it into the scope, then change the filter",
        )


def _in_cone(path: str, cone_dirs: tuple[str, ...]) -> bool:
    """Whether cone mode shows `path`: files at the top, everything below a cone directory,
    and the files directly inside each directory that leads to one."""
    parent = path.rpartition("/")[0]
    return not parent or any(
        path.startswith(f"{cone}/") or f"{cone}/".startswith(f"{parent}/") for cone in cone_dirs
    )


def reapply(repo: Repository, store: Store, name: str, base: str) -> ScopePlan:
    """Apply the scope the state holds for the slot, whatever another process wrote last."""
    with slot_filter_lock(repo, name):
        with store.snapshot() as conn:
            slot = lookup_slot(conn, name)
        git = repo.git.at(repo.slot_path(name))
        plan = plan_view(repo, git, slot.scope)
        apply_scope(repo, name, plan, base)
    return plan


def _usable_slot(conn: Connection, name: str) -> Slot:
    slot = lookup_slot(conn, name)
    if slot.state in TRANSIENT_STATES and owner_alive(slot):
        raise in_use_error(slot)
    return slot


def unmatched_warnings(plan: ScopePlan) -> list[str]:
    return [
        f"pattern {pattern!r} matches no tracked file yet; new files there are allowed"
        for pattern in plan.unmatched
    ]


def _report(
    repo: Repository, name: str, plan: ScopePlan, warnings: list[str] | None = None
) -> FilterReport:
    git = repo.git.at(repo.slot_path(name))
    listing = git.out("ls-files", "-t", "-z").split("\0")
    entries = [entry for entry in listing if entry]
    hidden = sum(1 for entry in entries if entry.startswith("S "))
    return FilterReport(
        slot=name,
        patterns=list(plan.patterns) if plan.patterns is not None else None,
        always_include=list(plan.always_include),
        view=[
            ViewPath(c.pattern, c.reason, c.pattern in plan.writable)
            for c in plan.context
            if c.pattern not in plan.combined
        ],
        view_problems=list(plan.context_problems),
        mode=plan.mode,
        sparse_index=plan.mode == "cone" and repo.config.scope.sparse_index,
        visible_files=len(entries) - hidden,
        tracked_files=len(entries),
        note=NON_CONE_NOTE if plan.mode == "non-cone" else None,
        warnings=warnings or [],
    )


# --- verify ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyReport:
    slot: str
    problems: list[str]
    fixed: bool
    build: BuildResult | None = None  # with --build: whether the slot builds

    @property
    def healthy(self) -> bool:
        return (not self.problems or self.fixed) and (self.build is None or self.build.ok)


def verify_filter(
    repo: Repository, store: Store, name: str, *, fix: bool, build: bool = False
) -> VerifyReport:
    with store.snapshot() as conn:
        pool = read_pool(conn)
        slot = lookup_slot(conn, name)
    assert pool is not None
    problems = filter_problems(repo, slot, pool)
    if problems and fix:
        with store.transaction() as conn:
            _usable_slot(conn, name)
        check_keeps_work(repo, name, slot.scope, pool.base)
        reapply(repo, store, name, pool.base)
        git = repo.git.at(repo.slot_path(name))
        if slot.scope is not None:
            git.run("sparse-checkout", "reapply")  # restores skip-worktree bits cleared by hand
        remaining = filter_problems(repo, slot, pool)
        if remaining:
            raise WtpoolError(f"{name}: the filter is still broken after repair: {remaining[0]}")
    if build and not repo.config.scope.build_command:
        raise bad_input(
            "scope.build_command is not set", "set it in wtpool.yaml, e.g. [cargo, check]"
        )
    built = build_slot(repo, name) if build else None
    return VerifyReport(name, problems, fixed=bool(problems) and fix, build=built)


def filter_problems(repo: Repository, slot: Slot, pool: PoolRecord) -> list[str]:
    """What differs between the slot's filter in git and the scope the state records."""
    name = slot.name
    git = repo.git.at(repo.slot_path(name))
    plan = plan_view(repo, git, slot.scope)
    problems = []
    hooks = git.run("config", "--get", "core.hooksPath", check=False).stdout.strip()
    if hooks != str(guard_dir(repo, name)):
        problems.append(f"core.hooksPath is {hooks or 'unset'}, not the slot's guard")
    for file_name, content in guard_files(repo, name, plan, pool.base).items():
        path = guard_dir(repo, name) / file_name
        if not path.is_file() or path.read_text(encoding="utf-8", errors="replace") != content:
            problems.append(f"guard file {file_name} is missing or was changed")
        elif file_name in HOOK_NAMES and not os.access(path, os.X_OK):
            problems.append(f"guard hook {file_name} is not executable")
    sparse = sparse_enabled(git)
    if plan.mode == "full":
        if sparse:
            problems.append("sparse checkout is on, but the slot has no scope")
        return problems
    if not sparse:
        return [*problems, "sparse checkout is off: the slot has lost its sparse settings"]
    # quotePath off: git would otherwise quote a directory named in UTF-8 (src/café/).
    listed = git.run(
        "-c", "core.quotePath=false", "sparse-checkout", "list", check=False
    ).stdout.splitlines()
    if listed != plan.sparse_lines():
        problems.append("the sparse-checkout patterns differ from the slot's scope")
    report = _report(repo, name, plan)
    if report.visible_files == report.tracked_files and report.tracked_files:
        rules = guard.compiled(compile_rules(plan.view))
        if not all(guard.allows(rules, path) for path in plan.tracked):
            problems.append("the slot shows every file, not just its scope")
    return problems

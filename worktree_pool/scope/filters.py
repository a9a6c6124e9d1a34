"""Per-slot scopes: a sparse checkout that shows the task's files, and a guard that enforces them.

A slot's scope is its task's patterns plus `scope.always_include`. It is applied two ways:

- visibility: `git sparse-checkout set` in the slot. Cone mode when every pattern is a directory
  or a root-level file (cone mode always shows root files), non-cone otherwise, which costs
  O(files x patterns) on large trees. All of it lives in the slot's own `config.worktree` and
  `info/sparse-checkout`; the main worktree and the other slots never see it.
- enforcement: the slot's own hooks directory, `.agent-worktrees/.guards/<slot>/`, set with
  `git config --worktree core.hooksPath`. Its pre-commit and pre-merge-commit hooks run the guard
  (guard.py); every hook, those two included, then runs the repository's own hook of that name,
  so users' hooks keep working in slots.

The state store holds each slot's patterns; the guard reads a compiled copy, `scope.json`, next
to its hooks. `filter verify` compares git's settings and those files with what the state says.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from worktree_pool.errors import WtpoolError, bad_input
from worktree_pool.git.ignores import untracked_work
from worktree_pool.git.repo import Repository
from worktree_pool.git.run import Git, resolve
from worktree_pool.scope import guard
from worktree_pool.scope.patterns import (
    anchored,
    check_compiles,
    compile_rules,
    is_directory,
    is_literal,
    is_root_file,
)
from worktree_pool.store.pool import PoolRecord, read_pool, require_pool
from worktree_pool.store.protocol import Connection
from worktree_pool.store.slots import (
    TRANSIENT_STATES,
    Slot,
    in_use_error,
    lookup_slot,
    owner_alive,
    update_slot,
)
from worktree_pool.store.sqlite import StateStore
from worktree_pool.store.values import encode_scope
from worktree_pool.util.pattern_syntax import validate_patterns

# pre-applypatch is where `git am` checks a commit; am does not run pre-commit.
GUARDED_HOOKS = ("pre-commit", "pre-merge-commit", "pre-applypatch")
# Client-side hooks git runs in a worktree (githooks(5)). Each gets a wrapper, because a slot's
# own core.hooksPath would otherwise hide the repository's hooks.
HOOK_NAMES = (
    "applypatch-msg",
    "pre-applypatch",
    "post-applypatch",
    "pre-commit",
    "pre-merge-commit",
    "prepare-commit-msg",
    "commit-msg",
    "post-commit",
    "pre-rebase",
    "post-checkout",
    "post-merge",
    "pre-push",
    "reference-transaction",
    "pre-auto-gc",
    "post-rewrite",
    "sendemail-validate",
    "post-index-change",
    "p4-changelist",
    "p4-prepare-changelist",
    "p4-post-changelist",
    "p4-pre-submit",
)
NON_CONE_NOTE = "non-cone mode: file patterns are slower than directories on large trees"


@dataclass(frozen=True)
class ScopePlan:
    """How a scope is applied: None patterns means no scope, the whole tree."""

    patterns: tuple[str, ...] | None
    always_include: tuple[str, ...]
    mode: str  # "full", "cone" or "non-cone"
    cone_dirs: tuple[str, ...] = ()
    unmatched: tuple[str, ...] = ()  # the task's patterns that match no tracked file
    # The files of the slot's commit, as listed to make this plan (empty for "full").
    tracked: frozenset[str] = field(default=frozenset(), compare=False, repr=False)

    @property
    def combined(self) -> tuple[str, ...]:
        if self.patterns is None:
            return ()
        return tuple(dict.fromkeys((*self.patterns, *self.always_include)))

    def sparse_lines(self) -> list[str]:
        if self.mode == "cone":
            return list(self.cone_dirs)
        return [anchored(pattern) for pattern in self.combined]


def plan_scope(git: Git, patterns: tuple[str, ...] | None, always: tuple[str, ...]) -> ScopePlan:
    if patterns is None:
        return ScopePlan(None, always, "full")
    tracked = tracked_files(git)
    tracked_directories = _directories_of(tracked)
    combined = tuple(dict.fromkeys((*patterns, *always)))
    directories = {
        pattern.removesuffix("/**").removesuffix("/")
        for pattern in combined
        if is_directory(pattern, tracked_directories)
    }
    # Git keeps only the outermost of nested cone directories; so do we, to compare equal.
    outermost = sorted(
        d for d in directories if not any(d.startswith(other + "/") for other in directories)
    )
    cone = all(is_directory(p, tracked_directories) or is_root_file(p) for p in combined)
    return ScopePlan(
        patterns=patterns,
        always_include=always,
        mode="cone" if cone else "non-cone",
        cone_dirs=tuple(outermost) if cone else (),
        tracked=tracked,
        unmatched=tuple(
            p
            for p in patterns
            if not p.startswith("!") and not _matches(p, tracked, tracked_directories)
        ),
    )


def tracked_files(git: Git) -> frozenset[str]:
    """The files of the slot's commit; unlike the index, unaffected by a sparse index."""
    return frozenset(git.out("ls-tree", "-r", "--name-only", "-z", "HEAD").split("\0")) - {""}


def _directories_of(tracked: frozenset[str]) -> frozenset[str]:
    # Parents of each file first: far fewer distinct directories than files to walk up from.
    parents = {path.rpartition("/")[0] for path in tracked} - {""}
    return frozenset(
        directory.rsplit("/", depth)[0]
        for directory in parents
        for depth in range(directory.count("/") + 1)
    )


def _matches(pattern: str, tracked: frozenset[str], directories: frozenset[str]) -> bool:
    literal = pattern.removesuffix("/**").removesuffix("/")
    if is_literal(literal):
        return literal in tracked or literal in directories  # a set lookup, not a scan
    rules = guard.compiled(compile_rules((pattern,)))
    return any(guard.allows(rules, path) for path in tracked)


# --- applying -------------------------------------------------------------------------------


def guard_dir(repo: Repository, name: str) -> Path:
    return repo.pool_dir / ".guards" / name


def _make_private_dir(directory: Path) -> None:
    """The slot's guard directory and `.guards` above it, both 0700 (mkdir's mode reaches only
    the last one)."""
    directory.parent.mkdir(exist_ok=True, mode=0o700)
    directory.mkdir(exist_ok=True, mode=0o700)


def remove_guard(repo: Repository, name: str) -> None:
    """Delete a removed slot's generated hooks; they hold nothing but what wtpool wrote."""
    shutil.rmtree(guard_dir(repo, name), ignore_errors=True)


@contextmanager
def slot_filter_lock(repo: Repository, name: str) -> Iterator[None]:
    """One filter change per slot at a time, so git's patterns end equal to the state's."""
    directory = guard_dir(repo, name)
    try:
        _make_private_dir(directory)
        fd = os.open(directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise WtpoolError(
            f"cannot use {directory} for {name}'s guard: {exc.strerror}",
            f"wtpool keeps each slot's hooks under {directory.parent}; check that path",
        ) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def apply_scope(repo: Repository, name: str, plan: ScopePlan, base: str) -> None:
    """Make git show the planned files in the slot and install its guard. Idempotent.

    Re-applying to a populated slot changes only the files that enter or leave the scope; a
    modified file that leaves it stays on disk (git refuses to drop it), so no work is lost.
    """
    show_only(repo.git.at(repo.slot_path(name)), plan, repo.config.scope.sparse_index)
    install_guard(repo, name, plan, base)


def show_only(git: Git, plan: ScopePlan, sparse_index: bool) -> None:
    """Set the sparse checkout of the worktree `git` runs in to the planned files."""
    if plan.mode == "full":
        if sparse_enabled(git):
            git.run("sparse-checkout", "disable")
    else:
        mode = ["--cone"] if plan.mode == "cone" else ["--no-cone"]
        index = ["--sparse-index"] if plan.mode == "cone" and sparse_index else []
        lines = "".join(f"{line}\n" for line in plan.sparse_lines())
        # --stdin rather than arguments: a pattern may begin with '!' or '-'.
        git.run(
            "sparse-checkout",
            "set",
            *mode,
            *(index or ["--no-sparse-index"]),
            "--stdin",
            input=lines,
        )


def sparse_enabled(git: Git) -> bool:
    return (
        git.run("config", "--get", "--bool", "core.sparseCheckout", check=False).stdout.strip()
        == "true"
    )


def install_guard(repo: Repository, name: str, plan: ScopePlan, base: str) -> None:
    directory = guard_dir(repo, name)
    _make_private_dir(directory)
    for file_name, content in _guard_files(repo, name, plan, base).items():
        path = directory / file_name
        path.write_text(content, encoding="utf-8")
        path.chmod(0o700 if file_name in HOOK_NAMES else 0o600)
    git = repo.git.at(repo.slot_path(name))
    git.run("config", "--worktree", "core.hooksPath", str(directory))
    # The slot's own config is wtpool's: a core.worktree an earlier agent set there would send
    # the next agent's git (wtpool's own calls are pinned, see gitops) outside the pool.
    git.run("config", "--worktree", "--unset-all", "core.worktree", check=False)


def _guard_files(repo: Repository, name: str, plan: ScopePlan, base: str) -> dict[str, str]:
    scope = {
        "slot": name,
        "base": base,
        "patterns": list(plan.patterns) if plan.patterns is not None else None,
        "always_include": list(plan.always_include),
        "rules": compile_rules(plan.combined) if plan.patterns is not None else [],
        "state": str(repo.state_path),  # for the reservations of other agents
    }
    files = {"scope.json": json.dumps(scope, indent=2) + "\n"}
    scope_file = guard_dir(repo, name) / "scope.json"
    python, quoted_scope = guard.shell_quote(sys.executable), guard.shell_quote(str(scope_file))
    for hook in HOOK_NAMES:
        check = (
            f"{python} -I -m worktree_pool.guard {quoted_scope} {hook} || exit $?\n"
            if hook in GUARDED_HOOKS
            else ""
        )
        files[hook] = _HOOK_TEMPLATE.format(slot=name, hook=hook, check=check)
    return files


# The repository's own hooks directory: core.hooksPath from any scope but this slot's own
# (worktree) one, else the common git directory's hooks/. A relative path is relative to where
# git runs hooks, the top of the worktree, which is where this script runs; when the slot's
# sparse checkout hides that directory, the main worktree's copy is used. Plain POSIX sh, so
# that it runs the same on BSD and macOS.
_HOOK_TEMPLATE = """#!/bin/sh
# wtpool's {hook} hook for {slot}. Generated: `wtpool filter verify --fix {slot}` rewrites it.
{check}tab=$(printf '\\t')
hooks=
while IFS="$tab" read -r scope value; do
  [ "$scope" = worktree ] || [ -z "$scope" ] || hooks=$value
done <<EOF
$(git config --show-scope --get-all core.hooksPath 2>/dev/null)
EOF
common=$(git rev-parse --path-format=absolute --git-common-dir)
case "$hooks" in
  "") hooks="$common/hooks" ;;
  "~/"*) hooks="$HOME/${{hooks#"~/"}}" ;;
  /*) ;;
  *) [ -d "$hooks" ] || hooks="$(dirname "$common")/$hooks" ;;
esac
here=$(cd "$(dirname "$0")" && pwd -P)
if [ -x "$hooks/{hook}" ] && [ "$(cd "$hooks" 2>/dev/null && pwd -P)" != "$here" ]; then
  exec "$hooks/{hook}" "$@"
fi
exit 0
"""


# --- the filter commands --------------------------------------------------------------------


@dataclass(frozen=True)
class FilterReport:
    slot: str
    patterns: list[str] | None  # the task's patterns; None when the slot has no scope
    always_include: list[str]
    mode: str  # "full", "cone" or "non-cone"
    sparse_index: bool
    visible_files: int
    tracked_files: int
    note: str | None = None
    warnings: list[str] = field(default_factory=list)


def show_filter(repo: Repository, store: StateStore, name: str) -> FilterReport:
    with store.snapshot() as conn:
        slot = lookup_slot(conn, name)
    git = repo.git.at(repo.slot_path(name))
    return _report(repo, name, plan_scope(git, slot.scope, repo.config.scope.always_include))


def set_filter(
    repo: Repository, store: StateStore, name: str, patterns: list[str], *, add: bool = False
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


def clear_filter(repo: Repository, store: StateStore, name: str) -> FilterReport:
    return _change(repo, store, name, lambda old: None)


ScopeUpdate = Callable[[tuple[str, ...] | None], tuple[str, ...] | None]


def _change(repo: Repository, store: StateStore, name: str, update: ScopeUpdate) -> FilterReport:
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
    plan = plan_scope(git, scope, repo.config.scope.always_include)
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


def reapply(repo: Repository, store: StateStore, name: str, base: str) -> ScopePlan:
    """Apply the scope the state holds for the slot, whatever another process wrote last."""
    with slot_filter_lock(repo, name):
        with store.snapshot() as conn:
            slot = lookup_slot(conn, name)
        git = repo.git.at(repo.slot_path(name))
        plan = plan_scope(git, slot.scope, repo.config.scope.always_include)
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

    @property
    def healthy(self) -> bool:
        return not self.problems or self.fixed


def verify_filter(repo: Repository, store: StateStore, name: str, *, fix: bool) -> VerifyReport:
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
    return VerifyReport(name, problems, fixed=bool(problems) and fix)


def filter_problems(repo: Repository, slot: Slot, pool: PoolRecord) -> list[str]:
    """What differs between the slot's filter in git and the scope the state records."""
    name = slot.name
    git = repo.git.at(repo.slot_path(name))
    plan = plan_scope(git, slot.scope, repo.config.scope.always_include)
    problems = []
    hooks = git.run("config", "--get", "core.hooksPath", check=False).stdout.strip()
    if hooks != str(guard_dir(repo, name)):
        problems.append(f"core.hooksPath is {hooks or 'unset'}, not the slot's guard")
    for file_name, content in _guard_files(repo, name, plan, pool.base).items():
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
        rules = guard.compiled(compile_rules(plan.combined))
        if not all(guard.allows(rules, path) for path in plan.tracked):
            problems.append("the slot shows every file, not just its scope")
    return problems

"""A slot's guard: its own hooks directory, which enforces the scope on every commit.

The directory is `.agent-worktrees/.guards/<slot>/`, set with `git config --worktree
core.hooksPath`. Its pre-commit and pre-merge-commit hooks run the guard (guard.py); every hook,
those two included, then runs the repository's own hook of that name, so users' hooks keep
working in slots. The guard reads a compiled copy of the slot's scope, `scope.json`, next to its
hooks.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from worktree_pool.errors import WtpoolError
from worktree_pool.git.repo import Repository, git_dir_of
from worktree_pool.scope.patterns import compile_rules
from worktree_pool.scope.sparse import ScopePlan
from worktree_pool.store import guard_facts
from worktree_pool.util import ere
from worktree_pool.util.shell import shell_quote

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


def install_guard(repo: Repository, name: str, plan: ScopePlan, base: str) -> None:
    directory = guard_dir(repo, name)
    _make_private_dir(directory)
    for file_name, content in guard_files(repo, name, plan, base).items():
        path = directory / file_name
        path.write_text(content, encoding="utf-8")
        path.chmod(0o700 if file_name in HOOK_NAMES else 0o600)
    git = repo.git.at(repo.slot_path(name))
    git.run("config", "--worktree", "core.hooksPath", str(directory))
    # The slot's own config is wtpool's: a core.worktree an earlier agent set there would send
    # the next agent's git (wtpool's own calls are pinned, see gitops) outside the pool.
    git.run("config", "--worktree", "--unset-all", "core.worktree", check=False)


def guard_files(repo: Repository, name: str, plan: ScopePlan, base: str) -> dict[str, str]:
    """The slot's hooks, and the compiled scope its guard reads."""
    scope = {
        "slot": name,
        "base": base,
        "patterns": list(plan.patterns) if plan.patterns is not None else None,
        "always_include": list(plan.always_include),
        "rules": compile_rules(plan.writable) if plan.patterns is not None else [],
        # The view's read-only part: only so that a refusal can say why the file is visible.
        "context_rules": compile_rules(plan.read_only) if plan.read_only else [],
        "state": str(repo.state_path),  # for the reservations of other agents
    }
    files = {"scope.json": json.dumps(scope, indent=2) + "\n"}
    scope_file = guard_dir(repo, name) / "scope.json"
    python, quoted_scope = shell_quote(sys.executable), shell_quote(str(scope_file))
    # The shell's part of the guard needs the scope as an exact expression: a whole-tree slot
    # needs none; a scope with globs or negations has none, and always goes to Python.
    inside = None if plan.patterns is None else ere.exact(plan.writable)
    fast = plan.patterns is None or inside is not None
    # Where a merge being concluded leaves MERGE_HEAD: the slot's own git directory.
    git_dir = git_dir_of(repo.slot_path(name)) or repo.common_dir / "worktrees" / name
    for hook in HOOK_NAMES:
        check = ""
        if hook in GUARDED_HOOKS:
            check = f"{python} -I -m worktree_pool.guard {quoted_scope} {hook} || exit $?\n"
        if hook == "pre-commit" and fast:
            check = _FAST_GUARD.format(
                merge_head=shell_quote(str(git_dir / "MERGE_HEAD")),
                facts=shell_quote(str(guard_facts.facts_path(repo.state_path))),
                inside="" if inside is None else _INSIDE.format(inside=shell_quote(inside)),
                slot=shell_quote(name),
                check=check,
            )
        files[hook] = _HOOK_TEMPLATE.format(
            slot=name,
            hook=hook,
            check=check,
            common=shell_quote(str(repo.common_dir)),
            # The hooks' own directory, as `pwd -P` gives it: a hook never runs itself again.
            here=shell_quote(str(guard_dir(repo, name).resolve())),
        )
    return files


# The commit guard's fast path, in the shell: a commit that stages only plain paths (git quotes
# none of them), all inside the scope and none covered by another agent's exclusive reservation
# (the store's facts, guard_facts.py), is allowed without starting Python. Anything else, a merge
# being concluded, a path git quotes, facts withdrawn while the store changes, a path another
# agent may hold, goes to the Python guard (scope/guard.py), which decides and explains.
_FAST_GUARD = r"""nl='
'
allowed_here() {{
  [ -e {merge_head} ] && return 1
  [ -r {facts} ] || return 1
  staged=$(git -c core.quotePath=true diff --cached --name-only --no-renames \
    --ignore-submodules=none) || return 1
  [ -n "$staged" ] || return 0
  case "$staged" in '"'*|*"$nl\""*) return 1 ;; esac
{inside}  me= held=
  while IFS="$tab" read -r kind name value; do
    case $kind in
      slot) [ "$name" = {slot} ] && me=$value ;;
      hold) [ "$name" = "$me" ] || held="$held${{held:+|}}$value" ;;
    esac
  done < {facts}
  [ -z "$held" ] || ! printf '%s\n' "$staged" | grep -qE "$held"
}}
allowed_here || {check}"""
_INSIDE = r"""  printf '%s\n' "$staged" | grep -qvE {inside} && return 1
"""


# The repository's own hooks directory: core.hooksPath from any scope but this slot's own
# (worktree) one, else the common git directory's hooks/. A relative path is relative to where
# git runs hooks, the top of the worktree, which is where this script runs; when the slot's
# sparse checkout hides that directory, the main worktree's copy is used. Plain POSIX sh, so
# that it runs the same on BSD and macOS.
_HOOK_TEMPLATE = """#!/bin/sh
# wtpool's {hook} hook for {slot}. Generated: `wtpool filter verify --fix {slot}` rewrites it.
tab='\t'  # a tab: no subshell to make one
{check}hooks=
while IFS="$tab" read -r scope value; do
  [ "$scope" = worktree ] || [ -z "$scope" ] || hooks=$value
done <<EOF
$(git config --show-scope --get-all core.hooksPath 2>/dev/null)
EOF
common={common}
case "$hooks" in
  "") hooks="$common/hooks" ;;
  "~/"*) hooks="$HOME/${{hooks#"~/"}}" ;;
  /*) ;;
  *) [ -d "$hooks" ] || hooks="$(dirname "$common")/$hooks" ;;
esac
if [ -x "$hooks/{hook}" ] && [ "$(cd "$hooks" 2>/dev/null && pwd -P)" != {here} ]; then
  exec "$hooks/{hook}" "$@"
fi
exit 0
"""

"""The commit guard: a slot's pre-commit and pre-merge-commit hooks run this.

    python -I -m worktree_pool.guard SCOPE_FILE [HOOK]

Sparse checkout only hides files: `git add --sparse`, `git rm --sparse` and `commit -a` all reach
past it. This check looks at what is actually about to be committed, every path the commit
adds, modifies or deletes (a rename counts as both of its sides), and refuses the commit if
any lies outside the slot's scope.

It must be fast and must work wherever the agent's shell is: it imports only the standard
library (the scope arrives precompiled, see patterns.py), and the hook calls it through the
absolute path of the Python that installed it. It deliberately keeps git's environment:
`git commit -a` and `git commit PATH` commit from a temporary index named in GIT_INDEX_FILE, and
that index, not the slot's usual one, is what must be checked.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

from worktree_pool.scope.patterns import escape
from worktree_pool.store.reservations import exclusive_rules
from worktree_pool.store.slots import agent_in
from worktree_pool.store.sqlite import ReadError, read_only
from worktree_pool.util.shell import shell_quote

REFUSED = 1


def allows(rules: list[tuple[re.Pattern[str], bool]], path: str) -> bool:
    """gitignore evaluation: the last rule that matches decides; no match means outside."""
    allowed = False
    for regex, include in rules:
        if regex.match(path):
            allowed = include
    return allowed


def compiled(
    rules: list[tuple[str, bool]] | list[list[object]],
) -> list[tuple[re.Pattern[str], bool]]:
    return [(re.compile(str(regex)), bool(include)) for regex, include in rules]


def covered(rules: str, paths: set[str]) -> list[str]:
    """The paths a reservation's stored rules (JSON, see patterns.compile_rules) take."""
    matches = compiled(json.loads(rules))  # once per reservation, not once per path
    return sorted(path for path in paths if allows(matches, path))


def _git(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", *args], capture_output=True, check=False)


def _paths(output: bytes) -> set[str]:
    return {p.decode("utf-8", "surrogateescape") for p in output.split(b"\0") if p}


def _changed(*against: str) -> set[str] | None:
    """Paths whose staged content differs from `against` (default HEAD); None if git cannot
    tell (no such commit). Submodules always count: a user's diff.ignoreSubmodules must not
    hide a gitlink change from the guard."""
    result = _git(
        "diff",
        "--cached",
        "--name-only",
        "--no-renames",
        "--ignore-submodules=none",
        "-z",
        *against,
    )
    return _paths(result.stdout) if result.returncode == 0 else None


def questionable_paths(base: str, merging: bool) -> set[str]:
    """The paths this commit must justify against the scope.

    Normally: every path it changes. While merging the base in, a path whose staged content
    equals the base's is landed work coming in, not this agent's change; but a path the base
    changed must come in as the base has it, or the merge would quietly undo landed work
    (`git merge -s ours`, or checking out the old version during the merge).
    """
    staged = _changed()
    if staged is None:  # no HEAD yet: everything in the index is new
        staged = _paths(_git("ls-files", "-z").stdout)
    if not merging:
        return staged
    differs_from_base = _changed(f"refs/heads/{base}")
    if differs_from_base is None:  # the base is gone: no allowance
        return staged
    fork = _git("merge-base", "HEAD", f"refs/heads/{base}").stdout.decode().strip()
    base_changed = (
        _paths(_git("diff", "--name-only", "--no-renames", "-z", fork, f"refs/heads/{base}").stdout)
        if fork
        else set()
    )
    return (staged | base_changed) & differs_from_base


def check(scope_file: Path, hook: str = "pre-commit") -> int:
    try:
        scope = json.loads(scope_file.read_text(encoding="utf-8"))
        slot, base, patterns = scope["slot"], scope["base"], scope["patterns"]
        rules = compiled(scope["rules"])
    except (OSError, ValueError, KeyError, TypeError, re.error) as exc:
        print(
            f"wtpool guard: cannot read this slot's scope from {scope_file}: {exc}", file=sys.stderr
        )
        print("wtpool guard: run `wtpool filter verify --fix` to restore it", file=sys.stderr)
        return REFUSED
    merging = (
        hook == "pre-merge-commit"
        or _git("rev-parse", "-q", "--verify", "MERGE_HEAD").returncode == 0
    )
    questionable = questionable_paths(base, merging)
    refused = _held_by_others(scope.get("state"), slot, questionable)
    if refused:
        print("\n".join(refused), file=sys.stderr)
        return REFUSED
    if patterns is None:  # the slot has no scope: every path is allowed
        return 0
    outside = sorted(path for path in questionable if not allows(rules, path))
    if not outside:
        return 0
    count = f"{len(outside)} staged path{'s are' if len(outside) > 1 else ' is'}"
    lines = [f"wtpool: commit refused in {slot}: {count} outside this slot's scope:"]
    context = compiled(scope.get("context_rules") or [])
    for path in outside[:50]:
        # A file the slot shows but does not own: it is there to build with.
        visible = context and allows(context, path)
        lines.append(f"  {path}" + ("  (visible for building only)" if visible else ""))
    if len(outside) > 50:
        lines.append(f"  ... and {len(outside) - 50} more")
    lines.append(f"scope: {', '.join(patterns) or '(empty)'}")
    quoted = " ".join(shell_quote(escape(path)) for path in outside[:5])
    lines.append("(filter add first checks that no other slot or reservation has those files)")
    lines.append(f"to widen the scope: wtpool filter add {slot} {quoted}")
    print("\n".join(lines), file=sys.stderr)
    return REFUSED


def _held_by_others(state: str | None, slot: str, paths: set[str]) -> list[str]:
    """The refusal, line by line, for paths that another agent holds exclusively; [] if none.

    The state store is opened read-only: a guard never writes, and never waits for a writer
    (WAL readers do not block). No store, or one from before reservations, holds nothing.
    """
    if not state or not paths:
        return []
    try:
        with read_only(Path(state), timeout=5) as conn:
            held_by = exclusive_rules(conn, time.time(), other_than=agent_in(conn, slot))
    except ReadError as exc:  # no store (a pool cleaned up), or one from before reservations
        print(f"wtpool guard: reservations not checked: {exc}", file=sys.stderr)
        return []
    lines = []
    for reservation in held_by:
        held = covered(reservation.rules, paths)
        if held:
            lines.append(
                f"wtpool: commit refused in {slot}: {reservation.agent} holds "
                f"{', '.join(reservation.patterns)} (reservation #{reservation.id}), which covers:"
            )
            lines += [f"  {path}" for path in held[:20]]
    if lines:
        lines.append("ask the holder to release it (wtpool unreserve), or wait for it to expire")
    return lines

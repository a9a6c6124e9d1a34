"""Every call wtpool makes to git goes through here.

Git runs as a subprocess rather than through GitPython: a CLI that agents call hundreds of times
per session cannot afford GitPython's ~100 ms import, and a subprocess gives us a hard timeout,
a scrubbed environment and git's own error text. Git never prompts (a prompt would hang an agent
forever), runs in the C locale so its output can be parsed, and any failure becomes a
`WtpoolError` that names the command.

Output is decoded with `surrogateescape`: file names are bytes to git, and a name that is not
valid UTF-8 must not crash a cleanup halfway through.

wtpool's own git calls run none of the repository's hooks. A hook is the repository's code for
people's commits and checkouts: run by wtpool's internal checkouts, resets and ref updates, a
failing `post-checkout` or `reference-transaction` hook would make `init` and every `release`
fail halfway, and a hooks path into the tracked tree (`.husky`) would let the repository's
content run in wtpool's name. Agents' own git commands in a slot still run them, behind the
guard (filters.py). The one exception is `push`, which wtpool makes on the user's behalf, as
they would: their `pre-push` hook (git-lfs uploads its objects there) keeps its say.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from worktree_pool.errors import WtpoolError
from worktree_pool.git.index_file import records_tree

_BASE_ENV = {
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_ASKPASS": "true",
    "LC_ALL": "C",
    # Read-only commands such as `git status` otherwise take index.lock to refresh the index,
    # which makes concurrent wtpool processes fail on each other's locks.
    "GIT_OPTIONAL_LOCKS": "0",
}
# Variables that tell git which repository, index or work tree to use. Git sets them for hooks,
# and a user may export them; inherited, they would point every call at the wrong repository
# (a release run from a hook would reset the main worktree's HEAD and index).
LOCATION_VARIABLES = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_COMMON_DIR",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_NAMESPACE",
    "GIT_PREFIX",
    "GIT_QUARANTINE_PATH",
)


def environment_without_locations(*also: str) -> dict[str, str]:
    """Our environment for a process we start, without git's location variables (see above)
    and without the variables `also` names."""
    unwanted = (*LOCATION_VARIABLES, *also)
    return {key: value for key, value in os.environ.items() if key not in unwanted}


# git's message when it meets another process's half-written `git worktree add`.
# Seen: "failed to read /repo/.git/worktrees/pool-wt-9/commondir: Success" and "failed to read
# '.git/worktrees/pool-wt-6/locked': No such file or directory" (add's temporary lock file).
_HALF_MADE_WORKTREE = re.compile(r"failed to read '?[^\n']*worktrees/[^/\n']+/")
# About 1 s in all (10 ms, 20 ms, ...): a passing race clears in milliseconds, and an entry a
# crashed `worktree add` left broken must not make every command crawl.
_RETRIES = 14
# Command-line configuration outranks every config file, the slot's own core.hooksPath too. Not
# given to `git config`, which runs no hook and must report the repository's own settings.
_NO_HOOKS = ("-c", f"core.hooksPath={os.devnull}")
# wtpool writes its own commits (salvage snapshots); naming wtpool as their author is honest, and
# it means a machine without user.name configured can still save work.
WTPOOL_IDENTITY = {
    "GIT_AUTHOR_NAME": "wtpool",
    "GIT_AUTHOR_EMAIL": "wtpool@localhost",
    "GIT_COMMITTER_NAME": "wtpool",
    "GIT_COMMITTER_EMAIL": "wtpool@localhost",
}
# wtpool as the committer of a commit someone else wrote.
WTPOOL_COMMITTER = {k: v for k, v in WTPOOL_IDENTITY.items() if k.startswith("GIT_COMMITTER")}


class Git:
    """Runs git in one directory with one timeout.

    With `pin` (the default), `cwd` is the top of a worktree, and every call is pinned to it
    with --work-tree: a `core.worktree` that an agent set in its slot's config must not send
    wtpool's checkouts, resets and snapshots to a directory outside the pool. Only a call that
    has yet to find the top (from a subdirectory), or that creates a repository, goes unpinned.
    """

    def __init__(self, cwd: Path, timeout: float, *, pin: bool = True) -> None:
        self.cwd = cwd
        self.timeout = timeout
        self.pin = pin

    def at(self, cwd: Path) -> Git:
        return Git(cwd, self.timeout)

    def run(
        self,
        *args: str,
        check: bool = True,
        env: Mapping[str, str] | None = None,
        input: str | None = None,
        hooks: bool = False,
        exact: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        """Run `git ARGS`; `hooks` lets the repository's hooks run (only for `push`); `exact`
        keeps the output's line endings as git wrote them (a file's `\r\n`), which text mode
        would fold into `\n`."""
        full_env = environment_without_locations()
        full_env.update(_BASE_ENV)
        if self.pin:
            # A pinned call's directory must itself be the worktree. Without a ceiling, a slot
            # replaced by a plain directory (`rm -rf` then `mkdir -p`) would send git up to the
            # main repository, and a release would reset the main worktree.
            full_env["GIT_CEILING_DIRECTORIES"] = str(self.cwd.parent)
        full_env.update(env or {})
        for attempt in range(1, _RETRIES + 1):
            result = self._spawn(args, full_env, input, hooks, exact)
            if result.returncode == 0 or not _HALF_MADE_WORKTREE.search(result.stderr):
                break
            # Another process is halfway through `git worktree add`: its entry under
            # .git/worktrees/ exists before its files do, and any git command that looks at
            # every worktree (list, config --worktree, switch, ...) fails on it before doing
            # anything. The window is milliseconds; wait it out.
            time.sleep(0.01 * attempt)
        if check and result.returncode != 0:
            raise self.failure(args, result)
        return result

    def _spawn(
        self,
        args: tuple[str, ...],
        env: dict[str, str],
        input: str | None,
        hooks: bool,
        exact: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        no_hooks = () if hooks or args[:1] == ("config",) else _NO_HOOKS
        work_tree = (f"--work-tree={self.cwd}",) if self.pin else ()
        try:
            raw = subprocess.run(
                ["git", *work_tree, *no_hooks, *args],
                cwd=self.cwd,
                env=env,
                capture_output=True,
                timeout=self.timeout,
                input=None if input is None else input.encode("utf-8", "surrogateescape"),
                stdin=None if input is not None else subprocess.DEVNULL,
            )
            return subprocess.CompletedProcess(
                raw.args, raw.returncode, _text(raw.stdout, exact), _text(raw.stderr, exact)
            )
        except FileNotFoundError as exc:
            if not self.cwd.is_dir():
                raise WtpoolError(
                    f"directory {self.cwd} does not exist",
                    "if it is a slot, run `wtpool doctor --fix` to reconcile the pool",
                ) from exc
            raise WtpoolError("git is not installed or not on PATH") from exc
        except subprocess.TimeoutExpired as exc:
            raise WtpoolError(
                f"git {args[0]} did not finish within {self.timeout:g} s in {self.cwd}",
                "raise timeouts.git in wtpool.yaml if the repository is very large",
            ) from exc

    def failure(
        self, args: tuple[str, ...], result: subprocess.CompletedProcess[str]
    ) -> WtpoolError:
        return WtpoolError(f"git {' '.join(args[:2])} failed in {self.cwd}: {_last_line(result)}")

    def out(
        self, *args: str, env: Mapping[str, str] | None = None, input: str | None = None
    ) -> str:
        return self.run(*args, env=env, input=input).stdout.rstrip("\n")

    def ok(self, *args: str) -> bool:
        return self.run(*args, check=False).returncode == 0


def _text(output: bytes, exact: bool) -> str:
    """Bytes as text mode would read them (lone `\r` and `\r\n` become `\n`), or exactly."""
    text = output.decode("utf-8", "surrogateescape")
    return text if exact else text.replace("\r\n", "\n").replace("\r", "\n")


def _last_line(result: subprocess.CompletedProcess[str]) -> str:
    """The line of git's output that says what went wrong: its `fatal:` or `error:` line, not
    the advice that often follows it."""
    lines = [line.strip() for line in (result.stderr or result.stdout).splitlines() if line.strip()]
    for line in lines:
        if line.startswith(("fatal:", "error:")):
            return line
    return lines[-1] if lines else f"exit code {result.returncode}"


@dataclass(frozen=True)
class WorktreeRecord:
    """One entry of `git worktree list --porcelain`."""

    path: Path
    head: str | None
    branch: str | None  # short name, None when detached
    locked: str | None  # the lock reason, "" when locked without one
    prunable: str | None


def worktree_records(git: Git) -> list[WorktreeRecord]:
    records: list[WorktreeRecord] = []
    output = git.out("worktree", "list", "--porcelain", "-z")
    for block in output.split("\0\0"):
        fields: dict[str, str] = {}
        for item in block.split("\0"):
            key, _, value = item.partition(" ")
            if key:
                fields[key] = value
        if "worktree" not in fields or "bare" in fields:
            continue
        branch = fields.get("branch")
        records.append(
            WorktreeRecord(
                path=Path(fields["worktree"]),
                head=fields.get("HEAD"),
                branch=branch.removeprefix("refs/heads/") if branch else None,
                locked=fields.get("locked"),
                prunable=fields.get("prunable"),
            )
        )
    return records


def resolve(git: Git, rev: str) -> str | None:
    result = git.run(
        "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}", check=False
    )
    return result.stdout.strip() if result.returncode == 0 else None


def git_paths(git: Git, *names: str) -> dict[str, Path]:
    """Where git keeps each of `names` (`--git-path`: a per-worktree file such as logs/HEAD
    in the worktree's git dir, a shared one in the common dir), asked in one call."""
    options = [arg for name in names for arg in ("--git-path", name)]
    # exact: a carriage return in the repository's path is kept, not folded into a newline.
    output = git.run("rev-parse", "--path-format=absolute", *options, exact=True).stdout
    lines = output.removesuffix("\n").split("\n")
    return {name: Path(line) for name, line in zip(names, lines, strict=True)}


def current_branch(git: Git) -> str | None:
    """The branch HEAD points at (even an unborn one), or None when HEAD is detached."""
    head = git.run("symbolic-ref", "--quiet", "--short", "HEAD", check=False)
    return head.stdout.strip() if head.returncode == 0 else None


def branch_exists(git: Git, branch: str) -> bool:
    return git.ok("show-ref", "--verify", "--quiet", f"refs/heads/{branch}")


def is_ancestor(git: Git, ancestor: str, descendant: str) -> bool:
    return git.ok("merge-base", "--is-ancestor", ancestor, descendant)


def has_uncommitted(git: Git, index: Path | None = None, head_tree: str | None = None) -> bool:
    """Whether the worktree `git` runs in has changes or untracked files (ignored ones aside).

    Given its index file and HEAD's tree: when the sparse index records exactly that tree
    (index_file.py; an idle slot's does), the index is HEAD, and only the files are compared,
    sparing git's walk of every top-level entry to compare the index with HEAD."""
    if index is not None and head_tree and records_tree(index, head_tree):
        return _worktree_changes(git)
    return bool(git.out("status", "--porcelain", "--untracked-files=normal"))


def _worktree_changes(git: Git) -> bool:
    """Modified, deleted and untracked files, in one `ls-files` that leaves a sparse index
    sparse."""
    listed = git.run(
        *("ls-files", "--sparse", "-z", "--modified", "--deleted", "--others"),
        *("--exclude-standard", "--directory", "--no-empty-directory"),
        check=False,
    )
    return bool(listed.stdout) if listed.returncode == 0 else has_uncommitted(git)  # old git


def trees_of(git: Git, commits: set[str]) -> dict[str, str]:
    """Each commit's tree, in one call; {} if any is missing."""
    ordered = sorted(commits)
    result = git.run("rev-parse", *(f"{commit}^{{tree}}" for commit in ordered), check=False)
    trees = result.stdout.split()
    return dict(zip(ordered, trees, strict=True)) if result.returncode == 0 else {}


def count_commits_not_in(git: Git, head: str, base: str) -> int:
    return int(git.out("rev-list", "--count", head, f"^{base}"))


def merged_branches(git: Git, base: str, namespace: str) -> dict[str, str]:
    """Branches under refs/heads/<namespace> whose tips are reachable from `base`: name -> oid."""
    output = git.out(
        "for-each-ref",
        f"--merged={base}",
        "--format=%(refname:strip=2) %(objectname)",
        f"refs/heads/{namespace}",
    )
    return dict(line.split(" ", 1) for line in output.splitlines() if line)


def create_branch_at(git: Git, branch: str, commit: str, reason: str) -> bool:
    """Create refs/heads/<branch> at `commit` only if it does not exist yet; False if it did.
    Any other failure (a name that clashes with another branch's, a full disk) raises git's
    error: it is not a reason to try another name."""
    zero = "0" * len(commit)
    args = ("update-ref", "-m", reason, f"refs/heads/{branch}", commit, zero)
    result = git.run(*args, check=False)
    if result.returncode != 0 and not branch_exists(git, branch):
        raise git.failure(args, result)
    return result.returncode == 0


def delete_branch_if_at(git: Git, branch: str, oid: str) -> bool:
    """Delete a branch only if it still points at `oid`, so a concurrent commit is never lost."""
    return git.ok("update-ref", "-d", f"refs/heads/{branch}", oid)


def delete_branches_if_at(git: Git, branches: Mapping[str, str]) -> list[str]:
    """Delete each branch that still points at its oid (see delete_branch_if_at); return
    those deleted. One transaction deletes them all, unless one has moved: then one by one."""
    if not branches:
        return []
    listing = "".join(f"delete refs/heads/{branch} {oid}\n" for branch, oid in branches.items())
    if git.run("update-ref", "--stdin", input=listing, check=False).returncode == 0:
        return list(branches)
    return [branch for branch, oid in branches.items() if delete_branch_if_at(git, branch, oid)]


def tracks_path(git: Git, commit: str, path: str) -> bool:
    """Whether `commit` tracks `path`: the path itself, anything under it, or a file or link
    where one of its directories would be (writing there would follow or replace it)."""
    parts = path.split("/")
    prefixes = ["/".join(parts[:depth]) for depth in range(1, len(parts) + 1)]
    # One lookup per prefix, in one process: `ls-tree -r` of a directory on the way would list
    # all of it. A line is the object's type, or "<what was asked> missing".
    asked = "".join(f"{commit}:{prefix}\n" for prefix in prefixes)
    kinds = git.out("cat-file", "--batch-check=%(objecttype)", input=asked).splitlines()
    *directories, last = [None if kind.endswith(" missing") else kind for kind in kinds]
    return last is not None or any(kind not in (None, "tree") for kind in directories)

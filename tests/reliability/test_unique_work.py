"""The standing data-safety test: random agents, random wtpool commands, no work lost.

A hypothesis state machine drives real git in the slots of a real pool (no database), as an
agent, a careless user and the person on the base branch would. Each step is a burst of
actions, then one wtpool command. The actions write, edit, delete and chmod files, make links
(to inside and to outside the repository), change `.gitignore` files (a directory that ignores
itself included), add, commit, amend, stash, detach, reset, switch, rename and delete the
checked-out branch, hide edits with skip-worktree, stop a rebase, merge or cherry-pick on a
conflict (with and without `--autostash`), move or delete the slot (or put a plain directory
in its place), and commit links and files to the base where slots have something else. The
commands are `release`, `cleanup`, `scale down`, `scale up`, `doctor --fix` and `leaks --fix`
(and `init` and `acquire` when an agent needs a slot), each through the CLI's own command
function, in this process. After every command it checks:

- **No work is lost.** Just before each command the machine records what the slots hold: the
  content (blob id) of every file on disk that the base's ignore rules do not ignore, of every
  index entry, stash entry and autostash, and every commit in a slot's HEAD and branch reflogs
  and ORIG_HEAD. What it recorded, then or at any earlier command, must afterwards be reachable
  from a branch (`refs/heads/*`), or still be held by a slot wtpool has not taken back (one
  that is not idle), or sit in a directory the user moved out of the pool. Only agents act
  between two commands, so what vanished in between (an overwritten edit, a deleted file, a
  slot removed with `rm -rf`) the agent discarded itself, and the record drops it.
- **Nothing outside the repository changes**: a directory beside it, holding files and links
  that the slots' links point at, and the directories slots were moved to (but their `.git`
  file, which `git worktree repair` rewrites).
- **Nothing wtpool does not own changes**: the main worktree (its files, HEAD and index), and
  every branch outside `wtpool/`.
- **An idle slot holds nothing for the next agent**: it is a worktree detached at a commit of
  the base, and its files and index are exactly that commit's (but for what the base ignores).
- **Commands work**: nothing ends in an unexpected error; `release` of a slot in its place,
  `cleanup` and `acquire` succeed, and `acquire` gives a worktree.

Mode bits are not compared (a content is a blob id); files the base ignores are not work.

The default run (8 examples of 30 steps) takes about half a minute. Run longer with
WTPOOL_STATEFUL_EXAMPLES and WTPOOL_STATEFUL_STEPS, e.g.

    WTPOOL_STATEFUL_EXAMPLES=300 WTPOOL_STATEFUL_STEPS=60 \\
        .venv/bin/python -m pytest -q tests/reliability/test_unique_work.py

A failure is shrunk to a short sequence of steps, printed as Python (`state.step(...)`), and
kept in hypothesis's example database (`.hypothesis/`), so that the next run tries it first;
`--hypothesis-seed=N` repeats a run.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import subprocess
import sys
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pathspec
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    rule,
    run_state_machine_as_test,
)

from tests.conftest import git, make_pool, make_repo
from worktree_pool.cli.commands import claims as cli_claims
from worktree_pool.cli.commands import cleanup as cli_cleanup
from worktree_pool.cli.commands import health as cli_health
from worktree_pool.cli.commands import pool as cli_pool
from worktree_pool.cli.commands import scale as cli_scale
from worktree_pool.errors import WtpoolError
from worktree_pool.store.pool import read_pool
from worktree_pool.store.slots import SlotState, all_slots
from worktree_pool.store.sqlite import StateStore

EXAMPLES = int(os.environ.get("WTPOOL_STATEFUL_EXAMPLES", "8"))
STEPS = int(os.environ.get("WTPOOL_STATEFUL_STEPS", "30"))

BASE_GITIGNORE = "*.log\nbuild/\n"
BASE_FILES = {
    "README.md": "# sample\n",
    ".gitignore": BASE_GITIGNORE,
    "src/a.py": "a = 1\n",
    "docs/d.md": "d\n",
    "docs/v2/index.md": "v2\n",
    "tool.sh": "#!/bin/sh\n",
}
POOL_MIN, POOL_MAX = 1, 3
TASKS = (None, "t1", "t2")

# What agents write. Links, a tracked link (docs/latest) and a tracked file (src/a.py) are among
# the paths, so that a file can replace a link or a directory, and the other way round.
FILE_PATHS = (
    "f.txt",
    "src/a.py",
    "docs/d.md",
    "tool.sh",
    "notes/p.txt",
    "x/plan.txt",
    "x/y/deep.txt",
    "cfg/f",
    "docs/latest/index.md",
    "build/out.txt",  # ignored by the base
    "debug.log",  # ignored by the base
    "sp ace/ü.txt",
    "nl\nname.txt",
)
LINK_PATHS = ("cfg", "link", "notes", "x/y", "docs/latest", "src/a.py")
LINK_TARGETS = ("inside-file", "inside-dir", "outside-file", "outside-dir", "dangling")
DELETE_PATHS = (*FILE_PATHS, *LINK_PATHS, "x", "notes", "docs", "src")
IGNORE_FILES = {
    "hide-notes": (".gitignore", BASE_GITIGNORE + "notes/\n"),
    "hide-txt": (".gitignore", BASE_GITIGNORE + "*.txt\n"),
    "unhide-build": (".gitignore", "*.log\n"),
    "restore": (".gitignore", BASE_GITIGNORE),
    "self-ignoring x": ("x/.gitignore", "*\n"),
    "self-ignoring notes": ("notes/.gitignore", "*\n"),
    "hide-plan": ("x/.gitignore", "plan.txt\n"),
}
GIT_COMMANDS = (
    ("add", "--all"),
    ("add", "--update"),
    ("add", "--", "f.txt", "notes", "x"),
    ("commit", "-q", "-m", "work"),
    ("commit", "-q", "-a", "-m", "all work"),
    ("commit", "-q", "--amend", "-m", "amended"),
    ("stash", "push", "-q"),
    ("stash", "push", "-q", "--include-untracked"),
    ("stash", "pop", "-q"),
    ("checkout", "-q", "--detach"),
    ("checkout", "-q", "--detach", "HEAD~"),
    ("checkout", "-q", "-"),
    ("reset", "-q", "--hard"),
    ("reset", "-q", "--hard", "HEAD~"),
    ("rebase", "-q", "main"),
    ("rebase", "-q", "--autostash", "main"),
    ("rebase", "-q", "side"),
    ("rebase", "-q", "--autostash", "side"),
    ("merge", "-q", "--no-edit", "side"),
    ("merge", "-q", "--no-edit", "--autostash", "side"),
    ("cherry-pick", "side"),
    ("switch", "-q", "side"),
    ("update-index", "--skip-worktree", "src/a.py"),
    ("update-index", "--assume-unchanged", "docs/d.md"),
    ("rebase", "--abort"),
    ("merge", "--abort"),
)
# Where the user on the base adds links and files that slots may have as something else.
BASE_PATHS = ("cfg", "notes", "x", "f.txt", "notes/p.txt")
COMMANDS = ("release", "cleanup", "scale down", "scale up", "doctor --fix", "leaks --fix")
# Writes the upstream branch `side` makes, so that a slot's edit of them conflicts on rebase.
SIDE_FILES = {"src/a.py": "a = 'side'\n", "docs/d.md": "d from side\n"}


# --- git objects ---------------------------------------------------------------------------


def blob_id(data: bytes) -> str:
    """The id git gives this content (SHA-1 repositories), without a process per file."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def run_git(cwd: Path, *args: str, env: dict[str, str] | None = None) -> bool:
    """An agent's git command: it may fail (nothing to commit, a conflict), as agents' do."""
    result = subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        env={**os.environ, "GIT_EDITOR": "true", **(env or {})},
    )
    return result.returncode == 0


def git_bytes(cwd: Path, *args: str, env: dict[str, str] | None = None) -> bytes:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, env={**os.environ, **(env or {})}
    ).stdout


@dataclass
class Work:
    """Content and commits, each with a description for the failure message."""

    blobs: dict[str, str] = field(default_factory=dict)
    commits: dict[str, str] = field(default_factory=dict)

    def update(self, other: Work) -> None:
        """Add `other`; where both have an object, `other` says where it is now."""
        self.blobs.update(other.blobs)
        self.commits.update(other.commits)

    def kept(self, held: Work, reachable: set[str]) -> Work:
        """What of this is still `held`, or `reachable` from a branch."""
        return Work(
            {k: v for k, v in self.blobs.items() if k in held.blobs or k in reachable},
            {k: v for k, v in self.commits.items() if k in held.commits or k in reachable},
        )

    def lost(self, held: Work, reachable: set[str]) -> Work:
        """What of this is neither `held` nor `reachable` from a branch."""
        kept = self.kept(held, reachable)
        return Work(
            {k: v for k, v in self.blobs.items() if k not in kept.blobs},
            {k: v for k, v in self.commits.items() if k not in kept.commits},
        )

    def __bool__(self) -> bool:
        return bool(self.blobs or self.commits)

    def describe(self, root: Path) -> str:
        lines = [f"  file content {oid[:10]}: {what}" for oid, what in self.blobs.items()]
        lines += [
            f"  commit {oid[:10]} {subject(root, oid)!r}: {what}"
            for oid, what in self.commits.items()
        ]
        return "\n".join(lines)


def subject(root: Path, oid: str) -> str:
    result = subprocess.run(
        ["git", "log", "-1", "--format=%s", oid], cwd=root, capture_output=True, text=True
    )
    return result.stdout.strip() or "(gone)"


def files_on_disk(root: Path) -> dict[str, tuple[str, str]]:
    """Every file and link under `root` (links not followed, the worktree's `.git` skipped):
    path -> (git mode, blob id)."""
    found: dict[str, tuple[str, str]] = {}
    for directory, subdirs, files in os.walk(root):
        here = Path(directory)
        if here == root:
            subdirs[:] = [d for d in subdirs if d != ".git"]
            files = [f for f in files if f != ".git"]
        for name in [*files, *(d for d in subdirs if (here / d).is_symlink())]:
            path = here / name
            relative = path.relative_to(root).as_posix()
            if path.is_symlink():
                found[relative] = ("120000", blob_id(os.fsencode(os.readlink(path))))
            elif path.is_file():
                mode = "100755" if path.stat().st_mode & 0o100 else "100644"
                found[relative] = (mode, blob_id(path.read_bytes()))
    return found


def snapshot_tree(root: Path, skip: frozenset[str] = frozenset()) -> dict[str, object]:
    """Files, links and directories under `root`, with contents, link targets and modes."""
    if not root.exists() and not root.is_symlink():
        return {}
    found: dict[str, object] = {}
    for directory, subdirs, files in os.walk(root):
        here = Path(directory)
        for name in sorted([*subdirs, *files]):
            path = here / name
            relative = path.relative_to(root).as_posix()
            if relative in skip:
                continue
            mode = path.lstat().st_mode
            if path.is_symlink():
                found[relative] = ("link", os.readlink(path))
            elif path.is_dir():
                found[relative] = ("dir", oct(mode))
            else:
                found[relative] = ("file", oct(mode), path.read_bytes())
        subdirs[:] = [d for d in subdirs if f"{(here / d).relative_to(root)}" not in skip]
    return found


def changed_paths(
    before: dict[str, dict[str, object]], after: dict[str, dict[str, object]]
) -> list[str]:
    """What differs between two sets of snapshot_tree()s, by directory and path."""
    changes = []
    for top in sorted(set(before) | set(after)):
        old, new = before.get(top, {}), after.get(top, {})
        for path in sorted(set(old) | set(new)):
            if old.get(path) != new.get(path):
                changes.append(f"{top}/{path}: {old.get(path)} -> {new.get(path)}")
    return changes


def reachable_from_branches(root: Path) -> set[str]:
    """Every object (commits, trees, blobs) that some branch reaches."""
    out = git_bytes(root, "rev-list", "--objects", "--branches").decode("utf-8", "replace")
    return {line[:40] for line in out.splitlines() if line}


def tree_entries(root: Path, treeish: str) -> dict[str, tuple[str, str]]:
    """path -> (mode, blob id) of a commit's tree, gitlinks left out."""
    out = git_bytes(root, "ls-tree", "-r", "-z", treeish)
    entries = {}
    for entry in out.split(b"\0"):
        if entry:
            meta, _, path = entry.partition(b"\t")
            mode, kind, oid = meta.decode().split()
            if kind == "blob":
                entries[os.fsdecode(path)] = (mode, oid)
    return entries


def index_entries(root: Path, index: Path) -> dict[str, str]:
    """path (with stage, when conflicted) -> blob id, read from an index file."""
    if not index.is_file():
        return {}
    out = git_bytes(root, "ls-files", "-s", "-z", env={"GIT_INDEX_FILE": str(index)})
    entries = {}
    for entry in out.split(b"\0"):
        if entry:
            meta, _, path = entry.partition(b"\t")
            mode, oid, stage = meta.decode().split()
            if mode != "160000":
                suffix = f" (stage {stage})" if stage != "0" else ""
                entries[os.fsdecode(path) + suffix] = oid
    return entries


def reflog_commits(log: Path) -> list[str]:
    """The commits a reflog file names."""
    if not log.is_file():
        return []
    commits = []
    for line in log.read_text("utf-8", "replace").splitlines():
        for oid in line.split(" ", 2)[:2]:
            if len(oid) == 40 and oid.strip("0"):
                commits.append(oid)
    return commits


def read_oid(path: Path) -> str | None:
    if not path.is_file():
        return None
    text = path.read_text().strip()
    return text if len(text) == 40 else None


# --- the world -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SlotFact:
    name: str
    state: SlotState
    agent: str | None
    task: str | None


@dataclass(frozen=True)
class CliResult:
    code: int
    stdout: str
    stderr: str


class World:
    """One example's repository, pool, outside directory and the places slots were moved to.
    All names are fixed: `<dir>/repo`, `<dir>/outside`, `<dir>/moved-<n>`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.outside = directory / "outside"
        self.root = make_repo(directory / "repo", BASE_FILES)
        self.moved: list[Path] = []
        # Slots replaced by a plain directory: not worktrees, so wtpool must leave them alone.
        self.replaced: list[Path] = []
        self._stash_files: dict[str, dict[str, str]] = {}  # stash commit -> {blob: path}
        self._trees: dict[str, dict[str, tuple[str, str]]] = {}  # commit -> tree_entries()
        self._prepare_outside()
        self._prepare_repository()
        make_pool(self.root, POOL_MIN, POOL_MAX)

    def _prepare_outside(self) -> None:
        victim = self.outside / "victim"
        victim.mkdir(parents=True)
        (victim / "f").write_text("outside, named like the slot's cfg/f\n")
        (victim / "index.md").write_text("outside, named like docs/latest/index.md\n")
        (self.outside / "target.txt").write_text("outside target\n")
        (self.outside / "dirlink").symlink_to("victim")
        (self.outside / "filelink").symlink_to("target.txt")

    def _prepare_repository(self) -> None:
        root = self.root
        (root / "docs" / "latest").symlink_to("v2")  # a tracked link to a directory
        (root / "tool.sh").chmod(0o755)
        git(root, "add", "--all")
        git(root, "commit", "-q", "-m", "a link and a script")
        git(root, "checkout", "-q", "-b", "side")
        for name, text in SIDE_FILES.items():
            (root / name).write_text(text)
        git(root, "commit", "-q", "-a", "-m", "upstream changes")
        git(root, "checkout", "-q", "main")

    @property
    def pool_dir(self) -> Path:
        return self.root / ".agent-worktrees"

    def slot_path(self, name: str) -> Path:
        return self.pool_dir / name

    def read_state(self) -> tuple[bool, list[SlotFact]]:
        """Whether the pool exists, and its slots, read from the state store."""
        path = self.pool_dir / "state.db"
        if not path.is_file():
            return False, []
        store = StateStore(path, 5.0)
        try:
            with store.snapshot() as conn:
                slots = [SlotFact(s.name, s.state, s.agent, s.task) for s in all_slots(conn)]
                return read_pool(conn) is not None, slots
        finally:
            store.close()

    def wtpool(self, *argv: str) -> CliResult:
        """Run a command as `wtpool ARGV` would from the repository's root, in this process:
        the CLI's own command function, its errors turned into exit codes as `cli.run` does
        (typer's parsing, 50 ms a call, is all that is left out)."""
        out, err = io.StringIO(), io.StringIO()
        with _cwd(self.root), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = int(_cli_command(argv) or 0)
            except WtpoolError as exc:
                code = exc.code
                print(f"error: {exc.message}", file=sys.stderr)
            except Exception as exc:  # what `cli.run` reports as "unexpected"
                code = 1
                traceback.print_exc()
                print(f"error: unexpected {type(exc).__name__}: {exc}", file=sys.stderr)
        return CliResult(code, out.getvalue(), err.getvalue())

    def base_ignores(self) -> pathspec.GitIgnoreSpec:
        """The base's ignore rules: its .gitignore and the repository's info/exclude (shared
        by every worktree; wtpool lists its own files there)."""
        exclude = self.root / ".git" / "info" / "exclude"
        lines = BASE_GITIGNORE.splitlines()
        lines += exclude.read_text().splitlines() if exclude.is_file() else []
        return pathspec.GitIgnoreSpec.from_lines(lines)

    def held(self) -> Work:
        """What slots wtpool has not taken back hold, and what moved-away slots hold.

        A slot's git state (HEAD, ORIG_HEAD, reflogs, index, autostash) lives in
        `.git/worktrees/<id>` and counts while the slot is not idle, whether its directory is
        there, moved or deleted; its files count while it is not idle and in place. A
        worktree registered outside the pool (a moved slot that was repaired) counts too.
        """
        busy = {fact.name for fact in self.read_state()[1] if fact.state != SlotState.IDLE}
        ignores = self.base_ignores()
        work = Work()
        admin_root = self.root / ".git" / "worktrees"
        for admin in sorted(admin_root.iterdir()) if admin_root.is_dir() else []:
            checkout = _worktree_of(admin)
            in_pool = checkout is not None and checkout.parent == self.pool_dir
            is_busy = in_pool and checkout.name in busy
            moved_here = checkout is not None and not in_pool and checkout.is_dir()
            if not (is_busy or moved_here):
                continue
            label = checkout.name if checkout else admin.name
            work.update(self._git_state(admin, label))
            if is_busy and checkout.is_dir():
                tracked = set(index_entries(self.root, admin / "index"))
                work.update(self._files(checkout, label, ignores, tracked))
        if busy:
            work.update(self._stashes())
        for moved in self.moved:
            work.update(self._files(moved, moved.name, None, set()))
        for replaced in self.replaced:
            if replaced.is_dir() and not (replaced / ".git").exists():
                work.update(self._files(replaced, replaced.name, None, set()))
        return work

    def _files(
        self,
        checkout: Path,
        label: str,
        ignores: pathspec.GitIgnoreSpec | None,
        tracked: set[str],
    ) -> Work:
        work = Work()
        for path, (_, oid) in files_on_disk(checkout).items():
            if ignores is None or path in tracked or not ignores.match_file(path):
                work.blobs.setdefault(oid, f"{path!r} on disk in {label}")
        return work

    def _git_state(self, admin: Path, label: str) -> Work:
        work = Work()
        for path, oid in index_entries(self.root, admin / "index").items():
            work.blobs.setdefault(oid, f"{path!r} in the index of {label}")
        commits = reflog_commits(admin / "logs" / "HEAD")
        head = (admin / "HEAD").read_text().strip() if (admin / "HEAD").is_file() else ""
        if head.startswith("ref: "):
            commits += reflog_commits(self.root / ".git" / "logs" / head.removeprefix("ref: "))
        for name in ("HEAD", "ORIG_HEAD", "rebase-merge/orig-head", "rebase-apply/orig-head"):
            commits += [oid] if (oid := read_oid(admin / name)) else []
        for oid in commits:
            work.commits.setdefault(oid, f"held by {label}")
        for name in ("rebase-merge/autostash", "rebase-apply/autostash", "MERGE_AUTOSTASH"):
            if oid := read_oid(admin / name):
                work.update(self._stash_content(oid, f"the autostash of {label}"))
        return work

    def _stashes(self) -> Work:
        work = Work()
        for oid in dict.fromkeys(reflog_commits(self.root / ".git" / "logs" / "refs" / "stash")):
            work.update(self._stash_content(oid, "a stash entry"))
        return work

    def _stash_content(self, stash: str, label: str) -> Work:
        """The files of a stash commit: its working tree, its index and its untracked files."""
        if stash not in self._stash_files:  # a commit never changes: read it once
            files: dict[str, str] = {}
            for parent in ("", "^2", "^3"):
                if run_git(self.root, "rev-parse", "-q", "--verify", f"{stash}{parent}^{{commit}}"):
                    for path, (_, oid) in tree_entries(self.root, f"{stash}{parent}").items():
                        files.setdefault(oid, path)
            self._stash_files[stash] = files
        return Work({oid: f"{path!r} in {label}" for oid, path in self._stash_files[stash].items()})

    def untouchable(self) -> dict[str, object]:
        """What wtpool must never change inside the repository: the main worktree (its files,
        HEAD and index) and the branches outside wtpool/."""
        refs = git(self.root, "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads")
        return {
            "main worktree": snapshot_tree(
                self.root, frozenset({".git", ".agent-worktrees", "wtpool.yaml"})
            ),
            "main worktree's HEAD": (self.root / ".git" / "HEAD").read_text(),
            "main worktree's index": git_bytes(self.root, "ls-files", "--stage", "-z"),
            "branches": [line for line in refs.splitlines() if "refs/heads/wtpool/" not in line],
        }

    def outside_snapshot(self) -> dict[str, dict[str, object]]:
        """Beside the repository: the outside directory, and where slots were moved to."""
        snapshot = {"outside": snapshot_tree(self.outside)}
        for moved in self.moved:
            snapshot[moved.name] = snapshot_tree(moved, frozenset({".git"}))
        return snapshot

    def idle_problems(self) -> list[str]:
        """Why idle slots are not exactly what their sparse checkout shows of a commit of the
        base (but for what it ignores): an empty slot, the root's files alone."""
        ignores = self.base_ignores()
        base = set(git(self.root, "rev-list", "refs/heads/main").split())
        problems = []
        for fact in self.read_state()[1]:
            if fact.state == SlotState.IDLE and self.slot_path(fact.name).is_dir():
                problems += self._idle_slot_problems(fact.name, ignores, base)
        return problems

    def _idle_slot_problems(
        self, name: str, ignores: pathspec.GitIgnoreSpec, base: set[str]
    ) -> list[str]:
        path = self.slot_path(name)
        if not (path / ".git").is_file():  # git would find the main worktree from here
            return [f"{name} is idle but {path} is not a worktree"]
        admin = path / (path / ".git").read_text().removeprefix("gitdir:").strip()
        head = (admin / "HEAD").read_text().strip()
        if head not in base:
            return [f"{name} is idle but its HEAD is {head}, not a commit of main"]
        if head not in self._trees:  # a commit never changes: read it once
            self._trees[head] = tree_entries(self.root, head)
        # What the sparse checkout hides must be absent: a file there is a hidden edit.
        listing = git_bytes(path, "ls-files", "-t", "-z").decode(errors="surrogateescape")
        hidden = {entry[2:] for entry in listing.split("\0") if entry.startswith("S ")}
        expected = {f: e for f, e in self._trees[head].items() if f not in hidden}
        actual = {
            file: entry
            for file, entry in files_on_disk(path).items()
            if file in expected or not ignores.match_file(file)
        }
        problems = [
            f"{name} is idle but {file!r} is {actual.get(file)} on disk, "
            f"{expected.get(file)} in its HEAD"
            for file in sorted(set(expected) | set(actual))
            if expected.get(file) != actual.get(file)
        ]
        if not run_git(path, "diff", "--cached", "--quiet"):
            problems.append(f"{name} is idle but its index differs from its HEAD")
        return problems


def _cli_command(argv: tuple[str, ...]) -> object:
    """Call the command function that `wtpool ARGV` runs, with the arguments it would get."""
    match argv:
        case ("init", "--min", low, "--max", high):
            return cli_pool.init(int(low), int(high), None, json=False)
        case ("acquire", "--agent", agent, *task):
            return cli_claims.acquire(agent, task[-1] if task else None, None, json=False)
        case ("release", slot):
            return cli_claims.release(slot, json=False)
        case ("cleanup",):
            return cli_cleanup.cleanup(force=False, json=False)
        case ("scale", direction):
            return cli_scale.scale(cli_scale.Direction(direction), None, None, json=False)
        case ("doctor", "--fix"):
            return cli_health.doctor(fix=True, json=False)
        case ("leaks", "--fix"):
            return cli_health.leaks(fix=True, json=False)
    raise ValueError(f"the machine has no wtpool {' '.join(argv)}")


def _worktree_of(admin: Path) -> Path | None:
    """The directory a `.git/worktrees/<id>` entry belongs to (it may no longer exist)."""
    gitdir = admin / "gitdir"
    return Path(gitdir.read_text().strip()).parent if gitdir.is_file() else None


@contextlib.contextmanager
def _cwd(path: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


# --- what goes wrong ---------------------------------------------------------------------------


class DataSafetyViolation(AssertionError):
    """A promise of wtpool broken; the subclasses, most severe first, say which."""


class WorkLost(DataSafetyViolation):
    """Something a slot held is on no branch and in no slot any more."""


class OutsideChanged(DataSafetyViolation):
    """A file beside the repository (or in a moved slot) changed."""


class UntouchableChanged(DataSafetyViolation):
    """The main worktree, or a branch outside wtpool/, changed."""


class IdleSlotNotClean(DataSafetyViolation):
    """An idle slot would hand something to the next agent."""


class CommandFailed(DataSafetyViolation):
    """A command crashed, or refused what it must do."""


SEVERITY = (WorkLost, OutsideChanged, UntouchableChanged, IdleSlotNotClean, CommandFailed)


@cache
def violation(kind: type[DataSafetyViolation], command: str) -> type[DataSafetyViolation]:
    """`kind`, for one wtpool command. Hypothesis tells failures apart by exception type (and
    place), so one class per command keeps, say, a loss in cleanup from being shrunk into a
    loss in release, and reports both."""
    name = "".join(word.title() for word in command.replace("-", " ").split())
    return type(f"{kind.__name__}In{name}", (kind,), {})


# --- the machine ---------------------------------------------------------------------------

Action = tuple[str, ...]


def actions() -> st.SearchStrategy[Action]:
    """What an agent, or the user on the base branch, does between two wtpool commands."""
    files = [
        st.tuples(st.just("write"), st.sampled_from(FILE_PATHS)),
        st.tuples(st.just("rm -rf"), st.sampled_from(DELETE_PATHS)),
        st.tuples(st.sampled_from(("chmod +x", "chmod -x")), st.sampled_from(FILE_PATHS)),
        st.tuples(st.just("ln -s"), st.sampled_from(LINK_TARGETS), st.sampled_from(LINK_PATHS)),
        st.tuples(st.just("gitignore"), st.sampled_from(sorted(IGNORE_FILES))),
    ]
    git_commands = st.sampled_from(
        [("git", *args) for args in GIT_COMMANDS]
        + [("git rename branch",), ("git new branch",), ("git delete checked-out branch",)]
    )
    by_hand = st.sampled_from((("mv slot",), ("rm -rf slot",), ("rm -rf slot; mkdir -p slot/x",)))
    base = st.one_of(
        st.tuples(st.just("base: link"), st.sampled_from(BASE_PATHS), st.booleans()),
        st.tuples(st.just("base: add"), st.sampled_from(BASE_PATHS)),
        st.just(("base: edit",)),
    )
    # one_of picks each strategy alike: files and git commands come up most often.
    return st.one_of(*files, *files, *[git_commands] * 4, base, by_hand)


class DataSafety(RuleBasedStateMachine):
    """One agent at a time works; a slot it moved or deleted lingers, busy, for wtpool to find.
    The model knows what the base ignores (BASE_GITIGNORE and info/exclude) and reads the rest
    (which slots are busy, what they hold) from git, the disk and the state.

    There is one rule, `step`: hypothesis turns rules off at random per example (swarm
    testing), which with several rules would leave examples with no agents or no commands."""

    workspace: Path  # a directory of the running test; each example gets its own below it
    examples = 0

    def __init__(self) -> None:
        super().__init__()
        DataSafety.examples += 1
        directory = self.workspace / f"example-{DataSafety.examples}"
        directory.mkdir()
        self.world = World(directory)
        self.counter = 0  # makes every written content and branch name distinct
        self.agents = 0
        self.agent: str | None = None
        self.slot: str | None = None
        self.obligations = Work()  # what slots held at any command, less what agents dropped
        self.outside = snapshot_tree(self.world.outside)  # as the last wtpool command left it
        self._refresh()

    def teardown(self) -> None:
        shutil.rmtree(self.world.directory, ignore_errors=True)

    @rule(
        task=st.sampled_from(TASKS),
        actions=st.lists(actions(), max_size=6),
        command=st.sampled_from(COMMANDS),
    )
    def step(self, task: str | None, actions: list[Action], command: str) -> None:
        """The agent acts (a new one takes a slot, for `task`, if none works), then one
        command runs and every promise is checked."""
        if actions and not self.holding() and len(self._busy()) < POOL_MAX:
            self._acquire(task)
        for action in actions:
            if not self.holding():  # it moved or deleted its slot: it is gone
                break
            self._act(*action)
        if not self.pool_exists:  # after a cleanup: nothing for a command to act on
            return
        if command == "release":
            self._release()
        elif command == "cleanup":
            self._wtpool("cleanup", must_succeed=True)
        else:
            self._wtpool(*command.split())

    # --- the model's view ---------------------------------------------------------------

    def _refresh(self) -> None:
        self.pool_exists, self.facts = self.world.read_state()

    def holding(self) -> bool:
        """Whether the current agent has its slot, busy and in its place."""
        mine = [f for f in self.facts if f.name == self.slot and f.agent == self.agent]
        return bool(mine) and self._in_place(mine[0])

    def _in_place(self, fact: SlotFact) -> bool:
        path = self.world.slot_path(fact.name)
        return fact.state == SlotState.BUSY and (path / ".git").is_file()

    def _busy(self) -> list[SlotFact]:
        return [fact for fact in self.facts if fact.state != SlotState.IDLE]

    @property
    def _path(self) -> Path:
        assert self.slot is not None
        return self.world.slot_path(self.slot)

    def _next(self) -> int:
        self.counter += 1
        return self.counter

    # --- agents ---------------------------------------------------------------------------

    def _act(self, verb: str, *args: str | bool) -> None:
        handlers = {
            "write": self._write,
            "rm -rf": self._delete,
            "chmod +x": lambda path: self._chmod(path, 0o755),
            "chmod -x": lambda path: self._chmod(path, 0o644),
            "ln -s": self._symlink,
            "gitignore": self._gitignore,
            "git": lambda *argv: run_git(self._path, *argv),
            "git rename branch": lambda: run_git(self._path, "branch", "-m", self._name()),
            "git new branch": lambda: run_git(self._path, "switch", "-q", "-c", self._name()),
            "git delete checked-out branch": self._delete_branch,
            "mv slot": self._move_slot,
            "rm -rf slot": lambda: shutil.rmtree(self._path),
            "rm -rf slot; mkdir -p slot/x": self._replace_slot,
            "base: link": self._base_link,
            "base: add": self._base_add,
            "base: edit": self._base_edit,
        }
        handlers[verb](*args)

    def _name(self) -> str:
        return f"mine-{self._next()}"

    def _room_for(self, relative: str) -> Path:
        """Make `relative` writable in the slot as an agent would: a link or file where a
        directory must be is replaced by a directory, never followed."""
        path = self._path
        for part in Path(relative).parts[:-1]:
            path = path / part
            if path.is_symlink() or path.is_file():
                path.unlink()
            path.mkdir(exist_ok=True)
        target = path / Path(relative).name
        if target.is_symlink() or target.is_file():
            target.unlink()
        elif target.is_dir():
            shutil.rmtree(target)
        return target

    def _through_directories(self, relative: str) -> Path | None:
        """The path, if every directory on the way to it is a real one (not a link)."""
        path = self._path
        for part in Path(relative).parts[:-1]:
            path = path / part
            if path.is_symlink() or not path.is_dir():
                return None
        return path / Path(relative).name

    def _write(self, path: str) -> None:
        self._room_for(path).write_text(f"{path} #{self._next()}\n")

    def _delete(self, path: str) -> None:
        target = self._through_directories(path)
        if target is not None and (target.is_symlink() or target.is_file()):
            target.unlink()
        elif target is not None and target.is_dir():
            shutil.rmtree(target)

    def _chmod(self, path: str, mode: int) -> None:
        target = self._through_directories(path)
        if target is not None and target.is_file() and not target.is_symlink():
            target.chmod(mode)

    def _symlink(self, kind: str, path: str) -> None:
        link = self._room_for(path)
        inside = {"inside-file": "src/a.py", "inside-dir": "docs"}
        outside = {"outside-file": "target.txt", "outside-dir": "victim"}
        if kind in inside:
            link.symlink_to(os.path.relpath(self._path / inside[kind], link.parent))
        else:
            link.symlink_to(self.world.outside / outside[kind] if kind in outside else "nowhere")

    def _gitignore(self, variant: str) -> None:
        path, text = IGNORE_FILES[variant]
        self._room_for(path).write_text(text)

    def _delete_branch(self) -> None:
        head = subprocess.run(
            ["git", "symbolic-ref", "-q", "HEAD"], cwd=self._path, capture_output=True, text=True
        )
        if head.returncode == 0:
            run_git(self._path, "update-ref", "-d", head.stdout.strip())

    def _move_slot(self) -> None:
        destination = self.world.directory / f"moved-{self._next()}"
        self._path.rename(destination)
        self.world.moved.append(destination)

    def _replace_slot(self) -> None:
        """The slot deleted and a plain directory made in its place, as a tool that writes
        to the agent's old working directory would (`mkdir -p $W/x; echo > $W/x/plan.txt`)."""
        shutil.rmtree(self._path)
        (self._path / "x").mkdir(parents=True)
        (self._path / "x" / "plan.txt").write_text(f"written after the slot went #{self._next()}\n")
        self.world.replaced.append(self._path)

    def _base_link(self, path: str, outside: bool) -> None:
        """The user commits a link on the base, where slots may have a directory."""
        if (target := self._base_free(path)) is not None:
            target.symlink_to(self.world.outside / "victim" if outside else "docs")
            self._base_commit(path)

    def _base_add(self, path: str) -> None:
        """The user commits a file on the base, where slots may have one of their own."""
        if (target := self._base_free(path)) is not None:
            target.write_text(f"base {path}\n")
            self._base_commit(path)

    def _base_free(self, path: str) -> Path | None:
        """`path` in the main worktree, if nothing is there and its directory can be made."""
        target = self.world.root / path
        parent = target.parent
        if target.exists() or target.is_symlink() or parent.is_symlink() or parent.is_file():
            return None
        parent.mkdir(exist_ok=True)
        return target

    def _base_commit(self, path: str) -> None:
        git(self.world.root, "add", "--", path)
        git(self.world.root, "commit", "-q", "-m", f"base adds {path}")

    def _base_edit(self) -> None:
        """The user commits to the base a change that a slot's edits conflict with."""
        with (self.world.root / "src" / "a.py").open("a") as handle:
            handle.write(f"base #{self._next()}\n")
        git(self.world.root, "commit", "-q", "-a", "-m", "base edit")

    # --- wtpool ---------------------------------------------------------------------------

    def _acquire(self, task: str | None) -> None:
        """A new agent takes a slot, for `task` unless a slot or worktree has it already
        (which refuses the claim)."""
        if not self.pool_exists:
            self._wtpool("init", "--min", str(POOL_MIN), "--max", str(POOL_MAX), must_succeed=True)
        self.agents += 1
        self.agent = f"agent-{self.agents}"
        task_args = ["--task", task] if task and self._task_free(task) else []
        self._wtpool("acquire", "--agent", self.agent, *task_args, must_succeed=True)
        self.slot = next((f.name for f in self.facts if f.agent == self.agent), None)

    def _task_free(self, task: str) -> bool:
        worktrees = git(self.world.root, "worktree", "list", "--porcelain").splitlines()
        branch = f"branch refs/heads/wtpool/task/{task}"
        return branch not in worktrees and all(fact.task != task for fact in self.facts)

    def _release(self) -> None:
        """Release the current agent's slot, else another busy one (moved, say)."""
        busy = sorted(self._busy(), key=lambda fact: fact.name != self.slot)
        if busy:
            self._wtpool("release", busy[0].name, must_succeed=self._in_place(busy[0]))

    def _wtpool(self, *argv: str, must_succeed: bool = False) -> None:
        """Run a wtpool command and check every promise afterwards."""
        assert snapshot_tree(self.world.outside) == self.outside, "the model wrote outside"
        # Only agents and the user on the base acted since the last command: what the slots
        # held then and no longer hold, and no branch has, they discarded themselves.
        held = self.world.held()
        self.obligations = self.obligations.kept(held, reachable_from_branches(self.world.root))
        self.obligations.update(held)
        before = self.world.untouchable(), self.world.outside_snapshot()
        result = self.world.wtpool(*argv)
        self._refresh()
        self.outside = snapshot_tree(self.world.outside)
        problems = self._problems(before, result, must_succeed)
        if argv[0] == "acquire":
            given = [fact for fact in self.facts if fact.agent == argv[2]]
            if not (given and self._in_place(given[0])):
                problems[CommandFailed].append(f"{argv[2]} got no worktree in its place: {given}")
        command = " ".join(argv[:2]) if argv[0] == "scale" else argv[0]
        for kind in SEVERITY:
            if problems[kind]:
                details = "\n".join(text for found in problems.values() for text in found)
                raise violation(kind, command)(
                    f"after `wtpool {' '.join(argv)}`:\n{details}\n"
                    f"--- stdout\n{result.stdout}--- stderr\n{result.stderr[-3000:]}"
                )

    def _problems(
        self,
        before: tuple[dict[str, object], dict[str, dict[str, object]]],
        result: CliResult,
        must_succeed: bool,
    ) -> dict[type[DataSafetyViolation], list[str]]:
        """Every broken promise, by kind."""
        found: dict[type[DataSafetyViolation], list[str]] = {kind: [] for kind in SEVERITY}
        lost = self.obligations.lost(self.world.held(), reachable_from_branches(self.world.root))
        if lost:
            found[WorkLost].append(
                f"on no branch and in no slot:\n{lost.describe(self.world.root)}"
            )
        untouchable, outside = before
        for changed in changed_paths(outside, self.world.outside_snapshot()):
            found[OutsideChanged].append(f"outside the repository, {changed}")
        after = self.world.untouchable()
        found[UntouchableChanged] += [
            f"the {what} changed" for what in untouchable if untouchable[what] != after[what]
        ]
        found[IdleSlotNotClean] += self.world.idle_problems()
        if "error: unexpected" in result.stderr or (must_succeed and result.code != 0):
            found[CommandFailed].append(f"exit {result.code}")
        return found


def test_no_work_is_lost_and_nothing_outside_changes(tmp_path: Path) -> None:
    DataSafety.workspace = tmp_path
    run_state_machine_as_test(
        DataSafety,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )

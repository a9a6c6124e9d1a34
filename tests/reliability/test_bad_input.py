"""Bad input: one `error:` line, a non-zero exit code, no traceback, and nothing changed.

Each row names a starting situation, the command, the expected exit code (2: what was typed or
written is wrong; 1: it could not be done) and a fragment of the message.
"""

from __future__ import annotations

import resource
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import (
    assert_one_line_error,
    git,
    make_pool,
    make_repo,
    snapshot,
    wtpool,
    wtpool_json,
)
from worktree_pool.config.settings import DATABASE_MODE_VARIABLE
from worktree_pool.pool.claims import acquire


def _plain_dir(tmp: Path) -> Path:
    path = tmp / "not-a-repo"
    path.mkdir()
    return path


def _empty_repo(tmp: Path) -> Path:
    path = tmp / "empty"
    path.mkdir()
    git(path, "init", "--quiet")
    return path


def _bare_repo(tmp: Path) -> Path:
    path = tmp / "bare.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(path)], check=True)
    return path


def _repo(tmp: Path) -> Path:
    return make_repo(tmp / "repo")


def _detached_repo(tmp: Path) -> Path:
    root = make_repo(tmp / "repo")
    git(root, "checkout", "--quiet", "--detach")
    return root


def _pool_dir_is_a_file(tmp: Path) -> Path:
    root = make_repo(tmp / "repo")
    (root / ".agent-worktrees").write_text("oops")
    return root


def _pool(tmp: Path) -> Path:
    """A pool of 3 (max 10) where agent `holder` has pool-wt-1 for task `taken`."""
    root = make_repo(tmp / "repo")
    pool = make_pool(root)
    acquire(pool.repo, pool.store(), "holder", "taken")
    return root


@dataclass(frozen=True)
class WithDatabases:
    """A setup whose config is about databases: its row runs without the suite's
    WTPOOL_DATABASE_MODE=none."""

    setup: Callable[[Path], Path]

    def __call__(self, tmp: Path) -> Path:
        return self.setup(tmp)


def _held(tmp: Path) -> Path:
    """`_pool`, now configured for databases: a refused claim must not start a server."""
    root = _pool(tmp)
    (root / "wtpool.yaml").write_text("database:\n  mode: embedded\n")
    return root


def _full_pool(tmp: Path) -> Path:
    root = make_repo(tmp / "repo")
    pool = make_pool(root, minimum=1, maximum=1)
    acquire(pool.repo, pool.store(), "holder", "taken")
    return root


def _corrupt_pool(tmp: Path) -> Path:
    root = _pool(tmp)
    state = root / ".agent-worktrees" / "state.db"
    for side in state.parent.glob("state.db-*"):
        side.unlink()
    state.write_bytes(b"\x00garbage" * 64)
    return root


def _state_is_a_directory(tmp: Path) -> Path:
    root = make_repo(tmp / "repo")
    (root / ".agent-worktrees" / "state.db").mkdir(parents=True)
    return root


def _damaged_schema(tmp: Path) -> Path:
    root = _pool(tmp)
    conn = sqlite3.connect(root / ".agent-worktrees" / "state.db")
    conn.execute("DROP TABLE pool")
    conn.commit()
    conn.close()
    return root


def _pool_with_config(text: str) -> Callable[[Path], Path]:
    def setup(tmp: Path) -> Path:
        root = _pool(tmp)
        (root / "wtpool.yaml").write_text(text)
        return root

    return setup


TASKS_YAML = """\
tasks:
  - id: api
    title: The API
    files: [src/api/]
  - id: api-docs
    title: Document the API
    depends_on: [api]
    files: [docs/api.md]
  - id: shipped
    title: Already done
    status: closed
    files: [src/old/]
"""
YAML_SOURCE = "tasks:\n  source: yaml\n"


def _task_pool(
    config: str = YAML_SOURCE, tasks: str | None = TASKS_YAML, beads: str | None = None
) -> Callable[[Path], Path]:
    """A pool of 3 with a task file, whose wtpool.yaml ends up holding `config`.

    The pool is made under a plain `tasks.source: yaml` config (init only writes wtpool.yaml
    when there is none, and must not fail on the config under test), then `config` replaces it.
    """

    def setup(tmp: Path) -> Path:
        root = make_repo(tmp / "repo")
        (root / "wtpool.yaml").write_text(YAML_SOURCE)
        if tasks is not None:
            (root / "tasks.yaml").write_text(tasks)
        if beads is not None:
            (root / ".beads").mkdir()
            (root / ".beads" / "issues.jsonl").write_text(beads)
        make_pool(root)
        (root / "wtpool.yaml").write_text(config)
        return root

    return WithDatabases(setup) if "database:" in config else setup


def _tasks_no_pool(tmp: Path) -> Path:
    root = make_repo(tmp / "repo")
    (root / "wtpool.yaml").write_text(YAML_SOURCE)
    (root / "tasks.yaml").write_text(TASKS_YAML)
    return root


_tasks_pool = _task_pool()
BEADS_WITH_A_BAD_LINE = '{"id": "a", "title": "A", "status": "open", "priority": 2}\n{"id": \n'
BEADS_SOURCE = "tasks:\n  source: beads\n"
ESCAPING_TASKS = "tasks:\n  - id: esc\n    files: [../escape]\n"


DOWN = "postgresql://postgres@127.0.0.1:1/postgres"  # nothing listens on port 1
HUGE = "9" * 23  # past SQLite's 64-bit integers
SEND = ["mail", "send", "--from", "ann", "--to", "bob"]
ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
)


def _bomb(levels: int) -> str:
    """One YAML value, `levels` anchors deep, each a list of the one below and 8 aliases to
    it: 9**(levels + 1) nodes once expanded. 5 levels are enough to pass wtpool's bound; the
    unfixed code expands 6 in well under a second (9 took it 17 s and 3.7 GB)."""
    text = "&a0 [x, x, x, x, x, x, x, x, x]"
    for level in range(1, levels + 1):
        text = f"&a{level} [{text}, {', '.join([f'*a{level - 1}'] * 8)}]"
    return text


def _huge(name: str, config: str) -> Callable[[Path], Path]:
    """A pool whose task file `name` is 64 MB and a byte: sparse, so it costs no disk."""

    def setup(tmp: Path) -> Path:
        root = _task_pool(config, tasks=None)(tmp)
        path = root / name
        path.parent.mkdir(exist_ok=True)
        with path.open("wb") as handle:
            handle.truncate(64_000_001)
        return root

    return setup


CASES = [
    # where the command runs
    ("not a repo", _plain_dir, ["status"], 2, "not inside a git repository"),
    ("not a repo: init", _plain_dir, ["init"], 2, "not inside a git repository"),
    ("no commits", _empty_repo, ["init"], 2, "no commits yet"),
    ("bare repo", _bare_repo, ["init"], 2, "is a bare repository"),
    ("detached main, no --base", _detached_repo, ["init"], 2, "HEAD is detached"),
    ("pool dir is a file", _pool_dir_is_a_file, ["init"], 1, "is not a directory"),
    ("no pool yet", _repo, ["status"], 1, "no wtpool pool"),
    ("no pool yet: acquire", _repo, ["acquire", "--agent", "a"], 1, "no wtpool pool"),
    ("corrupt state", _corrupt_pool, ["status"], 1, "is corrupt"),
    ("corrupt state: acquire", _corrupt_pool, ["acquire", "--agent", "a"], 1, "is corrupt"),
    ("state is a directory", _state_is_a_directory, ["init"], 1, "is not a file"),
    ("damaged schema", _damaged_schema, ["status"], 1, "is corrupt"),
    # init arguments
    ("unknown base", _repo, ["init", "--base", "nosuch"], 2, "unknown base branch"),
    ("base that is a path", _repo, ["init", "--base", "../main"], 2, "unknown base branch"),
    ("base that is a revision", _repo, ["init", "--base", "main~1"], 2, "unknown base branch"),
    ("base that is a ref", _repo, ["init", "--base", "refs/heads/main"], 2, "unknown base"),
    ("min 0", _repo, ["init", "--min", "0"], 2, "between 1 and 64"),
    ("min -1", _repo, ["init", "--min", "-1"], 2, "between 1 and 64"),
    ("max 65", _repo, ["init", "--max", "65"], 2, "between 1 and 64"),
    ("min above max", _repo, ["init", "--min", "5", "--max", "3"], 2, "above the maximum"),
    ("min four", _repo, ["init", "--min", "four"], 2, "invalid value for '--min'"),
    ("other base on a pool", _pool, ["init", "--base", "other"], 2, "already uses base"),
    ("max below size", _pool, ["init", "--max", "2", "--min", "1"], 2, "more than the new max"),
    # names
    ("agent with space", _pool, ["acquire", "--agent", "has space"], 2, "invalid agent name"),
    ("agent ../", _pool, ["acquire", "--agent", "../etc"], 2, "invalid agent name"),
    ("agent ;", _pool, ["acquire", "--agent", "a;rm -rf /"], 2, "invalid agent name"),
    ("agent quote", _pool, ["acquire", "--agent", "it's"], 2, "invalid agent name"),
    ("agent unicode", _pool, ["acquire", "--agent", "agént"], 2, "invalid agent name"),
    ("agent 70 chars", _pool, ["acquire", "--agent", "a" * 70], 2, "invalid agent name"),
    ("agent a..b", _pool, ["acquire", "--agent", "a..b"], 2, "invalid agent name"),
    ("agent .lock", _pool, ["acquire", "--agent", "x.lock"], 2, "invalid agent name"),
    ("agent empty", _pool, ["acquire", "--agent", ""], 2, "invalid agent name"),
    ("task with slash", _pool, ["acquire", "--agent", "a", "--task", "a/b"], 2, "invalid task"),
    ("no agent", _pool, ["acquire"], 2, "missing option '--agent'"),
    # claims
    ("task held by another", _pool, ["acquire", "--agent", "b", "--task", "taken"], 1, "held by"),
    (
        "task held, databases on",
        WithDatabases(_held),
        ["acquire", "--agent", "b", "--task", "taken"],
        1,
        "held by",
    ),
    ("holder, other task", _pool, ["acquire", "--agent", "holder", "--task", "t2"], 2, "already"),
    ("full pool, same task", _full_pool, ["acquire", "--agent", "b", "--task", "taken"], 1, "held"),
    # slots
    ("unknown slot", _pool, ["release", "pool-wt-99"], 2, "no slot named 'pool-wt-99'"),
    ("slot ../", _pool, ["release", "../pool-wt-1"], 2, "invalid slot name"),
    ("slot absolute", _pool, ["release", "/tmp/pool-wt-1"], 2, "invalid slot name"),
    ("release outside a slot", _pool, ["release"], 2, "not inside a slot"),
    # scale
    ("scale by 0", _pool, ["scale", "up", "--by", "0"], 2, "at least 1"),
    ("scale by -1", _pool, ["scale", "down", "--by", "-1"], 2, "at least 1"),
    ("scale to 11", _pool, ["scale", "--to", "11"], 2, "between 3 and 10"),
    ("scale to 0", _pool, ["scale", "--to", "0"], 2, "between 3 and 10"),
    ("scale below min", _pool, ["scale", "down"], 2, "between 3 and 10"),
    ("scale sideways", _pool, ["scale", "sideways"], 2, "'sideways' is not one of"),
    ("scale up and to", _pool, ["scale", "up", "--to", "4"], 2, "either"),
    ("scale nothing", _pool, ["scale"], 2, "either"),
    ("scale to four", _pool, ["scale", "--to", "four"], 2, "invalid value for '--to'"),
    # configuration
    ("config missing", _pool, ["--config", "nope.yaml", "status"], 2, "does not exist"),
    ("config unknown key", _pool_with_config("pool:\n  mx: 1\n"), ["status"], 2, "unknown key"),
    ("config wrong type", _pool_with_config("pool:\n  max: x\n"), ["status"], 2, "an integer"),
    ("config bad yaml", _pool_with_config("pool: [\n"), ["status"], 2, "invalid YAML"),
    ("config alias bomb", _pool_with_config(ALIAS_BOMB), ["status"], 2, "aliases expand to"),
    (
        "config alias bomb in a value",
        _pool_with_config(f"scope:\n  always_include: {_bomb(6)}\n"),
        ["status"],
        2,
        "wtpool.yaml: invalid YAML at line 2, column 246: its aliases expand to more than",
    ),
    ("config alias to itself", _pool_with_config("pool: &p [*p]\n"), ["status"], 2, "to itself"),
    ("config not a map", _pool_with_config("just text\n"), ["status"], 2, "must be a mapping"),
    ("config dup key", _pool_with_config("pool:\n  max: 3\n  max: 4\n"), ["status"], 2, "twice"),
    ("timeout -1", _pool_with_config("timeouts:\n  git: -1\n"), ["status"], 2, "positive"),
    ("timeout inf", _pool_with_config("timeouts:\n  state_lock: .inf\n"), ["status"], 2, "posit"),
    ("timeout nan", _pool_with_config("timeouts:\n  git: .nan\n"), ["status"], 2, "positive"),
    # tracks, spawn, assign, stop
    ("spawn 0", _tasks_pool, ["spawn", "0"], 2, "between 1 and 64, got 0"),
    ("spawn 65", _tasks_pool, ["spawn", "65"], 2, "between 1 and 64, got 65"),
    ("spawn abc", _tasks_pool, ["spawn", "abc"], 2, "invalid value for 'count'"),
    ("spawn -1", _tasks_pool, ["spawn", "--", "-1"], 2, "between 1 and 64, got -1"),
    ("spawn sideways", _tasks_pool, ["spawn", "2", "sideways"], 2, "'sideways' is not one of"),
    ("spawn no count", _tasks_pool, ["spawn"], 2, "missing argument 'count'"),
    (
        "limits.disk_warning not a size",
        _task_pool(YAML_SOURCE + "limits:\n  disk_warning: lots\n"),
        ["check"],
        2,
        "limits.disk_warning: 'lots' is not a size",
    ),
    (
        "limits warning above critical",
        _task_pool(YAML_SOURCE + "limits:\n  db_connections_warning: 60\n"),
        ["acquire", "--agent", "a"],
        2,
        "db_connections warning 60 must be above 0 and at most the critical 50",
    ),
    (
        "limits fd over 100%",
        _task_pool(YAML_SOURCE + "limits:\n  fd_critical_percent: 150\n"),
        ["monitor", "--once"],
        2,
        "fd_critical_percent must be at most 100",
    ),
    (
        "monitor.interval zero",
        _task_pool(YAML_SOURCE + "monitor:\n  interval: 0\n"),
        ["monitor", "--once"],
        2,
        "monitor.interval must be a positive number",
    ),
    ("monitor --interval 0", _tasks_pool, ["monitor", "--interval", "0"], 2, "--interval"),
    ("check without a pool", _tasks_no_pool, ["check"], 1, "no wtpool pool"),
    ("monitor without a pool", _tasks_no_pool, ["monitor", "--once"], 1, "no wtpool pool"),
    (
        "database.mode unknown",
        _task_pool(YAML_SOURCE + "database:\n  mode: sqlite\n"),
        ["acquire", "--agent", "a"],
        2,
        "database.mode must be one of",
    ),
    (
        "database.strategy unknown",
        _task_pool(YAML_SOURCE + "database:\n  strategy: fast\n"),
        ["acquire", "--agent", "a"],
        2,
        "database.strategy must be one of",
    ),
    (
        "database.setup outside",
        _task_pool(YAML_SOURCE + "database:\n  setup: [../schema.sql]\n"),
        ["acquire", "--agent", "a"],
        2,
        "points outside the repository",
    ),
    (
        "database.setup missing file",
        _task_pool(YAML_SOURCE + "database:\n  mode: embedded\n  setup: [nope.sql]\n"),
        ["acquire", "--agent", "a"],
        2,
        "cannot read nope.sql",
    ),
    (
        "external without url",
        _task_pool(YAML_SOURCE + "database:\n  mode: external\n"),
        ["acquire", "--agent", "a"],
        2,
        "no server is given",
    ),
    ("db list, mode none", _tasks_pool, ["db", "list"], 2, "database.mode is none"),
    ("db url, bad slot name", _tasks_pool, ["db", "url", "../x"], 2, "invalid slot name"),
    ("spawn without a pool", _tasks_no_pool, ["spawn", "1"], 1, "no wtpool pool"),
    ("spawn dry run, no pool", _tasks_no_pool, ["spawn", "1", "--dry-run"], 1, "no wtpool pool"),
    ("spawn, no task file", _task_pool(tasks=None), ["spawn", "1"], 2, "looked for tasks.yaml"),
    (
        "spawn, no beads export",
        _task_pool(BEADS_SOURCE),
        ["spawn", "1"],
        2,
        "looked for .beads/issues.jsonl and .beads/beads.jsonl",
    ),
    (
        "spawn, malformed export",
        _task_pool(BEADS_SOURCE, beads=BEADS_WITH_A_BAD_LINE),
        ["spawn", "1"],
        2,
        "issues.jsonl:2: malformed task record",
    ),
    (
        "spawn, invalid tasks.yaml",
        _task_pool(tasks="tasks:\n  - id: a\n    title: x: y\n  - id: b\n"),
        ["spawn", "1"],
        2,
        "tasks.yaml: invalid YAML at line 3",
    ),
    (
        "tasks.yaml alias bomb",
        _task_pool(tasks=f"defs: {_bomb(6)}\ntasks:\n  - {{id: a, title: A, files: *a6}}\n"),
        ["tracks", "analyze"],
        2,
        "tasks.yaml: invalid YAML at line 1, column 234: its aliases expand to more than",
    ),
    (
        "tasks.yaml alias to itself",
        _task_pool(tasks="tasks: &t [*t]\n"),
        ["spawn", "1"],
        2,
        "alias *t refers to itself",
    ),
    ("tasks.yaml of 64 MB", _huge("tasks.yaml", YAML_SOURCE), ["spawn", "1"], 2, "than 64,000,000"),
    (
        "beads export of 64 MB",
        _huge(".beads/issues.jsonl", BEADS_SOURCE),
        ["tracks", "analyze"],
        2,
        "issues.jsonl: the task file is larger than 64,000,000 bytes",
    ),
    (
        "spawn, tasks.yaml id twice",
        _task_pool(tasks="tasks:\n  - id: a\n  - id: a\n"),
        ["spawn", "1"],
        2,
        "tasks.yaml: task 2: id 'a' is given twice",
    ),
    (
        "spawn, agent not found",
        _task_pool(YAML_SOURCE + "agent:\n  command: [no-such-program-xyz]\n"),
        ["spawn", "1"],
        2,
        "program 'no-such-program-xyz' not found",
    ),
    (
        "config unknown placeholder",
        _task_pool(YAML_SOURCE + "agent:\n  command: [echo, '{tsk}']\n"),
        ["spawn", "1"],
        2,
        "unknown placeholder {tsk}",
    ),
    (
        "config unknown source",
        _task_pool("tasks:\n  source: jira\n"),
        ["tracks", "analyze"],
        2,
        "tasks.source must be one of",
    ),
    (
        "config tasks.path outside",
        _task_pool("tasks:\n  source: yaml\n  path: ../tasks.yaml\n"),
        ["spawn", "1"],
        2,
        "points outside the repository",
    ),
    ("assign unknown task", _tasks_pool, ["assign", "bob", "nosuch"], 2, "no task 'nosuch'"),
    ("assign agent ../x", _tasks_pool, ["assign", "../x", "api"], 2, "invalid agent name"),
    ("assign task ../x", _tasks_pool, ["assign", "bob", "../x"], 2, "invalid task name"),
    ("assign closed task", _tasks_pool, ["assign", "bob", "shipped"], 2, "nothing to do"),
    ("assign blocked task", _tasks_pool, ["assign", "bob", "api-docs"], 1, "is not ready"),
    (
        "assign escaping scope",
        _task_pool(tasks=ESCAPING_TASKS),
        ["assign", "bob", "esc"],
        2,
        "escapes the repository",
    ),
    ("assign no task", _tasks_pool, ["assign", "bob"], 2, "missing argument 'task'"),
    ("stop nothing", _tasks_pool, ["stop"], 2, "name one slot, or pass --all"),
    ("stop slot and --all", _tasks_pool, ["stop", "pool-wt-1", "--all"], 2, "name one slot"),
    ("stop unknown slot", _tasks_pool, ["stop", "pool-wt-99"], 2, "no slot named 'pool-wt-99'"),
    ("stop ../x", _tasks_pool, ["stop", "../x"], 2, "invalid slot name"),
    ("stop without a pool", _tasks_no_pool, ["stop", "--all"], 1, "no wtpool pool"),
    ("recommend 0", _tasks_pool, ["tracks", "recommend", "0"], 2, "at least 1, got 0"),
    ("recommend sideways", _tasks_pool, ["tracks", "recommend", "1", "x"], 2, "'x' is not one"),
    ("tracks nothing", _tasks_pool, ["tracks", "frobnicate"], 2, "no such command"),
    (
        "analyze, malformed export",
        _task_pool(BEADS_SOURCE, beads=BEADS_WITH_A_BAD_LINE),
        ["tracks", "analyze", "--json"],
        2,
        "issues.jsonl:2: malformed task record",
    ),
    (
        "conflicts, no task file",
        _task_pool(tasks=None),
        ["tracks", "conflicts"],
        2,
        "no task file",
    ),
    # the merge queue
    ("merge unknown slot", _pool, ["merge", "pool-wt-9"], 2, "no slot named pool-wt-9"),
    ("merge unknown task", _pool, ["merge", "nosuch"], 2, "no slot holds task nosuch"),
    ("merge ../", _pool, ["merge", "../etc"], 2, "invalid task name"),
    ("merge absolute path", _pool, ["merge", "/etc/passwd"], 2, "invalid task name"),
    ("merge task with space", _pool, ["merge", "a b"], 2, "invalid task name"),
    ("merge idle slot", _pool, ["merge", "pool-wt-2"], 1, "pool-wt-2 holds no work to merge"),
    ("merge nothing new", _pool, ["merge", "taken"], 1, "nothing to merge"),
    ("merge priority 7", _pool, ["merge", "taken", "--priority", "7"], 2, "between 0 and 4"),
    ("merge priority -1", _pool, ["merge", "taken", "--priority", "-1"], 2, "between 0 and 4"),
    (
        "merge priority four",
        _pool,
        ["merge", "taken", "--priority", "four"],
        2,
        "invalid value for '--priority'",
    ),
    ("merge outside a slot", _pool, ["merge"], 2, "no slot or task given"),
    ("merge without a pool", _repo, ["merge", "x"], 1, "no wtpool pool"),
    ("queue --run without a pool", _repo, ["queue", "--run"], 1, "no wtpool pool"),
    (
        "merge.strategy unknown",
        _pool_with_config("merge:\n  strategy: octopus\n"),
        ["queue"],
        2,
        "merge.strategy must be one of",
    ),
    (
        "merge.remote an option",
        _pool_with_config("merge:\n  remote: --upload-pack=evil\n"),
        ["queue"],
        2,
        "is not a remote name",
    ),
    # the database server is down
    (
        "database down: acquire",
        WithDatabases(_pool_with_config(f"database:\n  mode: external\n  url: {DOWN}\n")),
        ["acquire", "--agent", "newcomer"],
        1,
        "cannot connect to PostgreSQL",
    ),
    (
        "database down: assign",
        _task_pool(YAML_SOURCE + f"database:\n  mode: external\n  url: {DOWN}\n"),
        ["assign", "bob", "api"],
        1,
        "cannot connect to PostgreSQL",
    ),
    (
        "database down: db reset",
        WithDatabases(_pool_with_config(f"database:\n  mode: external\n  url: {DOWN}\n")),
        ["db", "reset", "pool-wt-1"],
        1,
        "cannot connect to PostgreSQL",
    ),
    # numbers past what SQLite stores, or the clock counts
    ("mail read huge id", _pool, ["mail", "read", HUGE], 2, f"no message #{HUGE}"),
    ("mail ack huge id", _pool, ["mail", "ack", HUGE], 2, f"no message #{HUGE}"),
    ("mail read id 0", _pool, ["mail", "read", "0"], 2, "no message #0"),
    ("unreserve huge id", _pool, ["unreserve", "--id", HUGE, "--force"], 2, "no reservation #"),
    ("monitor --interval inf", _pool, ["monitor", "--interval", "inf"], 2, "'--interval'"),
    ("monitor --interval 1e300", _pool, ["monitor", "--interval", "1e300"], 2, "'--interval'"),
    # mail
    ("mail subject with CSI", _pool, [*SEND, "--subject", "a\x9bb"], 2, "subject is one line"),
    ("mail subject with DEL", _pool, [*SEND, "--subject", "a\x7fb"], 2, "subject is one line"),
    # the command line itself
    ("unknown command", _pool, ["frobnicate"], 2, "no such command"),
    ("unknown option", _pool, ["status", "--verbose"], 2, "no such option"),
]


@pytest.mark.parametrize(
    ("setup", "args", "code", "fragment"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_bad_input_is_refused_cleanly(
    tmp_path: Path,
    setup: Callable[[Path], Path],
    args: list[str],
    code: int,
    fragment: str,
) -> None:
    cwd = setup(tmp_path)
    before = snapshot(cwd)
    # A row whose config sets up databases is about them: lift the suite's "no databases".
    about_databases = isinstance(setup, WithDatabases)
    result = wtpool(cwd, *args, env={DATABASE_MODE_VARIABLE: ""} if about_databases else None)
    assert_one_line_error(result, code, fragment)
    assert snapshot(cwd) == before


def test_the_table_is_large_enough() -> None:
    assert len(CASES) >= 100


@pytest.mark.parametrize(
    "args", [["acquire", "--agent", "a"], ["release", "pool-wt-1"], ["cleanup"]]
)
def test_a_read_only_state_store_is_refused_cleanly(tmp_path: Path, args: list[str]) -> None:
    root = _pool(tmp_path)
    pool_dir = root / ".agent-worktrees"
    # As root, permissions do not stop a write; the immutable attribute does.
    locked = subprocess.run(
        ["chattr", "+i", str(pool_dir / "state.db"), str(pool_dir)], capture_output=True
    )
    if locked.returncode != 0:
        pytest.skip(f"cannot make files immutable here: {locked.stderr.decode().strip()}")
    try:
        before = snapshot(root)
        result = wtpool(root, *args)
        assert_one_line_error(result, 1, "state store")
        assert "read-only" in result.stderr
        assert snapshot(root) == before
    finally:
        subprocess.run(["chattr", "-i", str(pool_dir / "state.db"), str(pool_dir)], check=True)


def test_debug_adds_the_traceback_and_keeps_the_exit_code(tmp_path: Path) -> None:
    root = _corrupt_pool(tmp_path)
    result = wtpool(root, "--debug", "status")
    assert result.returncode == 1 and "Traceback" in result.stderr
    assert result.stderr.rstrip().splitlines()[-2].startswith("error: state store")
    usage = wtpool(_pool(tmp_path / "healthy"), "--debug", "acquire", "--agent", "bad name")
    assert usage.returncode == 2 and "Traceback" in usage.stderr


def test_a_task_scope_that_escapes_is_reported_and_skipped_not_fatal(tmp_path: Path) -> None:
    tasks = TASKS_YAML + "  - id: esc\n    title: Escapes\n    files: [../escape]\n"
    root = _task_pool(tasks=tasks)(tmp_path)
    analysis = wtpool_json(root, "tracks", "analyze")
    tracks = {track["id"]: track for track in analysis["tracks"]}
    assert set(tracks) == {"track:api", "track:esc"}
    problem = tracks["track:esc"]["scope_problem"]
    assert problem is not None and "esc" in problem and "escapes the repository" in problem
    assert tracks["track:api"]["scope_problem"] is None
    conflicts = wtpool_json(root, "tracks", "conflicts")
    assert conflicts["conflicts"] == []

    for args in (["--dry-run"], []):
        result = wtpool_json(root, "spawn", "2", *args)
        assert [s["track"] for s in result["spawned"]] == ["track:api"]
        (skip,) = result["skipped"]
        assert (skip["track"], skip["kind"]) == ("track:esc", "unusable")
        assert "escapes the repository" in skip["reason"]
        assert "cannot use" in result["shortfall"]
    branches = git(root, "for-each-ref", "--format=%(refname:short)", "refs/heads/wtpool/task")
    assert branches.split() == ["wtpool/task/api"]
    assert not (tmp_path / "escape").exists() and not (root.parent / "escape").exists()


@pytest.mark.parametrize("where", ["wtpool.yaml", "tasks.yaml"])
def test_an_alias_bomb_is_refused_in_one_short_line_that_names_its_file(
    tmp_path: Path, where: str
) -> None:
    bomb = {
        "wtpool.yaml": f"tasks:\n  source: yaml\nscope:\n  always_include: {_bomb(6)}\n",
        "tasks.yaml": f"defs: {_bomb(6)}\ntasks:\n  - {{id: a, title: A, files: *a6}}\n",
    }
    root = _task_pool()(tmp_path)
    (root / where).write_text(bomb[where])
    result = wtpool(root, "tracks", "analyze")
    assert_one_line_error(result, 2, f"{root / where}: invalid YAML at line")
    assert "alias" in result.stderr and len(result.stderr) < 300, result.stderr[:300]


def test_aliases_that_share_a_little_are_still_read(tmp_path: Path) -> None:
    tasks = "common: &files [src/api/, docs/api.md]\ntasks:\n" + "".join(
        f"  - {{id: t{n}, title: T{n}, files: *files}}\n" for n in range(50)
    )
    root = _task_pool(tasks=tasks)(tmp_path)
    analysis = wtpool_json(root, "tracks", "analyze")
    assert analysis["tasks"] == 50
    for track in analysis["tracks"]:
        assert track["patterns"] == ["src/api/", "docs/api.md"]


def test_a_body_file_is_read_no_further_than_its_limit(tmp_path: Path) -> None:
    """`--body-file /dev/zero` once read until MemoryError. With 2 GiB of address space the
    unfixed code fails within a second or two instead of taking the machine's memory."""
    root = _pool(tmp_path)

    def bounded() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2**31, 2**31))

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "worktree_pool",
            *SEND,
            "--subject",
            "s",
            "--body-file",
            "/dev/zero",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        preexec_fn=bounded,
    )
    assert_one_line_error(result, 2, "/dev/zero: message body is larger than 1,000,000 bytes")

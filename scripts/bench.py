#!/usr/bin/env python3
"""Time wtpool against the naive way, in the same run, and write BENCHMARKS.md.

Each benchmark runs both sides on the same generated repository, repeats each at least five
times, and reports medians and the ratio naive / wtpool. Nothing here asserts a threshold: the
table is the result. `--quick` shrinks the repository so CI can run it as a smoke test.

    python scripts/bench.py                 # full run, writes BENCHMARKS.md
    python scripts/bench.py --quick         # small and fast, writes nothing unless --output
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

from bench_git import git
from fleet_bench import fleet_section

from worktree_pool.config.settings import DatabaseSettings
from worktree_pool.coord.cleanup import cleanup
from worktree_pool.db import server as pgserver
from worktree_pool.db.clone import clone_for_slot, drop_owned
from worktree_pool.db.connection import Server
from worktree_pool.db.slots import owner_of
from worktree_pool.db.template import ensure_template
from worktree_pool.git.repo import open_repository
from worktree_pool.pool.claims import acquire, release
from worktree_pool.pool.lifecycle import init_pool
from worktree_pool.pool.opening import open_store
from worktree_pool.pool.scaling import scale_pool
from worktree_pool.store.pool import require_pool


@dataclass(frozen=True)
class Timing:
    """Seconds over several runs: the median, and the fastest and slowest run."""

    median: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.median * 1000:.0f} ms ({self.low * 1000:.0f}-{self.high * 1000:.0f})"


@dataclass(frozen=True)
class Row:
    name: str
    wtpool: Timing
    naive: Timing
    naive_label: str

    @property
    def ratio(self) -> float:
        return self.naive.median / self.wtpool.median


FILES_PER_DIRECTORY = 100


def generate_repository(root: Path, files: int) -> Path:
    """`files` small files in directories of 100 (50,000 files: 500 directories), on main.
    Its slots get no database: the git benchmarks time git work against git work."""
    root.mkdir(parents=True)
    git(root, "init", "--quiet", "--initial-branch=main")
    (root / "wtpool.yaml").write_text("database:\n  mode: none\n")
    for i in range(files):
        path = root / f"pkg{i // 100:04d}" / f"module{i % 100:03d}.py"
        path.parent.mkdir(exist_ok=True)
        path.write_text(f"VALUE = {i}\n")
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "-m", "generated")
    return root


def median_time(action: Callable[[], None], prepare: Callable[[], None], runs: int) -> Timing:
    return time_each(prepare, [action], runs)[0]


def time_each(
    prepare: Callable[[], None], actions: list[Callable[[], None]], runs: int
) -> list[Timing]:
    """`runs` times over: `prepare` (not timed), then each action in turn, timed. What was
    written or deleted before an action reaches the disk first, so that it does not pay."""
    times: list[list[float]] = [[] for _ in actions]
    for _ in range(runs):
        prepare()
        for action, measured in zip(actions, times, strict=True):
            os.sync()
            start = time.perf_counter()
            action()
            measured.append(time.perf_counter() - start)
    return [_timing(measured) for measured in times]


def full_worktrees(root: Path, paths: list[Path]) -> tuple[Callable[[], None], Callable[[], None]]:
    """The naive way to give each agent a tree of its own: `git worktree add` of all of it at
    each of `paths`; and their `git worktree remove --force`."""

    def add() -> None:
        for path in paths:
            git(root, "worktree", "add", "--quiet", "--detach", str(path), "main")

    def remove() -> None:
        for path in paths:
            if path.exists():
                git(root, "worktree", "remove", "--force", str(path))

    return add, remove


def bench_startup(root: Path, runs: int) -> list[Row]:
    """The two commands agents run most, as a shell runs them (the installed console script,
    a process each): `wtpool --version` beside the interpreter starting and doing nothing, and
    `wtpool status` on an idle pool of 4 empty slots beside `git worktree list`, the least a
    look at the pool's worktrees costs."""
    wtpool = str(Path(sys.executable).with_name("wtpool"))
    init_pool(open_repository(root), 4, 10, None)

    def run(*command: str) -> Callable[[], None]:
        return partial(subprocess.run, command, cwd=root, check=True, capture_output=True)

    nothing: Callable[[], None] = lambda: None  # noqa: E731 (nothing to prepare)
    version, interpreter = time_each(
        nothing, [run(wtpool, "--version"), run(sys.executable, "-c", "pass")], runs
    )
    status, listing = time_each(
        nothing, [run(wtpool, "status"), run("git", "worktree", "list")], runs
    )
    cleanup(open_repository(root), force=True)
    return [
        Row("wtpool --version", version, interpreter, "python -c pass"),
        Row("wtpool status, idle pool of 4 slots", status, listing, "git worktree list"),
    ]


def bench_recycle(root: Path, runs: int) -> Row:
    """Returning a used slot to the pool: wtpool's release against remove + add."""
    repo = open_repository(root)
    init_pool(repo, 1, 2, None)
    repo = open_repository(root)
    store = open_store(repo)
    slot = repo.slot_path("pool-wt-1")
    rounds = iter(range(1_000_000))

    def agent_works() -> None:
        acquire(repo, store, "bench-agent", "bench-task", adhoc=True)
        round_number = next(rounds)
        for i in range(10):
            (slot / f"pkg{i:04d}" / "module000.py").write_text(f"CHANGED = {round_number}\n")
        git(slot, "commit", "--quiet", "-am", "agent work")
        git(repo.root, "merge", "--quiet", "--ff-only", "wtpool/task/bench-task")

    wtpool_time = median_time(lambda: release(repo, store, "pool-wt-1"), agent_works, runs)
    store.close()

    naive_slot = root.parent / "naive-slot"
    git(root, "worktree", "add", "--quiet", "--detach", str(naive_slot), "main")

    def naive_agent_works() -> None:
        for i in range(10):
            (naive_slot / f"pkg{i:04d}" / "module000.py").write_text(f"CHANGED = {i}\n")

    def remove_and_add() -> None:
        git(root, "worktree", "remove", "--force", str(naive_slot))
        git(root, "worktree", "add", "--quiet", "--detach", str(naive_slot), "main")

    naive_time = median_time(remove_and_add, naive_agent_works, runs)
    git(root, "worktree", "remove", "--force", str(naive_slot))
    cleanup(open_repository(root), force=True)
    return Row("recycle one used slot", wtpool_time, naive_time, "worktree remove + add")


def one_percent_scopes(files: int, slots: int) -> list[tuple[str, ...]]:
    """Each slot's scope: 1 % of the directories (at least one), different for each slot."""
    directories = max(1, files // FILES_PER_DIRECTORY)
    per_slot = max(1, directories // 100)
    return [
        tuple(f"pkg{(n * per_slot + d) % directories:04d}/" for d in range(per_slot))
        for n in range(slots)
    ]


def bench_scoped_slots(root: Path, files: int, runs: int) -> list[Row]:
    """Four new slots with 1 % scopes against four full worktrees; then one guard run."""
    repo = open_repository(root)
    init_pool(repo, 1, 10, None)
    repo = open_repository(root)
    store = open_store(repo)
    acquire(repo, store, "holder", None)  # keeps the one full slot busy: the four are new
    scopes = one_percent_scopes(files, 4)

    def create_four() -> None:
        for n, scope in enumerate(scopes):
            acquire(repo, store, f"agent-{n}", None, scope)

    def reset_pool() -> None:
        for n in range(2, 6):
            if repo.slot_path(f"pool-wt-{n}").exists():
                release(repo, store, f"pool-wt-{n}")
        scale_pool(repo, store, to=1)

    wtpool_time = median_time(create_four, reset_pool, runs)
    guard = guard_rows(repo, scopes[0], runs)
    reset_pool()
    store.close()
    cleanup(repo, force=True)

    add_four_full, remove_naive = full_worktrees(
        root, [root.parent / f"naive-{n}" for n in range(4)]
    )
    naive_time = median_time(add_four_full, remove_naive, runs)
    remove_naive()
    return [
        Row("create 4 slots with 1 % scopes", wtpool_time, naive_time, "4 full worktree add"),
        *guard,
    ]


def guard_rows(repo: object, scope: tuple[str, ...], runs: int) -> list[Row]:
    """One commit-guard run in a scoped slot, against the one git call any check must make."""
    slot = repo.slot_path("pool-wt-2")  # type: ignore[attr-defined]
    target = slot / scope[0] / "module000.py"
    hook = repo.pool_dir / ".guards" / "pool-wt-2" / "pre-commit"  # type: ignore[attr-defined]
    rounds = iter(range(1_000_000))

    def stage() -> None:
        target.write_text(f"STAGED = {next(rounds)}\n")
        git(slot, "add", str(target))

    def run_hook() -> None:
        subprocess.run([str(hook)], cwd=slot, check=True, capture_output=True)

    def plain_diff() -> None:
        git(slot, "diff", "--cached", "--name-only")

    hook_time = median_time(run_hook, stage, runs)
    diff_time = median_time(plain_diff, stage, runs)
    return [Row("one commit-guard run", hook_time, diff_time, "git diff --cached alone")]


def bench_monitor(root: Path, files: int, runs: int) -> list[Row]:
    """One refresh of `wtpool monitor` with 10 busy slots, full and then with 1 % scopes,
    against measuring everything afresh on each refresh: walking every slot for its disk
    usage, and `git status` and `git rev-list` in each."""
    from rich.console import Console

    from worktree_pool.cli.render.monitor import render_frame
    from worktree_pool.coord.watch import Monitor
    from worktree_pool.monitor.diskusage import tree_bytes

    rows = []
    for label, scopes in (("10 full slots", [None] * 10), ("10 slots, 1 % scopes", None)):
        repo = open_repository(root)
        init_pool(repo, 1, 10, None)
        repo = open_repository(root)
        store = open_store(repo)
        for n, scope in enumerate(scopes or one_percent_scopes(files, 10)):
            acquire(repo, store, f"agent-{n}", f"task-{n}", scope, adhoc=True)
        monitor = Monitor(repo, store, background=True)
        screen = Console(file=open(os.devnull, "w"), width=80)  # noqa: SIM115 - closed below
        monitor.frame()  # the first frame measures; later ones reuse what it measured

        def refresh(monitor: Monitor = monitor, screen: Console = screen) -> None:
            screen.print(render_frame(monitor.frame()))

        def measure_all(repo: object = repo) -> None:
            for n in range(1, 11):
                slot = repo.slot_path(f"pool-wt-{n}")  # type: ignore[attr-defined]
                tree_bytes(slot)
                git(slot, "status", "--porcelain", "--untracked-files")
                git(slot, "rev-list", "--left-right", "--count", "HEAD...main")

        rows.append(
            Row(
                f"one monitor refresh, {label}",
                median_time(refresh, lambda: None, runs),
                median_time(measure_all, lambda: None, runs),
                "du + git status + rev-list per slot",
            )
        )
        screen.file.close()
        store.close()
        cleanup(repo, force=True)
    return rows


MERGED_BRANCHES = (20, 100)  # batches of the default merge.batch_size, and five of them


def make_branches(root: Path, count: int) -> list[str]:
    """`count` branches off main, each changing one file of its own directory, made with
    plumbing (a scratch index) so that making them costs nothing worth noting."""
    index = root.parent / "bench-index"
    branches = []
    for n in range(count):
        git(root, "read-tree", "main", index=index)
        blob = git(root, "hash-object", "-w", "--stdin", stdin=f"MERGED = {n}\n")
        path = f"pkg{n:04d}/module000.py"
        git(root, "update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", index=index)
        tree = git(root, "write-tree", index=index)
        commit = git(root, "commit-tree", tree, "-p", "main", "-m", f"work {n}")
        branch = f"wtpool/task/merge-{n}"
        git(root, "update-ref", f"refs/heads/{branch}", commit)
        branches.append(branch)
    return branches


def bench_merge_queue(root: Path, runs: int, count: int) -> Row:
    """Landing `count` branches on a main that is checked out in the main worktree: the queue
    (batches of merge.batch_size: a chain built with merge-tree and commit-tree, one
    compare-and-swap and one bring-along of the checkout per batch) against the
    original design's way, a lock, main checked out in a working tree, then `git merge`."""
    import fcntl

    from worktree_pool.merge.landing import run_queue
    from worktree_pool.merge.queue import enqueue

    start = git(root, "rev-parse", "main")
    branches = make_branches(root, count)
    repo = open_repository(root)
    init_pool(repo, 1, 2, None)
    repo = open_repository(root)
    store = open_store(repo)

    def back_to_start() -> None:
        git(root, "reset", "--quiet", "--hard", start)

    def queue_them() -> None:
        back_to_start()
        for branch in branches:
            enqueue(repo, store, branch.rsplit("/", 1)[1])

    def land_with_queue() -> None:
        run_queue(repo, store)

    lock_path = root.parent / "naive-merge.lock"

    def lock_checkout_merge() -> None:
        for branch in branches:
            with lock_path.open("w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                git(root, "checkout", "--quiet", "main")
                git(root, "merge", "--quiet", "--no-ff", "--no-edit", branch)

    queue_time = median_time(land_with_queue, queue_them, runs)
    naive_time = median_time(lock_checkout_merge, back_to_start, runs)
    back_to_start()
    store.close()
    cleanup(repo, force=True)
    for branch in branches:
        git(root, "branch", "--quiet", "-D", branch)
    rate = count / queue_time.median
    naive_rate = count / naive_time.median
    return Row(
        f"merge queue: land {count} branches ({rate:.1f} vs {naive_rate:.1f} merges/s)",
        queue_time,
        naive_time,
        "lock + checkout main + git merge",
    )


def cargo_workspace_repository(root: Path, files: int, crates: int) -> Path:
    """`files` files, `crates` of whose directories are the members of one Cargo workspace,
    each crate depending by path on the one before it (so a scoped crate's view holds a chain
    of path dependencies), and four task tracks, one per crate, for spawn."""
    root.mkdir(parents=True)
    git(root, "init", "--quiet", "--initial-branch=main")
    members = []
    for number in range(crates):
        crate = root / "crates" / f"c{number:03d}"
        (crate / "src").mkdir(parents=True)
        depends = f'c{number - 1:03d} = {{ path = "../c{number - 1:03d}" }}\n' if number else ""
        (crate / "Cargo.toml").write_text(
            f'[package]\nname = "c{number:03d}"\nversion = "0.1.0"\n\n[dependencies]\n{depends}'
        )
        (crate / "src" / "lib.rs").write_text(f"pub fn f{number}() {{}}\n")
        members.append(f'"crates/c{number:03d}"')
    (root / "Cargo.toml").write_text(f"[workspace]\nmembers = [{', '.join(members)}]\n")
    for i in range(files - 3 * crates - 1):
        path = root / f"pkg{i // 100:04d}" / f"module{i % 100:03d}.py"
        path.parent.mkdir(exist_ok=True)
        path.write_text(f"VALUE = {i}\n")
    tracks = "".join(
        f"  - {{id: t{n}, title: crate {n}, files: [crates/c{n * 20 + 5:03d}/]}}\n"
        for n in range(4)
    )
    (root / "tasks.yaml").write_text(f"tasks:\n{tracks}")
    (root / "wtpool.yaml").write_text("database:\n  mode: none\ntasks:\n  source: yaml\n")
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "-m", "generated")
    return root


def bench_views(workdir: Path, files: int, runs: int) -> list[Row]:
    """A slot's view in a 100-crate workspace: planning it against planning the write scope
    alone; then spawn 4 with views, and with write scopes only, each against the naive way
    to four trees that build: 4 full `git worktree add`."""
    from worktree_pool.scope.sparse import plan_scope
    from worktree_pool.scope.view import plan_view

    root = cargo_workspace_repository(workdir / "cargo-repo", files, 100)
    repo = open_repository(root)
    scope = ("crates/c050/",)
    view = median_time(lambda: plan_view(repo, repo.git, scope), lambda: None, runs)
    write = median_time(
        lambda: plan_scope(repo.git, scope, repo.config.scope.always_include), lambda: None, runs
    )
    label = f"plan the write scope alone ({files:,} files)"
    rows = [Row(f"plan a slot's view: 100-crate workspace, {files:,} files", view, write, label)]
    with_views = median_time(
        lambda: (_init(root), _spawn_four(root)), lambda: _cleanup_if_any(root), runs
    )
    config = root / "wtpool.yaml"
    config.write_text(config.read_text() + "scope:\n  context_auto: false\n")
    only_write = median_time(
        lambda: (_init(root), _spawn_four(root)), lambda: _cleanup_if_any(root), runs
    )
    _cleanup_if_any(root)
    add_four, remove_four = full_worktrees(root, [workdir / f"naive-cargo-{n}" for n in range(4)])
    naive = median_time(add_four, remove_four, runs)
    remove_four()
    label = "4 full worktree add (all of it: they build)"
    workspace = "spawn 4 in a 100-crate workspace"
    rows.append(Row(f"{workspace}, with views", with_views, naive, label))
    rows.append(Row(f"{workspace}, write scopes only (no build)", only_write, naive, label))
    return rows


def task_graph_repository(root: Path, tasks: int, commits: int, files: int) -> Path:
    """A repository with history: `files` Go files in directories of 50, `commits` commits
    written with fast-import, each changing a few files and naming one of the closed tasks,
    and a Beads export of `tasks` tasks (70 % closed) whose texts name identifiers, paths and
    words of the tree, as real ones do."""
    import json
    import random

    rng = random.Random(7)
    root.mkdir(parents=True)
    git(root, "init", "--quiet", "--initial-branch=main")
    paths = [f"svc{i // 50:03d}/part{i % 50:02d}/handler{i:05d}.go" for i in range(files)]
    closed = int(tasks * 0.7)
    stream = []
    for number in range(1, commits + 1):
        task = rng.randint(1, closed)
        stream.append(
            f"commit refs/heads/main\ncommitter A <a@example.com> {1_600_000_000 + number} +0000"
        )
        message = f"bd-{task}: work on bd-{task}\n"
        stream.append(f"data {len(message.encode())}\n{message}")
        changed = paths if number == 1 else rng.sample(paths[task % 40 * 50 :][:50], 3)
        for path in changed:
            body = f"package p\n\nfunc Handle{path[-8:-3]}Step{number}() {{}}\n"
            stream.append(f"M 100644 inline {path}\ndata {len(body.encode())}\n{body}")
        stream.append("")
    git(root, "fast-import", "--quiet", stdin="\n".join(stream) + "\n")
    git(root, "reset", "--quiet", "--hard", "main")
    issues = []
    for number in range(1, tasks + 1):
        area = number % 40
        issues.append(
            {
                "id": f"bd-{number}",
                "title": f"Improve handler{area * 50:05d} in svc{area:03d}",
                "description": f"Change Handle{area * 50:05d}Step1 and svc{area:03d}/part00/.",
                "status": "closed" if number <= closed else "open",
                "priority": 2,
                "issue_type": "task",
                "dependencies": [],
            }
        )
    (root / ".beads").mkdir()
    (root / ".beads" / "issues.jsonl").write_text("\n".join(json.dumps(i) for i in issues))
    (root / "wtpool.yaml").write_text("database:\n  mode: none\n")
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "-m", "tasks")
    return root


def bench_tracks_analyze(workdir: Path, runs: int) -> Row:
    """`tracks analyze` on 1,000 tasks and 3,000 commits, history cached by HEAD in the pool,
    against the same command reading history again each time (no pool, so no cache)."""
    root = task_graph_repository(workdir / "tasks-repo", 1_000, 3_000, 2_000)
    bare = workdir / "tasks-repo-no-pool"
    git(workdir, "clone", "--quiet", str(root), str(bare))
    wtpool = [sys.executable, "-m", "worktree_pool", "tracks", "analyze", "--json"]
    subprocess.run(
        [sys.executable, "-m", "worktree_pool", "init"], cwd=root, check=True, capture_output=True
    )

    def analyze(where: Path) -> Callable[[], None]:
        return lambda: subprocess.run(wtpool, cwd=where, check=True, capture_output=True)

    analyze(root)()  # fills the cache, as the first command after a commit does
    cached = median_time(analyze(root), lambda: None, runs)
    naive = median_time(analyze(bare), lambda: None, runs)
    return Row(
        "tracks analyze, 1,000 tasks and 3,000 commits",
        cached,
        naive,
        "the same, history read again (no cache)",
    )


def payload_sql(rows_of_data: int) -> str:
    """Setup SQL that builds a template of about 200 bytes a row (650,000 rows: ~125 MB)."""
    return (
        "CREATE TABLE payload AS SELECT g AS id, repeat(md5(g::text), 4) AS body"
        f" FROM generate_series(1, {rows_of_data}) AS g;\n"
        "CREATE INDEX payload_id ON payload (id);\n"
    )


def spawn_repository(
    root: Path, files: int, rows_of_data: int | None, extra_config: str = ""
) -> Path:
    """A generated repository with four independent tasks of 1 % scopes and, when
    `rows_of_data` is given, an embedded database built by payload_sql."""
    generate_repository(root, files)
    tasks = "".join(
        f"  - id: task-{n}\n    files: [{', '.join(scope)}]\n"
        for n, scope in enumerate(one_percent_scopes(files, 4))
    )
    (root / "tasks.yaml").write_text(f"tasks:\n{tasks}")
    config = "pool:\n  min: 4\n  max: 10\ntasks:\n  source: yaml\n"
    if rows_of_data is None:
        config += "database:\n  mode: none\n"
    else:
        (root / "setup.sql").write_text(payload_sql(rows_of_data))
        config += "database:\n  mode: embedded\n  setup: [setup.sql]\n"
    (root / "wtpool.yaml").write_text(config + extra_config)
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "-m", "tasks and setup")
    return root


def _spawn_four(root: Path) -> None:
    from worktree_pool.config.settings import Mode
    from worktree_pool.coord.spawn import spawn

    repo = open_repository(root)
    store = open_store(repo)
    try:
        result = spawn(repo, store, 4, Mode.INDEPENDENT)
        assert len(result.spawned) == 4, result.shortfall
    finally:
        store.close()


def _init(root: Path) -> None:
    init_pool(open_repository(root), 4, 10, None)


def _cleanup(root: Path) -> None:
    result = cleanup(open_repository(root), force=True)
    assert result.complete, result


def _release_all(root: Path) -> None:
    repo = open_repository(root)
    store = open_store(repo)
    try:
        for n in range(1, 11):
            if repo.slot_path(f"pool-wt-{n}").exists():
                release(repo, store, f"pool-wt-{n}")
    finally:
        store.close()


def bench_spawn(workdir: Path, files: int, rows_of_data: int, runs: int) -> list[Row]:
    """`spawn 4 independent` with 1 % scopes and an embedded database per slot: cold (no
    pool, no server, no template) and warm (the pool initialised, the server up, the template
    built), against the naive way: 4 full `git worktree add`, then `createdb` and the setup
    SQL for each."""
    import psycopg

    root = spawn_repository(workdir / "spawn-repo", files, rows_of_data)
    cold = median_time(
        lambda: (_init(root), _spawn_four(root)), lambda: _cleanup_if_any(root), runs
    )
    warm = median_time(lambda: _spawn_four(root), lambda: _release_all(root), runs)
    server = Server(pgserver.ensure_running(open_repository(root)))
    naive_paths = [workdir / f"naive-spawn-{n}" for n in range(4)]
    setup = payload_sql(rows_of_data).encode()

    def naive_reset() -> None:
        for n, path in enumerate(naive_paths):
            if path.exists():
                git(root, "worktree", "remove", "--force", str(path))
            with psycopg.connect(server.conninfo, autocommit=True) as connection:
                connection.execute(f"DROP DATABASE IF EXISTS bench_naive_{n} WITH (FORCE)")

    def naive_spawn() -> None:
        for n, path in enumerate(naive_paths):
            git(root, "worktree", "add", "--quiet", "--detach", str(path), "main")
            with psycopg.connect(server.conninfo, autocommit=True) as connection:
                connection.execute(f"CREATE DATABASE bench_naive_{n}")
            with psycopg.connect(server.url_for(f"bench_naive_{n}"), autocommit=True) as c:
                c.execute(setup)

    naive = median_time(naive_spawn, naive_reset, runs)
    naive_reset()
    _cleanup(root)
    label = "4 full worktree add + createdb + setup SQL"
    return [
        Row("spawn 4 independent, cold (no pool, server or template)", cold, naive, label),
        Row("spawn 4 independent, warm (pool initialised)", warm, naive, label),
    ]


def _cleanup_if_any(root: Path) -> None:
    if (root / ".agent-worktrees" / "state.db").exists():
        _cleanup(root)


def bench_cleanup(workdir: Path, files: int, rows_of_data: int, runs: int) -> Row:
    """`cleanup` of 10 busy slots (1 % scopes) with their databases, against the least any
    cleanup must do to the same slots: `git worktree remove --force` and DROP DATABASE each,
    with no check for unique work."""
    import psycopg

    root = spawn_repository(workdir / "cleanup-repo", files, rows_of_data)
    scopes = one_percent_scopes(files, 10)

    def ten_busy_slots() -> None:
        _cleanup_if_any(root)
        _init(root)
        repo = open_repository(root)
        store = open_store(repo)
        for n, scope in enumerate(scopes):
            acquire(repo, store, f"agent-{n}", f"task-{n}", scope, adhoc=True)
        store.close()

    wtpool_time = median_time(lambda: _cleanup(root), ten_busy_slots, runs)

    def remove_and_drop() -> None:
        repo = open_repository(root)
        server = Server(pgserver.ensure_running(repo))
        with psycopg.connect(server.conninfo, autocommit=True) as connection:
            names = [
                row[0]
                for row in connection.execute(
                    "SELECT datname FROM pg_database WHERE datname LIKE '%\\_wt\\_%'"
                )
            ]
        for n in range(1, 11):
            git(root, "worktree", "remove", "--force", str(repo.slot_path(f"pool-wt-{n}")))
        with psycopg.connect(server.conninfo, autocommit=True) as connection:
            for name in names:
                connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')

    naive_time = median_time(remove_and_drop, ten_busy_slots, runs)
    _cleanup_if_any(root)
    return Row(
        "cleanup of 10 slots with their databases",
        wtpool_time,
        naive_time,
        "worktree remove --force + DROP DATABASE each",
    )


@dataclass(frozen=True)
class ScalingRow:
    files: int
    spawn: Timing
    cleanup: Timing
    naive_add: Timing
    naive_remove: Timing


# Idle slots are empty now, but the limits count the repository's own checkout too: at 200,000
# files that alone nears the default disk warning, which is not what this table measures.
ROOMY_DISK = "limits:\n  disk_warning: 100GB\n  disk_critical: 200GB\n"


def node_modules_repository(root: Path, megabytes: int) -> Path:
    """A small project whose main worktree has an ignored `node_modules` of `megabytes` MB in
    100 files a MB, as npm leaves it: mostly files of a few KB, and every 500th one of 4 MB
    (200 MB: 20,000 files, 40 of them large); `copy: [node_modules/]`."""
    root.mkdir(parents=True)
    git(root, "init", "--quiet", "--initial-branch=main")
    (root / ".gitignore").write_text("node_modules/\n")
    (root / "wtpool.yaml").write_text("database:\n  mode: none\ncopy: [node_modules/]\n")
    (root / "index.js").write_text("require('left-pad')\n")
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "-m", "project")
    files, large = megabytes * 100, 4 * 1024 * 1024
    larges = files // 500
    small = (megabytes * 1024 * 1024 - larges * large) // (files - larges)
    for count in range(files):
        path = root / "node_modules" / f"pkg{count // 50:04d}" / f"file{count % 50:02d}.js"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(large if count % 500 == 499 else small))
    return root


@contextmanager
def reflink_mount(workdir: Path) -> Iterator[Path | None]:
    """A directory on an XFS image with reflink, mounted for the benchmark; None where it
    cannot be made (not root, no mkfs.xfs)."""
    if os.geteuid() != 0 or shutil.which("mkfs.xfs") is None:
        yield None
        return
    image, mount = workdir / "xfs.img", workdir / "xfs"
    mount.mkdir()
    with image.open("wb") as handle:
        handle.truncate(3 * 1024**3)
    made = subprocess.run(["mkfs.xfs", "-q", "-m", "reflink=1", str(image)], check=False)
    if (
        made.returncode
        or subprocess.run(["mount", "-o", "loop", str(image), str(mount)]).returncode
    ):
        yield None
        return
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
        image.unlink(missing_ok=True)


def bench_copies(workdir: Path, megabytes: int, runs: int) -> list[Row]:
    """`acquire` of a slot that must be created, with `copy: [node_modules/]`, against the
    naive way to the same tree: `git worktree add` and `cp -r node_modules` into it (coreutils
    cp clones where the file system can, as wtpool does). On an XFS image with reflink, and on
    the ordinary disk."""
    rows = []
    with reflink_mount(workdir) as xfs:
        places = [("reflink (XFS)", xfs), ("plain copy (this disk)", workdir / "plain")]
        for label, place in places:
            if place is None:
                print("copies: no reflink file system (needs root and mkfs.xfs)", flush=True)
                continue
            root = node_modules_repository(place / "project", megabytes)
            naive = place / "naive"

            def prepare(root: Path = root, naive: Path = naive) -> None:
                _cleanup_if_any(root)
                if naive.exists():
                    git(root, "worktree", "remove", "--force", str(naive))
                init_pool(open_repository(root), 1, 10, None)
                repo = open_repository(root)
                with open_store(repo) as store:  # slot 1 taken: the next claim makes a slot
                    acquire(repo, store, "first", None)

            def claim(root: Path = root) -> None:
                repo = open_repository(root)
                with open_store(repo) as store:
                    acquire(repo, store, "second", None)
                assert (root / ".agent-worktrees" / "pool-wt-2" / "node_modules").is_dir()

            def copy(root: Path = root, naive: Path = naive) -> None:
                git(root, "worktree", "add", "--quiet", "--detach", str(naive), "main")
                subprocess.run(["cp", "-r", "node_modules", str(naive)], cwd=root, check=True)

            wtpool, plain = time_each(prepare, [claim, copy], runs)
            name = f"acquire a new slot with a {megabytes} MB node_modules: {label}"
            rows.append(Row(name, wtpool, plain, "git worktree add + cp -r"))
            _cleanup_if_any(root)
            shutil.rmtree(place / "project", ignore_errors=True)
    return rows


def bench_scaling(workdir: Path, files: int, runs: int) -> ScalingRow:
    """How spawn (4 tracks, 1 % scopes, no databases) and cleanup grow with the repository,
    beside 4 full `git worktree add` and their `git worktree remove --force`."""
    root = spawn_repository(workdir / f"scaling-{files}", files, None, ROOMY_DISK)
    spawns, cleanups = time_each(
        partial(_init, root), [partial(_spawn_four, root), partial(_cleanup, root)], runs
    )
    add_four, remove_four = full_worktrees(root, [workdir / f"naive-scaling-{n}" for n in range(4)])
    adds, removes = time_each(lambda: None, [add_four, remove_four], runs)
    shutil.rmtree(root, ignore_errors=True)
    return ScalingRow(files, spawns, cleanups, adds, removes)


def _timing(times: list[float]) -> Timing:
    return Timing(statistics.median(times), min(times), max(times))


def bench_database_clones(workdir: Path, rows_of_data: int, runs: int) -> list[Row]:
    """A slot's database: cloning the template, per strategy, against running the setup SQL
    in a new database, on wtpool's embedded server."""
    root = workdir / "db-repo"
    root.mkdir()
    setup = payload_sql(rows_of_data)
    (root / "setup.sql").write_text(setup)
    (root / "wtpool.yaml").write_text(
        "pool:\n  min: 1\n  max: 2\ndatabase:\n  mode: embedded\n  setup: [setup.sql]\n"
    )
    git(root, "init", "--quiet", "--initial-branch=main")
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "-m", "setup")
    init_pool(open_repository(root), 1, 2, None)
    repo = open_repository(root)
    store = open_store(repo)
    with store.snapshot() as conn:
        owner = owner_of(repo, store, require_pool(conn, repo))
    server = Server(pgserver.ensure_running(repo))
    template = ensure_template(server, repo.config.database, root, owner).name
    import psycopg

    with psycopg.connect(server.conninfo) as connection:
        size = connection.execute("SELECT pg_database_size(%s)", (template,)).fetchone()[0]
    megabytes = size / 1_048_576

    def drop_naive() -> None:
        with psycopg.connect(server.conninfo, autocommit=True) as connection:
            connection.execute("DROP DATABASE IF EXISTS bench_naive WITH (FORCE)")

    def setup_from_scratch() -> None:
        with psycopg.connect(server.conninfo, autocommit=True) as connection:
            connection.execute("CREATE DATABASE bench_naive")
        with psycopg.connect(server.url_for("bench_naive"), autocommit=True) as connection:
            connection.execute(setup.encode())

    naive = median_time(setup_from_scratch, drop_naive, runs)
    rows = []
    for strategy in ("wal_log", "file_copy"):
        settings = replace(repo.config.database, strategy=strategy)

        def clone(settings: DatabaseSettings = settings) -> None:
            clone_for_slot(server, settings, template, "bench_wt_1", "pool-wt-1", owner)

        def drop_clone() -> None:
            drop_owned(server, ["bench_wt_1"], owner)

        rows.append(
            Row(
                f"a slot's database: clone a {megabytes:.0f} MB template ({strategy})",
                median_time(clone, drop_clone, runs),
                naive,
                "run the setup SQL in a new database",
            )
        )
    drop_naive()
    cleanup(repo, force=True)  # drops the databases and stops the server
    return rows


def machine_lines(files: int, runs: int) -> list[str]:
    return [
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()} "
        f"{platform.release()}",
        f"- {git(Path.cwd(), '--version')}, Python {platform.python_version()}, "
        f"PostgreSQL {pgserver.version()} (embedded)",
        f"- wtpool at commit {_wtpool_commit()}",
        f"- repository: {files:,} files; medians of {runs} runs",
    ]


def _wtpool_commit() -> str:
    source = Path(__file__).resolve().parent
    result = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=source, capture_output=True, text=True
    )
    return result.stdout.strip() or "unknown (not a git checkout)"


def render_scaling(rows: list[ScalingRow]) -> str:
    if not rows:
        return ""
    lines = [
        "",
        "## How spawn and cleanup grow with the repository",
        "",
        "The first `spawn 4 independent` on a freshly initialised pool (1 % scopes, no"
        " databases: its idle slots are empty, and spawn checks out each scope), then `cleanup`,"
        " beside 4 full `git worktree add` and their removal.",
        "",
        "| files | spawn 4 | 4 full worktree add | ratio | cleanup | 4 worktree remove | ratio |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.files:,} | {r.spawn} | {r.naive_add}"
        f" | {r.naive_add.median / r.spawn.median:.1f}x | {r.cleanup} | {r.naive_remove}"
        f" | {r.naive_remove.median / r.cleanup.median:.1f}x |"
        for r in rows
    ]
    return "\n".join(lines) + "\n"


# Sections measured by other scripts (start-up imports: scripts/startup_imports.py), which a
# run of this one keeps as they are.
KEPT_HEADING = "\n## Start-up"


def kept_sections(output: Path | None) -> str:
    if output is None or not output.is_file():
        return ""
    text = output.read_text()
    start = text.find(KEPT_HEADING)
    return text[start:] if start >= 0 else ""


def render(rows: list[Row], files: int, runs: int) -> str:
    lines = [
        "# Benchmarks",
        "",
        "Written by `python scripts/bench.py`; each row times wtpool and the naive way in the",
        "same run on the same repository. Times are medians, with the fastest and slowest run in",
        "parentheses; ratio = naive median / wtpool median (higher is better for wtpool).",
        "",
        *machine_lines(files, runs),
        "",
        "| benchmark | wtpool | naive way | naive | ratio |",
        "|---|---:|---|---:|---:|",
    ]
    lines += [
        f"| {r.name} | {r.wtpool} | {r.naive_label} | {r.naive} | {r.ratio:.1f}x |" for r in rows
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small repository, few runs")
    parser.add_argument("--files", type=int, help="files in the generated repository")
    parser.add_argument("--runs", type=int, help="repetitions per measurement (at least 5)")
    parser.add_argument("--output", type=Path, help="where to write the table")
    args = parser.parse_args()
    files = args.files or (2_000 if args.quick else 50_000)
    # The quick run is CI's smoke test that the script still works: two runs say as much.
    runs = (args.runs or 2) if args.quick else max(5, args.runs or 5)
    output = args.output or (None if args.quick else Path("BENCHMARKS.md"))

    rows_of_data = 20_000 if args.quick else 650_000  # templates of ~4 MB and ~125 MB
    sizes = [500, 2_000] if args.quick else [5_000, 50_000, 200_000]
    workdir = Path(tempfile.mkdtemp(prefix="wtpool-bench-"))
    rows: list[Row] = []
    scaling: list[ScalingRow] = []

    kept = kept_sections(output)
    fleet = ""

    def publish() -> None:
        # After every benchmark, so that a failure late in an hour's run keeps what it measured.
        table = render(rows, files, runs) + render_scaling(scaling) + fleet + kept
        if output is not None:
            output.write_text(table)

    try:
        root = generate_repository(workdir / "repo", files)
        benchmarks: list[Callable[[], list[Row]]] = [
            lambda: bench_spawn(workdir, files, rows_of_data, runs),
            lambda: bench_startup(root, runs),
            lambda: [bench_recycle(root, runs)],
            lambda: bench_scoped_slots(root, files, runs),
            lambda: bench_monitor(root, files, runs),
            lambda: [bench_merge_queue(root, runs, count) for count in MERGED_BRANCHES],
            lambda: [bench_cleanup(workdir, files, rows_of_data, runs)],
            lambda: bench_database_clones(workdir, rows_of_data, runs),
            lambda: [bench_tracks_analyze(workdir, runs)],
            lambda: bench_views(workdir, files, runs),
            lambda: bench_copies(workdir, 10 if args.quick else 200, runs),
        ]
        for benchmark in benchmarks:
            for row in benchmark():
                print(f"{row.name}: {row.wtpool} against {row.naive}", flush=True)
                rows.append(row)
            publish()
        for size in sizes:
            # At 200,000 files the naive side's four full checkouts and their removal are most
            # of a run's time.
            scaling.append(bench_scaling(workdir, size, runs))
            print(f"scaling, {size:,} files: spawn {scaling[-1].spawn}", flush=True)
            publish()
        fleet = fleet_section(workdir / "fleet", 1 if args.quick else 20)
        publish()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(render(rows, files, runs) + render_scaling(scaling) + fleet, end="")


if __name__ == "__main__":
    main()

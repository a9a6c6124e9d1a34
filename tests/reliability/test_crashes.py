"""Crash injection: a wtpool process is killed with SIGKILL at each named step of spawn,
release, merge and cleanup (the WTPOOL_TEST_POINT hook, see worktree_pool/util/testpoints.py).
Afterwards `wtpool doctor --fix` and then `wtpool cleanup` must leave no worktree, database
(nor the embedded server's data), database server, agent process or lock behind, and every
change made before the kill, committed or not, must be reachable from a branch."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
from pathlib import Path

import psutil
import psycopg
import pytest

from tests.conftest import (
    env_file,
    git,
    make_pool,
    make_repo,
    postgres_processes,
    wtpool,
    wtpool_json,
)
from worktree_pool.config.settings import DATABASE_MODE_VARIABLE
from worktree_pool.util.testpoints import VARIABLE as TEST_POINT

COMMITTED = "committed before the kill\n"
UNCOMMITTED = "not committed before the kill\n"
SPAWN = ["spawn", "1", "independent"]
RELEASE = ["release", "pool-wt-1"]
MERGE = ["merge", "keep", "--wait"]
CLEANUP = ["cleanup"]

# (step, command killed there, whether the slots have databases)
STEPS = [
    ("claim.claimed", SPAWN, False),
    ("template.created", SPAWN, True),  # between CREATE DATABASE and COMMENT ON DATABASE
    ("clone.created", SPAWN, True),  # the same, for the slot's clone
    ("claim.database", SPAWN, True),
    ("claim.checked-out", SPAWN, False),
    ("claim.agent-started", SPAWN, False),
    ("release.releasing", RELEASE, False),
    ("release.salvaged", RELEASE, False),
    ("release.recycled", RELEASE, False),
    ("release.database", RELEASE, True),
    ("merge.candidate", MERGE, False),
    ("merge.swapped", MERGE, False),
    ("cleanup.closed", CLEANUP, False),
    ("cleanup.slot", CLEANUP, False),
    ("cleanup.databases", CLEANUP, True),
]


def _blob(root: Path, text: str) -> str:
    return subprocess.run(
        ["git", "hash-object", "--stdin"], cwd=root, input=text, capture_output=True, text=True
    ).stdout.strip()


def _reachable_blobs(root: Path) -> set[str]:
    objects = git(root, "rev-list", "--objects", "--branches").splitlines()
    return {line.split()[0] for line in objects}


def _pool_processes(root: Path) -> list[psutil.Process]:
    """Processes working in the pool directory: agents, or anything they left."""
    pool_dir = str(root / ".agent-worktrees")
    found = []
    for process in psutil.process_iter(["cwd"]):
        if (process.info["cwd"] or "").startswith(pool_dir):
            found.append(process)
    return found


@pytest.mark.parametrize(("step", "command", "databases"), STEPS, ids=[s[0] for s in STEPS])
def test_a_kill_at_each_step_leaves_nothing_that_doctor_and_cleanup_cannot_finish(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str, command: list[str], databases: bool
) -> None:
    if databases:
        monkeypatch.delenv(DATABASE_MODE_VARIABLE)
    root = make_repo(tmp_path / "repo")
    (root / "tasks.yaml").write_text("tasks:\n  - id: docs-task\n    files: [docs/]\n")
    (root / "wtpool.yaml").write_text(
        "tasks:\n  source: yaml\n"
        "agent:\n  command: [sh, -c, 'echo started > agent.txt; sleep 60']\n"
    )
    make_pool(root, 2, 4)
    keeper = Path(
        wtpool_json(
            root, "acquire", "--agent", "keep", "--task", "keep", "--adhoc", "--scope", "src/"
        )["path"]
    )
    (keeper / "src" / "kept.txt").write_text(COMMITTED)
    git(keeper, "add", "src/kept.txt")
    git(keeper, "commit", "--quiet", "-m", "work before the kill")
    (keeper / "src" / "loose.txt").write_text(UNCOMMITTED)
    if command is CLEANUP:  # something for cleanup to be in the middle of
        assert wtpool(root, *SPAWN).returncode == 0
    if step == "template.created":  # a changed setup: the spawn rebuilds the template
        (root / "seed.sql").write_text("CREATE TABLE seed (id int);\n")
        with (root / "wtpool.yaml").open("a") as config:
            config.write("database:\n  setup: [seed.sql]\n")

    killed = wtpool(root, *command, env={TEST_POINT: f"{step}:kill"})
    assert killed.returncode == -signal.SIGKILL, (killed.stdout, killed.stderr)

    doctor = wtpool(root, "doctor", "--fix")
    assert "Traceback" not in doctor.stderr, doctor.stderr
    cleaned = wtpool(root, "cleanup")
    assert cleaned.returncode == 0, (cleaned.stdout, cleaned.stderr)

    records = git(root, "worktree", "list", "--porcelain").count("worktree ")
    assert records == 1, git(root, "worktree", "list")  # only the main worktree
    assert postgres_processes(str(root)) == []
    assert not (root / ".agent-worktrees" / ".postgres" / "data").exists()  # no database left
    assert _pool_processes(root) == []
    assert list((root / ".git").rglob("*.lock")) == []
    state = sqlite3.connect(root / ".agent-worktrees" / "state.db")
    try:
        assert state.execute("SELECT COUNT(*) FROM merge_processor").fetchone()[0] == 0
        assert state.execute("SELECT COUNT(*) FROM slots").fetchone()[0] == 0
    finally:
        state.close()
    reachable = _reachable_blobs(root)
    assert _blob(root, COMMITTED) in reachable
    assert _blob(root, UNCOMMITTED) in reachable


def _tables(url: str) -> list[str]:
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        ).fetchall()
    return [row[0] for row in rows]


@pytest.mark.parametrize("step", ["release.releasing", "release.salvaged", "release.recycled"])
def test_a_slot_whose_release_was_killed_is_handed_on_with_a_fresh_database(
    tmp_path: Path, with_databases: None, step: str
) -> None:
    """The next agent, served from the queue when doctor finishes the release, never sees
    what the previous one wrote to the slot's database."""
    root = make_repo(tmp_path / "repo")
    make_pool(root, 1, 1)
    try:
        first = wtpool_json(root, "acquire", "--agent", "first")
        with psycopg.connect(env_file(Path(first["path"]))["DATABASE_URL"]) as connection:
            connection.execute("CREATE TABLE left_by_first (x int)")
        assert wtpool_json(root, "acquire", "--agent", "second")["queued"]

        killed = wtpool(root, *RELEASE, env={TEST_POINT: f"{step}:kill"})
        assert killed.returncode == -signal.SIGKILL, (killed.stdout, killed.stderr)
        assert wtpool(root, "doctor", "--fix").returncode == 0

        status = wtpool_json(root, "status")["worktrees"]
        assert [(w["name"], w["agent"], w["state"]) for w in status] == [
            ("pool-wt-1", "second", "busy")
        ]
        assert _tables(env_file(Path(first["path"]))["DATABASE_URL"]) == []
    finally:
        wtpool(root, "cleanup", "--force")


def test_a_killed_release_that_doctor_finishes_frees_the_agent_s_reservations(
    tmp_path: Path,
) -> None:
    root = make_repo(tmp_path / "repo")
    make_pool(root, 1, 2)
    wtpool_json(root, "acquire", "--agent", "first")
    assert wtpool(root, "reserve", "first", "src/**").returncode == 0
    killed = wtpool(root, *RELEASE, env={TEST_POINT: "release.recycled:kill"})
    assert killed.returncode == -signal.SIGKILL, (killed.stdout, killed.stderr)

    assert wtpool(root, "doctor", "--fix").returncode == 0
    assert wtpool_json(root, "reservations") == []
    assert wtpool(root, "reserve", "second", "src/app.py").returncode == 0

"""Crash injection: a wtpool process is killed with SIGKILL at each named step of spawn,
release, merge and cleanup (the WTPOOL_TEST_POINT hook, see worktree_pool/testpoints.py).
Afterwards `wtpool doctor --fix` and then `wtpool cleanup` must leave no worktree, database
server, agent process or lock behind, and every change made before the kill, committed or
not, must be reachable from a branch."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
from pathlib import Path

import psutil
import pytest

from tests.conftest import git, make_pool, make_repo, postgres_processes, wtpool, wtpool_json
from worktree_pool.config import DATABASE_MODE_VARIABLE
from worktree_pool.testpoints import VARIABLE as TEST_POINT

COMMITTED = "committed before the kill\n"
UNCOMMITTED = "not committed before the kill\n"
SPAWN = ["spawn", "1", "independent"]
RELEASE = ["release", "pool-wt-1"]
MERGE = ["merge", "keep", "--wait"]
CLEANUP = ["cleanup"]

# (step, command killed there, whether the slots have databases)
STEPS = [
    ("claim.claimed", SPAWN, False),
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

    killed = wtpool(root, *command, env={TEST_POINT: f"{step}:kill"})
    assert killed.returncode == -signal.SIGKILL, (killed.stdout, killed.stderr)

    doctor = wtpool(root, "doctor", "--fix")
    assert "Traceback" not in doctor.stderr, doctor.stderr
    cleaned = wtpool(root, "cleanup")
    assert cleaned.returncode == 0, (cleaned.stdout, cleaned.stderr)

    records = git(root, "worktree", "list", "--porcelain").count("worktree ")
    assert records == 1, git(root, "worktree", "list")  # only the main worktree
    assert postgres_processes(str(root)) == []
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

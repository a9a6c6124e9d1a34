from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from tests.conftest import Pool, git, make_pool, wtpool, wtpool_json
from worktree_pool.pool.claims import acquire
from worktree_pool.store.slots import SlotState, update_slot


def _kinds(report: dict) -> list[str]:
    return sorted(f["kind"] for f in report["findings"])


def _doctor(root: Path, *args: str) -> tuple[int, dict]:
    result = wtpool(root, "doctor", *args, "--json")
    return result.returncode, json.loads(result.stdout)


def test_a_healthy_pool_has_no_findings(pool: Pool) -> None:
    code, report = _doctor(pool.root)
    assert code == 0 and report["findings"] == [] and report["healthy"]


def test_a_slot_deleted_behind_wtpools_back(pool: Pool) -> None:
    shutil.rmtree(pool.slot(2))
    code, report = _doctor(pool.root)
    assert code == 1
    assert _kinds(report) == ["missing-on-disk", "prunable"]
    code, fixed = _doctor(pool.root, "--fix")
    assert code == 0 and all(f["fixed"] for f in fixed["findings"])
    assert _doctor(pool.root) == (0, {"fix": False, "findings": [], "healthy": True})
    assert "pool-wt-2" not in git(pool.root, "worktree", "list")


def test_an_unknown_worktree_is_adopted_without_losing_its_work(pool: Pool) -> None:
    stray = pool.root / ".agent-worktrees" / "pool-wt-7"
    git(pool.root, "worktree", "add", "--quiet", "--detach", str(stray))
    other = pool.root / ".agent-worktrees" / "pool-wt-8"
    git(pool.root, "worktree", "add", "--quiet", "--detach", str(other))
    (other / "work.txt").write_text("unsaved\n")

    code, report = _doctor(pool.root)
    assert code == 1 and _kinds(report) == ["unknown-worktree", "unknown-worktree"]
    assert _doctor(pool.root, "--fix")[0] == 0

    states = {w["name"]: w["state"] for w in wtpool_json(pool.root, "status")["worktrees"]}
    assert states["pool-wt-7"] == "idle"
    assert states["pool-wt-8"] == "busy"  # so that release or cleanup salvages it
    assert (other / "work.txt").read_text() == "unsaved\n"
    released = wtpool_json(pool.root, "release", "pool-wt-8")
    assert git(pool.root, "show", f"{released['salvage_branch']}:work.txt") == "unsaved"


def test_a_locked_record_is_unlocked(pool: Pool) -> None:
    git(pool.root, "worktree", "lock", "--reason", "initializing", str(pool.slot(1)))
    code, report = _doctor(pool.root)
    assert code == 1 and _kinds(report) == ["locked"]
    assert "initializing" in report["findings"][0]["detail"]
    assert _doctor(pool.root, "--fix")[0] == 0
    porcelain = git(pool.root, "worktree", "list", "--porcelain").splitlines()
    assert not any(line.startswith("locked") for line in porcelain)


def test_a_directory_that_is_not_a_worktree_is_reported_and_left_alone(pool: Pool) -> None:
    shutil.rmtree(pool.slot(3))
    git(pool.root, "worktree", "prune")
    pool.slot(3).mkdir()
    (pool.slot(3) / "keep.txt").write_text("mine\n")
    code, report = _doctor(pool.root, "--fix")
    assert _kinds(report) == ["not-a-worktree"]
    assert (pool.slot(3) / "keep.txt").read_text() == "mine\n"
    assert code == 0


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_an_interrupted_release_is_finished_and_its_work_saved(pool: Pool) -> None:
    acquire(pool.repo, pool.store(), "alice", "t-1")
    (pool.slot(1) / "half-done.txt").write_text("work in progress\n")
    store = pool.store()
    with store.transaction() as conn:  # what a kill -9 during release leaves behind
        update_slot(conn, "pool-wt-1", state=SlotState.RELEASING, owner_pid=_dead_pid())
    store.close()

    code, report = _doctor(pool.root)
    assert code == 1 and _kinds(report) == ["interrupted"]
    assert _doctor(pool.root, "--fix")[0] == 0

    status = wtpool_json(pool.root, "status")
    assert status["worktrees"][0]["state"] == "idle"
    salvage = git(pool.root, "branch", "--list", "wtpool/salvage/*").strip()
    assert git(pool.root, "show", f"{salvage}:half-done.txt") == "work in progress"


def test_a_slot_owned_by_a_live_process_is_not_touched(pool: Pool) -> None:
    store = pool.store()
    with store.transaction() as conn:
        update_slot(conn, "pool-wt-2", state=SlotState.REMOVING)  # owner: this live process
    store.close()
    code, report = _doctor(pool.root, "--fix")
    assert code == 0 and report["findings"] == []


def test_a_lost_state_store_is_rebuilt_by_init_from_the_worktrees(pool: Pool) -> None:
    acquire(pool.repo, pool.store(), "alice", "t-1")
    (pool.slot(1) / "wip.txt").write_text("wip\n")
    state = pool.root / ".agent-worktrees" / "state.db"
    for path in state.parent.glob("state.db*"):
        path.rename(path.with_name(path.name + ".corrupt"))

    result = wtpool_json(pool.root, "init")

    assert result["adopted"] == ["pool-wt-1", "pool-wt-2", "pool-wt-3"]
    assert result["created"] == []
    states = [w["state"] for w in wtpool_json(pool.root, "status")["worktrees"]]
    assert states == ["busy", "idle", "idle"]


def test_adopting_a_worktree_on_the_base_branch_never_deletes_the_base(pool: Pool) -> None:
    git(pool.root, "switch", "--quiet", "-c", "dev")
    adopted = pool.root / ".agent-worktrees" / "pool-wt-5"
    git(pool.root, "worktree", "add", "--quiet", str(adopted), "main")
    assert _doctor(pool.root, "--fix")[0] == 0
    assert wtpool(pool.root, "release", "pool-wt-5").returncode == 0
    assert git(pool.root, "rev-parse", "--verify", "refs/heads/main")


def test_a_pool_left_closed_by_a_dead_cleanup_is_reopened(pool: Pool) -> None:
    store = pool.store()
    with store.transaction() as conn:
        conn.execute("UPDATE pool SET closing_pid = ?", (_dead_pid(),))
    store.close()
    code, report = _doctor(pool.root)
    assert code == 1 and _kinds(report) == ["interrupted-cleanup"]
    assert _doctor(pool.root, "--fix")[0] == 0
    assert wtpool(pool.root, "acquire", "--agent", "a").returncode == 0


def test_queued_requests_waiting_beside_free_slots_are_served(pool: Pool) -> None:
    store = pool.store()
    with store.transaction() as conn:
        conn.execute("INSERT INTO queue (agent, requested_at) VALUES ('waiting', 'earlier')")
    store.close()
    code, report = _doctor(pool.root)
    assert code == 1 and _kinds(report) == ["waiting-queue"]
    assert _doctor(pool.root, "--fix")[0] == 0
    assert wtpool_json(pool.root, "status")["worktrees"][0]["agent"] == "waiting"


def test_a_foreign_worktree_is_a_note_not_a_problem(pool: Pool) -> None:
    mine = pool.root / ".agent-worktrees" / "mine"
    git(pool.root, "worktree", "add", "--quiet", "--detach", str(mine))
    code, report = _doctor(pool.root)
    assert code == 0 and _kinds(report) == ["foreign-worktree"]
    assert report["findings"][0]["informational"]


def test_a_deleted_base_branch_is_reported(repo: Path) -> None:
    git(repo, "switch", "--quiet", "-c", "dev")
    make_pool(repo)
    git(repo, "switch", "--quiet", "main")
    git(repo, "branch", "-D", "dev")
    code, report = _doctor(repo, "--fix")
    assert code == 1 and _kinds(report) == ["missing-base"]
    assert not report["findings"][0]["fixed"]

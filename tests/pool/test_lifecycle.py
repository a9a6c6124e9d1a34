from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import Pool, git, make_pool, snapshot, wtpool, wtpool_json
from worktree_pool.pool.claims import acquire


def _pool_worktrees(root: Path) -> list[str]:
    output = git(root, "worktree", "list", "--porcelain")
    paths = [line.split(" ", 1)[1] for line in output.splitlines() if line.startswith("worktree ")]
    return sorted(Path(p).name for p in paths if Path(p).parent == root / ".agent-worktrees")


def test_init_creates_min_detached_slots_at_the_base_tip(repo: Path) -> None:
    result = wtpool_json(repo, "init")
    assert result["created"] == ["pool-wt-1", "pool-wt-2", "pool-wt-3"]
    assert (result["min"], result["max"], result["base"]) == (3, 10, "main")
    tip = git(repo, "rev-parse", "main")
    for n in (1, 2, 3):
        slot = repo / ".agent-worktrees" / f"pool-wt-{n}"
        assert git(slot, "rev-parse", "HEAD") == tip
        assert git(slot, "branch", "--show-current") == ""  # detached
        # Empty: the root's files alone, the rest in the index but not on disk.
        assert sorted(p.name for p in slot.iterdir()) == [".git", ".gitignore", "README.md"]
        assert git(slot, "status", "--porcelain") == ""
    assert _pool_worktrees(repo) == ["pool-wt-1", "pool-wt-2", "pool-wt-3"]
    assert "/.agent-worktrees/" in (repo / ".git" / "info" / "exclude").read_text().splitlines()
    assert (repo / "wtpool.yaml").is_file()
    # The pool directory is excluded, so only the new config file shows up in the main worktree.
    assert git(repo, "status", "--porcelain") == "?? wtpool.yaml"


def test_init_twice_changes_nothing(repo: Path) -> None:
    assert wtpool(repo, "init").returncode == 0
    before = snapshot(repo)
    second = wtpool_json(repo, "init")
    assert second["created"] == [] and not second["bounds_changed"]
    assert snapshot(repo) == before


def test_init_with_bounds_and_base(repo: Path) -> None:
    git(repo, "switch", "--quiet", "-c", "feature")
    (repo / "feature.txt").write_text("f\n")
    git(repo, "add", "feature.txt")
    git(repo, "commit", "--quiet", "-m", "feature")
    git(repo, "switch", "--quiet", "main")
    result = wtpool_json(repo, "init", "--min", "2", "--max", "4", "--base", "feature")
    assert result["created"] == ["pool-wt-1", "pool-wt-2"]
    assert result["base"] == "feature"
    slot = repo / ".agent-worktrees" / "pool-wt-2"
    assert (slot / "feature.txt").exists()


def test_init_can_raise_the_bounds_of_an_existing_pool(pool: Pool) -> None:
    result = wtpool_json(pool.root, "init", "--min", "4", "--max", "12")
    assert result["bounds_changed"]
    assert result["created"] == ["pool-wt-4"]


def test_status_json_lists_pool_slots_and_queue(pool: Pool) -> None:
    acquire(pool.repo, pool.store(), "alice", "t-1")
    status = wtpool_json(pool.root, "status")
    assert status["pool"]["min"] == 3 and status["pool"]["max"] == 10
    assert status["pool"]["size"] == 3 and status["pool"]["base"] == "main"
    first = status["worktrees"][0]
    assert {"name", "path", "state", "branch", "task", "agent", "head", "dirty"} <= set(first)
    assert first["name"] == "pool-wt-1" and first["state"] == "busy"
    assert first["agent"] == "alice" and first["task"] == "t-1"
    assert first["branch"] == "wtpool/task/t-1"
    assert first["path"] == str(pool.slot(1))
    assert first["dirty"] is False
    assert status["worktrees"][1]["state"] == "idle"
    assert status["queue"] == []


def test_status_shows_dirty_slots(pool: Pool) -> None:
    (pool.slot(2) / "scratch.txt").write_text("x")
    status = wtpool_json(pool.root, "status")
    assert [w["dirty"] for w in status["worktrees"]] == [False, True, False]


def test_commands_run_from_inside_a_slot_use_the_main_pool(pool: Pool) -> None:
    acquire(pool.repo, pool.store(), "alice", None)
    from_slot = wtpool_json(pool.slot(1) / "src", "status")
    from_main = wtpool_json(pool.root / "docs", "status")
    assert from_slot == from_main
    assert from_slot["pool"]["root"] == str(pool.root)


def test_scale_up_down_and_to(pool: Pool) -> None:
    up = wtpool_json(pool.root, "scale", "up", "--by", "2")
    assert up["created"] == ["pool-wt-4", "pool-wt-5"] and up["after"] == 5
    to = wtpool_json(pool.root, "scale", "--to", "6")
    assert to["created"] == ["pool-wt-6"]
    down = wtpool_json(pool.root, "scale", "down")
    assert down["removed"] == ["pool-wt-6"] and down["after"] == 5
    assert not pool.slot(6).exists()
    to_min = wtpool_json(pool.root, "scale", "--to", "3")
    assert sorted(to_min["removed"]) == ["pool-wt-4", "pool-wt-5"]
    assert _pool_worktrees(pool.root) == ["pool-wt-1", "pool-wt-2", "pool-wt-3"]


def test_scale_down_keeps_busy_and_dirty_slots_and_says_why(repo: Path) -> None:
    pool = make_pool(repo, minimum=1, maximum=10)
    wtpool_json(repo, "scale", "--to", "4")
    acquire(pool.repo, pool.store(), "alice", "t-1")  # takes pool-wt-1
    (pool.slot(4) / "notes.txt").write_text("someone's notes\n")  # an idle slot with work
    git(pool.slot(3), "commit", "--quiet", "--allow-empty", "-m", "stray commit")
    result = wtpool_json(repo, "scale", "--to", "1")
    assert result["removed"] == ["pool-wt-2"]
    kept = {k["name"]: k["reason"] for k in result["kept"]}
    assert "1 untracked file" in kept["pool-wt-4"]
    assert "1 commit not in main" in kept["pool-wt-3"]
    assert "busy: held by agent alice" in kept["pool-wt-1"]
    assert (pool.slot(4) / "notes.txt").read_text() == "someone's notes\n"
    assert result["after"] == 3


def test_the_done_when_sequence(repo: Path) -> None:
    """`wtpool init && wtpool status && wtpool scale --to 6 && wtpool cleanup`."""
    for args in (["init"], ["status"], ["scale", "--to", "6"]):
        result = wtpool(repo, *args)
        assert result.returncode == 0, result.stderr
    assert len(_pool_worktrees(repo)) == 6
    result = wtpool(repo, "cleanup")
    assert result.returncode == 0, result.stderr
    assert _pool_worktrees(repo) == []
    assert not any((repo / ".agent-worktrees").glob("pool-wt-*"))
    assert wtpool(repo, "status").returncode == 1  # the pool is gone; init starts a new one


def test_concurrent_scale_downs_never_go_below_the_minimum(repo: Path) -> None:
    make_pool(repo, minimum=3, maximum=10)
    wtpool_json(repo, "scale", "--to", "5")
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "worktree_pool", "scale", "down", "--by", "2", "--json"],
            cwd=repo,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(3)
    ]
    for process in processes:
        process.communicate(timeout=300)
    assert len(wtpool_json(repo, "status")["worktrees"]) == 3
    assert _pool_worktrees(repo) == ["pool-wt-1", "pool-wt-2", "pool-wt-3"]


def test_init_after_the_pool_directory_was_deleted_starts_numbering_at_one(pool: Pool) -> None:
    import shutil

    shutil.rmtree(pool.root / ".agent-worktrees")
    result = wtpool_json(pool.root, "init")
    assert result["created"] == ["pool-wt-1", "pool-wt-2", "pool-wt-3"]
    assert _pool_worktrees(pool.root) == ["pool-wt-1", "pool-wt-2", "pool-wt-3"]


def test_status_says_when_an_interrupted_cleanup_closed_the_pool(pool: Pool) -> None:
    store = pool.store()
    with store.transaction() as conn:
        conn.execute("UPDATE pool SET closing_pid = 999999")
    store.close()
    assert wtpool_json(pool.root, "status")["pool"]["closing_pid"] == 999999
    assert "closed: `wtpool cleanup`" in wtpool(pool.root, "status").stdout


# --- idle slots hold nothing --------------------------------------------------------------


def _on_disk(slot: Path) -> list[str]:
    return sorted(
        path.relative_to(slot).as_posix()
        for path in slot.rglob("*")
        if path.is_file()
        and ".git" not in path.relative_to(slot).parts
        and path.name != ".env.worktree"  # the hand-off file of a claimed slot
    )


def test_an_acquire_with_a_scope_writes_only_its_files(pool: Pool) -> None:
    acquire(pool.repo, pool.store(), "alice", None, ("src/**",))
    assert _on_disk(pool.slot(1)) == [".gitignore", "README.md", "src/app.py", "src/util.py"]


def test_an_acquire_without_a_scope_widens_the_slot_to_the_whole_tree(pool: Pool) -> None:
    acquire(pool.repo, pool.store(), "alice", None)
    slot = pool.slot(1)
    assert _on_disk(slot) == [
        ".gitignore",
        "README.md",
        "docs/guide.md",
        "src/app.py",
        "src/util.py",
    ]
    assert "S " not in git(slot, "ls-files", "-t")
    assert git(slot, "config", "--get", "core.sparseCheckout") in ("", "false")


def test_a_released_whole_tree_goes_back_to_empty_and_a_narrow_scope_stays_warm(
    pool: Pool,
) -> None:
    acquire(pool.repo, pool.store(), "alice", None)
    acquire(pool.repo, pool.store(), "bob", None, ("src/**",))
    (pool.slot(2) / "build").mkdir()
    (pool.slot(2) / "build" / "cache.o").write_text("a build cache the base ignores\n")
    assert wtpool(pool.root, "release", "pool-wt-1").returncode == 0
    assert wtpool(pool.root, "release", "pool-wt-2").returncode == 0
    assert _on_disk(pool.slot(1)) == [".gitignore", "README.md"]
    assert _on_disk(pool.slot(2)) == [
        ".gitignore",
        "README.md",
        "build/cache.o",
        "src/app.py",
        "src/util.py",
    ]
    status = wtpool_json(pool.root, "status")
    scopes = {slot["name"]: slot["scope"] for slot in status["worktrees"]}
    assert scopes["pool-wt-1"] == [] and scopes["pool-wt-2"] == ["src/**"]
    # The next claim swaps the kept scope for its own.
    acquire(pool.repo, pool.store(), "carol", None, ("docs/**",))
    assert _on_disk(pool.slot(1)) == [".gitignore", "README.md", "docs/guide.md"]


def test_doctor_and_filter_verify_find_empty_idle_slots_healthy(pool: Pool) -> None:
    doctor = wtpool_json(pool.root, "doctor")
    assert doctor["findings"] == [] and doctor["healthy"]
    verify = wtpool(pool.root, "filter", "verify", "pool-wt-1")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    shown = wtpool(pool.root, "filter", "show", "pool-wt-1").stdout
    assert "empty; it shows only the root's files" in shown


def test_filter_clear_on_an_idle_slot_shows_every_file(pool: Pool) -> None:
    assert wtpool(pool.root, "filter", "clear", "pool-wt-1").returncode == 0
    assert "docs/guide.md" in _on_disk(pool.slot(1))

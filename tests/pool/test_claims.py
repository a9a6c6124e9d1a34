from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import Pool, git, make_pool, wtpool, wtpool_json
from worktree_pool.errors import WtpoolError
from worktree_pool.pool.claims import acquire, release


def test_acquire_claims_an_idle_slot_on_a_fresh_task_branch(pool: Pool) -> None:
    result = wtpool_json(pool.root, "acquire", "--agent", "alice", "--task", "bd-1")
    assert result["slot"] == "pool-wt-1" and not result["queued"] and not result["created"]
    assert result["branch"] == "wtpool/task/bd-1"
    slot = Path(result["path"])
    assert git(slot, "branch", "--show-current") == "wtpool/task/bd-1"
    assert git(slot, "rev-parse", "HEAD") == git(pool.root, "rev-parse", "main")


def test_acquire_without_task_uses_an_agent_branch(pool: Pool) -> None:
    result = wtpool_json(pool.root, "acquire", "--agent", "bob")
    assert result["branch"] == "wtpool/agent/bob"


def test_acquire_is_idempotent_for_the_same_agent(pool: Pool) -> None:
    first = wtpool_json(pool.root, "acquire", "--agent", "alice", "--task", "bd-1")
    again = wtpool_json(pool.root, "acquire", "--agent", "alice")
    assert again["slot"] == first["slot"] and again["already_held"]
    assert again["task"] == "bd-1"
    other_task = wtpool(pool.root, "acquire", "--agent", "alice", "--task", "bd-2")
    assert other_task.returncode == 2
    assert "already holds pool-wt-1 for task bd-1" in other_task.stderr


def test_one_task_is_held_by_one_agent(pool: Pool) -> None:
    acquire(pool.repo, pool.store(), "alice", "bd-1")
    with pytest.raises(WtpoolError, match="task bd-1 is already held by agent alice"):
        acquire(pool.repo, pool.store(), "bob", "bd-1")


def test_acquire_below_max_creates_a_slot(repo: Path) -> None:
    pool = make_pool(repo, minimum=1, maximum=2)
    acquire(pool.repo, pool.store(), "a1", None)
    result = acquire(pool.repo, pool.store(), "a2", None)
    assert result.created and result.slot == "pool-wt-2"
    assert pool.slot(2).is_dir()


def test_at_max_requests_queue_persistently_and_are_served_in_order(repo: Path) -> None:
    pool = make_pool(repo, minimum=1, maximum=1)
    acquire(pool.repo, pool.store(), "a1", None)
    second = wtpool_json(repo, "acquire", "--agent", "a2", "--task", "t2")
    third = wtpool_json(repo, "acquire", "--agent", "a3")
    assert second["queued"] and second["queue_position"] == 1
    assert third["queued"] and third["queue_position"] == 2
    # The queue lives in the state store: a new process sees it.
    status = wtpool_json(repo, "status")
    assert [q["agent"] for q in status["queue"]] == ["a2", "a3"]
    again = wtpool_json(repo, "acquire", "--agent", "a3")
    assert again["queued"] and again["already_held"] and again["queue_position"] == 2

    released = wtpool_json(repo, "release", "pool-wt-1")
    assert released["handed_to"] == "a2"
    assert git(pool.slot(1), "branch", "--show-current") == "wtpool/task/t2"
    served = wtpool_json(repo, "acquire", "--agent", "a2")
    assert served["slot"] == "pool-wt-1" and served["already_held"]
    status = wtpool_json(repo, "status")
    assert [q["agent"] for q in status["queue"]] == ["a3"]


def test_release_recycles_the_slot_and_keeps_the_work(pool: Pool) -> None:
    claim = acquire(pool.repo, pool.store(), "alice", "bd-1")
    slot = pool.slot(1)
    (slot / "src" / "app.py").write_text("print('committed change')\n")
    git(slot, "commit", "--quiet", "-am", "work")
    committed = git(slot, "rev-parse", "HEAD")
    (slot / "src" / "util.py").write_text("uncommitted\n")
    (slot / "new.txt").write_text("untracked\n")
    (slot / "debug.log").write_text("ignored\n")

    result = wtpool_json(pool.root, "release", "pool-wt-1")
    assert result["branch_kept"] == claim.branch
    assert result["salvage_branch"].startswith("wtpool/salvage/pool-wt-1-")
    # The slot is back at the base tip, detached, with tracked changes and untracked files gone
    # and ignored files (caches) kept.
    assert git(slot, "rev-parse", "HEAD") == git(pool.root, "rev-parse", "main")
    assert git(slot, "branch", "--show-current") == ""
    assert git(slot, "status", "--porcelain") == ""
    assert not (slot / "new.txt").exists()
    assert (slot / "debug.log").exists()
    # Nothing was lost: the branch still has the commit and the salvage branch has everything.
    assert git(pool.root, "rev-parse", claim.branch) == committed
    salvage = result["salvage_branch"]
    assert git(pool.root, "show", f"{salvage}:src/util.py") == "uncommitted"
    assert git(pool.root, "show", f"{salvage}:new.txt") == "untracked"
    assert git(pool.root, "merge-base", "--is-ancestor", committed, salvage) == ""
    assert wtpool_json(pool.root, "status")["worktrees"][0]["state"] == "idle"


def test_release_of_merged_work_deletes_the_branch_and_saves_nothing(pool: Pool) -> None:
    acquire(pool.repo, pool.store(), "alice", "bd-1")
    result = release(pool.repo, pool.store(), "pool-wt-1")
    assert result.salvage_branch is None and result.saved is None
    assert result.branch_deleted == "wtpool/task/bd-1"
    assert git(pool.root, "branch", "--list", "wtpool/*") == ""


def test_reacquiring_a_task_resumes_its_unmerged_branch(pool: Pool) -> None:
    acquire(pool.repo, pool.store(), "alice", "bd-1")
    git(pool.slot(1), "commit", "--quiet", "--allow-empty", "-m", "progress")
    progress = git(pool.slot(1), "rev-parse", "HEAD")
    release(pool.repo, pool.store(), "pool-wt-1")
    again = acquire(pool.repo, pool.store(), "bob", "bd-1")
    assert again.resumed
    assert git(Path(str(again.path)), "rev-parse", "HEAD") == progress


def test_release_without_argument_releases_the_slot_it_runs_in(pool: Pool) -> None:
    acquire(pool.repo, pool.store(), "alice", None)
    result = wtpool_json(pool.slot(1) / "src", "release")
    assert result["slot"] == "pool-wt-1" and result["agent"] == "alice"


def test_releasing_an_idle_slot_is_harmless(pool: Pool) -> None:
    result = wtpool_json(pool.root, "release", "pool-wt-2")
    assert result["was_idle"]


def test_git_location_variables_from_a_hook_do_not_leak_into_wtpool(pool: Pool) -> None:
    acquire(pool.repo, pool.store(), "alice", "t-1")
    (pool.slot(1) / "wip.txt").write_text("wip\n")
    (pool.root / "src" / "app.py").write_text("main worktree edit\n")
    git(pool.root, "add", "src/app.py")
    main_head = git(pool.root, "rev-parse", "HEAD")
    main_index = git(pool.root, "ls-files", "--stage")
    hook_like = {
        "GIT_DIR": str(pool.root / ".git"),
        "GIT_INDEX_FILE": str(pool.root / ".git" / "index"),
        "GIT_WORK_TREE": str(pool.root),
    }
    result = wtpool(pool.root, "release", "pool-wt-1", env=hook_like)
    assert result.returncode == 0, result.stderr
    assert git(pool.root, "symbolic-ref", "HEAD") == "refs/heads/main"
    assert git(pool.root, "rev-parse", "HEAD") == main_head
    assert git(pool.root, "ls-files", "--stage") == main_index
    salvage = git(pool.root, "branch", "--list", "wtpool/salvage/*").strip()
    assert git(pool.root, "show", f"{salvage}:wip.txt") == "wip"


def test_a_stopped_rebase_does_not_break_the_next_claim(pool: Pool) -> None:
    acquire(pool.repo, pool.store(), "alice", "t-1")
    slot = pool.slot(1)
    (slot / "src" / "app.py").write_text("alice\n")
    git(slot, "commit", "--quiet", "-am", "alice")
    (pool.root / "src" / "app.py").write_text("main moved on\n")
    git(pool.root, "commit", "--quiet", "-am", "main")
    rebase = subprocess.run(["git", "rebase", "main"], cwd=slot, capture_output=True)
    assert rebase.returncode != 0  # stopped on the conflict
    release(pool.repo, pool.store(), "pool-wt-1")
    again = acquire(pool.repo, pool.store(), "bob", None)
    assert again.slot == "pool-wt-1"
    assert git(slot, "branch", "--show-current") == "wtpool/agent/bob"


def test_newcomers_queue_behind_waiting_requests(repo: Path) -> None:
    pool = make_pool(repo, minimum=1, maximum=1)
    acquire(pool.repo, pool.store(), "a1", None)
    acquire(pool.repo, pool.store(), "a2", None)  # queued
    store = pool.store()
    with store.transaction() as conn:  # a slot freed without serving the queue (say, by hand)
        conn.execute("UPDATE slots SET state = 'idle', agent = NULL, branch = NULL")
    store.close()
    newcomer = acquire(pool.repo, pool.store(), "a3", None)
    assert newcomer.queued and newcomer.queue_position == 1
    status = wtpool_json(repo, "status")
    assert status["worktrees"][0]["agent"] == "a2"  # the waiting request was served first


def test_a_slot_whose_index_cannot_be_saved_is_not_reset(pool: Pool) -> None:
    acquire(pool.repo, pool.store(), "alice", None)
    slot = pool.slot(1)
    (slot / "kept.txt").write_text("must survive\n")
    # An index entry pointing at an object that does not exist: write-tree fails.
    git(slot, "update-index", "--add", "--cacheinfo", f"100644,{'1' * 40},ghost.txt")
    result = wtpool(pool.root, "release", "pool-wt-1")
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("error: git write-tree failed")
    assert "Traceback" not in result.stderr
    assert (slot / "kept.txt").read_text() == "must survive\n"
    assert wtpool_json(pool.root, "status")["worktrees"][0]["state"] == "busy"


def test_files_hidden_by_the_slots_own_gitignore_are_saved_not_deleted(pool: Pool) -> None:
    acquire(pool.repo, pool.store(), "alice", "t-1")
    slot = pool.slot(1)
    with (slot / ".gitignore").open("a") as handle:
        handle.write("notes/\n")
    (slot / "notes").mkdir()
    (slot / "notes" / "plan.md").write_text("the plan\n")
    result = wtpool_json(pool.root, "release", "pool-wt-1")
    branch = result["salvage_branch"]
    assert git(pool.root, "show", f"{branch}:notes/plan.md") == "the plan"
    assert "notes/" in git(pool.root, "show", f"{branch}:.gitignore")
    assert not (slot / "notes").exists()  # saved, so the next agent starts clean
    assert git(slot, "status", "--porcelain", "--untracked-files=all") == ""


def test_edits_hidden_by_index_flags_are_saved_and_not_inherited(pool: Pool) -> None:
    acquire(pool.repo, pool.store(), "alice", None)
    slot = pool.slot(1)
    git(slot, "update-index", "--skip-worktree", "src/app.py")
    git(slot, "update-index", "--assume-unchanged", "src/util.py")
    (slot / "src" / "app.py").write_text("hidden by skip-worktree\n")
    (slot / "src" / "util.py").write_text("hidden by assume-unchanged\n")
    assert git(slot, "status", "--porcelain") == ""  # git itself does not see them

    result = wtpool_json(pool.root, "release", "pool-wt-1")

    branch = result["salvage_branch"]
    assert git(pool.root, "show", f"{branch}:src/app.py") == "hidden by skip-worktree"
    assert git(pool.root, "show", f"{branch}:src/util.py") == "hidden by assume-unchanged"
    assert not (slot / "src").exists()  # a whole-tree slot goes back to the empty view
    acquire(pool.repo, pool.store(), "bob", None)  # the next agent gets the base, no flags
    assert (slot / "src" / "app.py").read_text() == "print('app')\n"
    assert (slot / "src" / "util.py").read_text() == "def helper():\n    return 1\n"
    assert "S " not in git(slot, "ls-files", "-v") and "h " not in git(slot, "ls-files", "-v")


def test_a_branch_checked_out_elsewhere_is_never_reset(pool: Pool) -> None:
    git(pool.root, "branch", "wtpool/agent/alice")
    other = pool.root.parent / "elsewhere"
    git(pool.root, "worktree", "add", "--quiet", str(other), "wtpool/agent/alice")
    result = wtpool(pool.root, "acquire", "--agent", "alice")
    assert result.returncode == 1
    assert "checked out in another worktree" in result.stderr
    assert wtpool_json(pool.root, "status")["worktrees"][0]["state"] == "idle"


def test_queued_requests_are_served_when_the_pool_grows(repo: Path) -> None:
    pool = make_pool(repo, minimum=1, maximum=1)
    acquire(pool.repo, pool.store(), "a1", None)
    assert acquire(pool.repo, pool.store(), "a2", None).queued
    wtpool_json(repo, "init", "--max", "2")
    again = wtpool_json(repo, "acquire", "--agent", "a2")
    assert not again["queued"] and again["slot"] == "pool-wt-2"
    assert wtpool_json(repo, "status")["queue"] == []

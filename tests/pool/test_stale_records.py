"""Slots moved or deleted by hand (`mv`, `rm -rf`): git's record of such a slot is the only thing
that still points at the commits and the index it held, so every command that settles that
record (doctor, leaks, cleanup, init) saves what it points to first; a slot moved to where the
command runs stays a worktree there; and what the slot's agent held in the pool (its file
reservations, its database, its merged branch) is let go by `doctor --fix` as by `leaks --fix`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Pool, git, make_pool, make_repo, wtpool, wtpool_json

STAGED = "staged, never committed\n"


def _reachable(root: Path) -> set[str]:
    """Every object some branch reaches."""
    return {
        line.split()[0] for line in git(root, "rev-list", "--objects", "--branches").split("\n")
    }


def _blob(root: Path, text: str) -> str:
    return subprocess.run(
        ["git", "hash-object", "--stdin"], cwd=root, input=text, capture_output=True, text=True
    ).stdout.strip()


def _work_only_the_record_knows(slot: Path) -> list[str]:
    """In a slot: commits on a detached HEAD, one more that only ORIG_HEAD and the reflog name
    after a hard reset, and a staged file. Returns the commits."""
    git(slot, "checkout", "--quiet", "--detach")
    (slot / "src" / "app.py").write_text("print('detached work')\n")
    git(slot, "commit", "--quiet", "-am", "on a detached HEAD")
    kept = git(slot, "rev-parse", "HEAD")
    (slot / "src" / "util.py").write_text("undone = True\n")
    git(slot, "commit", "--quiet", "-am", "undone by a reset")
    undone = git(slot, "rev-parse", "HEAD")
    git(slot, "reset", "--quiet", "--hard", "HEAD~")
    (slot / "src" / "staged.py").write_text(STAGED)
    git(slot, "add", "src/staged.py")
    return [kept, undone]


def _doctor_fix(root: Path) -> list[dict]:
    return wtpool_json(root, "doctor", "--fix")["findings"]


def _salvage_branches(root: Path) -> list[str]:
    return git(
        root, "for-each-ref", "--format=%(refname:short)", "refs/heads/wtpool/salvage/"
    ).split()


@pytest.mark.parametrize("how", ["rm", "mv"])
@pytest.mark.parametrize("command", ["doctor", "leaks", "cleanup", "init"])
def test_what_git_s_record_of_a_gone_slot_points_to_is_saved_before_it_is_removed(
    pool: Pool, tmp_path: Path, how: str, command: str
) -> None:
    wtpool_json(pool.root, "acquire", "--agent", "a", "--task", "t")
    commits = _work_only_the_record_knows(pool.slot(1))
    moved = tmp_path / "moved"
    if how == "mv":
        shutil.move(pool.slot(1), moved)
    else:
        shutil.rmtree(pool.slot(1))
    if command == "init":  # the whole pool directory went, state and all: init starts again
        shutil.rmtree(pool.root / ".agent-worktrees")
        result = wtpool(pool.root, "init", "--json")
    else:
        result = wtpool(pool.root, command, *(["--fix"] if command != "cleanup" else []), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)

    reachable = _reachable(pool.root)
    assert all(commit in reachable for commit in commits)
    assert _blob(pool.root, STAGED) in reachable
    (branch,) = _salvage_branches(pool.root)
    assert git(pool.root, "show", f"{branch}:src/staged.py") == STAGED.strip()
    if command == "cleanup":
        (slot,) = [s for s in report["slots"] if s["name"] == "pool-wt-1"]
        assert slot["stale"]["salvage_branch"] == branch
    elif command == "init":
        saved = {s["path"]: s["salvage_branch"] for s in report["stale_records"]}
        assert saved == {str(pool.slot(n)): branch if n == 1 else None for n in (1, 2, 3)}
    else:
        (finding,) = [f for f in report["findings"] if f["kind"] == "prunable"]
        assert finding["fixed"] and finding["salvage_branch"] == branch
        assert branch in finding["repair"]
    assert "prunable" not in git(pool.root, "worktree", "list", "--porcelain")
    if how == "mv":  # its files are untouched; the report said what to do to keep it a worktree
        assert (moved / "src" / "staged.py").read_text() == STAGED


def test_a_slot_whose_record_holds_nothing_unique_leaves_no_salvage_branch(pool: Pool) -> None:
    shutil.rmtree(pool.slot(2))
    findings = _doctor_fix(pool.root)
    assert {f["kind"] for f in findings} == {"missing-on-disk", "prunable"}
    assert all(f["fixed"] and f["salvage_branch"] is None for f in findings)
    assert _salvage_branches(pool.root) == []


def test_a_slot_moved_out_of_the_pool_stays_a_worktree_when_doctor_runs_inside_it(
    pool: Pool, tmp_path: Path
) -> None:
    wtpool_json(pool.root, "acquire", "--agent", "a", "--task", "t")
    commits = _work_only_the_record_knows(pool.slot(1))
    moved = tmp_path / "elsewhere" / "moved"
    moved.parent.mkdir()
    shutil.move(pool.slot(1), moved)

    found = wtpool(moved / "src", "doctor", "--json")
    assert found.returncode == 1
    kinds = {f["kind"]: f for f in json.loads(found.stdout)["findings"]}
    assert str(moved) in kinds["missing-on-disk"]["detail"]
    assert kinds["moved-worktree"]["subject"] == str(moved)
    fixed = wtpool_json(moved, "doctor", "--fix")["findings"]
    assert all(f["fixed"] for f in fixed)

    # Still a worktree, with its HEAD, reflog and index as they were; no longer a slot.
    assert f"worktree {moved}" in git(pool.root, "worktree", "list", "--porcelain")
    assert git(moved, "rev-parse", "HEAD") == commits[0]
    assert git(moved, "rev-parse", "ORIG_HEAD") == commits[1]
    assert git(moved, "diff", "--cached", "--name-only") == "src/staged.py"
    assert _salvage_branches(pool.root) == []
    names = [w["name"] for w in wtpool_json(pool.root, "status")["worktrees"]]
    assert "pool-wt-1" not in names
    assert wtpool_json(pool.root, "doctor")["findings"] == []
    # A later cleanup leaves it alone, where the user put it.
    assert wtpool(pool.root, "cleanup").returncode == 0
    assert git(moved, "rev-parse", "HEAD") == commits[0]


@pytest.mark.parametrize("command", ["doctor", "cleanup"])
def test_a_slot_renamed_within_the_pool_is_repaired_and_then_treated_as_a_slot(
    pool: Pool, command: str
) -> None:
    wtpool_json(pool.root, "acquire", "--agent", "a", "--task", "t")
    commits = _work_only_the_record_knows(pool.slot(1))
    renamed = pool.slot(9)
    shutil.move(pool.slot(1), renamed)

    if command == "doctor":
        kinds = {f["kind"]: f for f in _doctor_fix(pool.root)}
        assert kinds["moved-worktree"]["subject"] == str(renamed)
        assert kinds["unknown-worktree"]["fixed"]
        states = {w["name"]: w["state"] for w in wtpool_json(pool.root, "status")["worktrees"]}
        assert states["pool-wt-9"] == "busy"  # adopted with its work, for release to salvage
        assert git(renamed, "rev-parse", "HEAD") == commits[0]
        released = wtpool_json(pool.root, "release", "pool-wt-9")
        branch = released["salvage_branch"]
    else:
        report = wtpool_json(pool.root, "cleanup")
        (slot,) = [s for s in report["slots"] if s["name"] == "pool-wt-9"]
        assert slot["removed"] and not renamed.exists()
        branch = slot["salvage_branch"]
    assert git(pool.root, "show", f"{branch}:src/staged.py") == STAGED.strip()
    assert commits[0] in _reachable(pool.root)


def test_a_rebase_stopped_on_a_conflict_in_a_deleted_slot_keeps_its_autostash(
    pool: Pool,
) -> None:
    """The autostash of a rebase in progress lives in git's record of the slot alone; its index
    holds the conflict, which has no tree of its own."""
    slot = pool.slot(1)
    wtpool_json(pool.root, "acquire", "--agent", "a", "--task", "t")
    (slot / "README.md").write_text("# the slot's title\n")
    git(slot, "commit", "--quiet", "-am", "slot edit")
    (pool.root / "README.md").write_text("# main's title\n")
    git(pool.root, "commit", "--quiet", "-am", "main edit")
    (slot / "src" / "app.py").write_text("print('edited, not committed')\n")
    rebase = subprocess.run(
        ["git", "rebase", "--autostash", "main"], cwd=slot, capture_output=True, text=True
    )
    assert rebase.returncode != 0 and "CONFLICT" in rebase.stdout + rebase.stderr
    shutil.rmtree(slot)

    assert wtpool(pool.root, "doctor", "--fix").returncode == 0
    (branch,) = _salvage_branches(pool.root)
    saved = git(pool.root, "log", "--format=%H", branch).split()
    edited = _blob(pool.root, "print('edited, not committed')\n")
    assert edited in _reachable(pool.root)
    assert any("src/app.py" in git(pool.root, "show", "--stat", "--format=", c) for c in saved)


def test_a_record_whose_index_cannot_be_read_is_kept_and_said_so(pool: Pool) -> None:
    wtpool_json(pool.root, "acquire", "--agent", "a", "--task", "t")
    (pool.slot(1) / "src" / "staged.py").write_text(STAGED)
    git(pool.slot(1), "add", "src/staged.py")
    admin = Path(git(pool.slot(1), "rev-parse", "--absolute-git-dir"))
    shutil.rmtree(pool.slot(1))
    (admin / "index").write_bytes(b"not an index")

    result = wtpool(pool.root, "doctor", "--fix", "--json")
    assert result.returncode == 1
    (finding,) = [f for f in json.loads(result.stdout)["findings"] if f["kind"] == "prunable"]
    assert not finding["fixed"] and "could not save the index of pool-wt-1" in finding["repair"]
    assert admin.is_dir() and "prunable" in git(pool.root, "worktree", "list", "--porcelain")
    cleaned = wtpool(pool.root, "cleanup", "--json")
    assert cleaned.returncode == 1 and admin.is_dir()


def _reservation_ids(root: Path) -> list[int]:
    return [r["id"] for r in wtpool_json(root, "reservations")]


def test_a_deleted_slot_s_reservation_no_longer_blocks_anyone_after_doctor_fix(
    pool: Pool,
) -> None:
    claim = wtpool_json(pool.root, "acquire", "--agent", "a", "--task", "t", "--scope", "src/")
    assert wtpool(pool.root, "reserve", "a", "src/**").returncode == 0
    (Path(claim["path"]) / "src" / "app.py").write_text("print('a')\n")
    git(Path(claim["path"]), "commit", "--quiet", "-am", "a's work")
    shutil.rmtree(claim["path"])
    refused = wtpool(pool.root, "reserve", "b", "src/app.py")
    assert refused.returncode != 0  # a still holds it

    findings = _doctor_fix(pool.root)
    assert all(f["fixed"] or f["informational"] for f in findings)
    assert _reservation_ids(pool.root) == []
    assert wtpool(pool.root, "reserve", "b", "src/app.py").returncode == 0
    assert git(pool.root, "rev-parse", "wtpool/task/t")  # a's commit is kept on its branch


def test_leaks_fix_releases_a_reservation_whose_holder_is_nowhere(pool: Pool) -> None:
    """A reservation whose holder holds no slot, waits in no queue and runs no process would
    block others until it expires: a leak. One whose holder still runs is left alone."""
    wtpool_json(pool.root, "reserve", "ghost", "docs/**")
    wtpool_json(pool.root, "reserve", "busy", "src/**")
    alive = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(600)"],
        env={**os.environ, "WTPOOL_AGENT": "busy"},
    )
    try:
        found = wtpool(pool.root, "leaks", "--json")
        assert found.returncode == 1
        (finding,) = json.loads(found.stdout)["findings"]
        assert finding["kind"] == "stale-reservation" and "ghost" in finding["detail"]
        fixed = wtpool_json(pool.root, "leaks", "--fix")["findings"]
        assert [(f["kind"], f["fixed"]) for f in fixed] == [("stale-reservation", True)]
        assert [r["agent"] for r in wtpool_json(pool.root, "reservations")] == ["busy"]
        mail = wtpool_json(pool.root, "mail", "inbox", "ghost")
        assert "released by force" in json.dumps(mail)
    finally:
        alive.kill()
        alive.wait()


def test_doctor_fix_repairs_every_leak_so_leaks_finds_none_after_it(
    tmp_path: Path, with_databases: None
) -> None:
    """A scoped slot with a reservation, a database and a branch that landed, deleted by hand:
    one `doctor --fix` lets go of all of it, and `leaks` finds nothing left to fix."""
    root = make_repo(tmp_path / "repo")
    pool = make_pool(root, 1, 2)
    claim = wtpool_json(root, "acquire", "--agent", "a", "--task", "t", "--scope", "src/")
    try:
        assert wtpool(root, "reserve", "a", "src/**").returncode == 0
        (Path(claim["path"]) / "src" / "app.py").write_text("print('a')\n")
        git(Path(claim["path"]), "commit", "--quiet", "-am", "a's work")
        git(root, "merge", "--quiet", "--ff-only", "wtpool/task/t")  # it landed
        shutil.rmtree(claim["path"])

        findings = {f["kind"]: f for f in _doctor_fix(root)}
        assert {"orphaned-database", "merged-branch", "missing-on-disk"} <= set(findings)
        assert all(f["fixed"] or f["informational"] for f in findings.values())
        left = wtpool(root, "leaks", "--json")
        assert json.loads(left.stdout)["findings"] == [] and left.returncode == 0
        assert _reservation_ids(root) == []
        assert wtpool_json(root, "db", "list") == [
            d for d in wtpool_json(root, "db", "list") if d["slot"] is None
        ]
        assert "wtpool/task/t" not in git(root, "branch", "--list")
    finally:
        wtpool(pool.root, "cleanup", "--force")


def test_a_plain_directory_in_a_slots_place_never_sends_wtpool_to_the_main_worktree(
    pool: Pool,
) -> None:
    """`rm -rf` of a slot then `mkdir -p` of the same path (a tool writing into the agent's old
    working directory) leaves a directory with no `.git`. From there git would find the main
    repository: release must not reset the main worktree, and doctor, cleanup must settle the
    slot's record (saving what it names) and leave that directory alone."""
    root = pool.root
    slot = Path(wtpool_json(root, "acquire", "--agent", "a")["path"])
    commits = _work_only_the_record_knows(slot)
    (root / "src" / "app.py").write_text("the user's own edit\n")
    head = git(root, "rev-parse", "HEAD")
    shutil.rmtree(slot)
    (slot / "x").mkdir(parents=True)
    (slot / "x" / "note").write_text("not a worktree\n")

    release = wtpool(root, "release", slot.name)
    assert release.returncode == 1 and "is no longer a git worktree" in release.stderr
    assert git(root, "rev-parse", "HEAD") == head
    assert git(root, "symbolic-ref", "HEAD") == "refs/heads/main"
    assert (root / "src" / "app.py").read_text() == "the user's own edit\n"
    status = wtpool(root, "status")
    assert status.returncode == 0 and "not a worktree" in status.stdout, status.stderr

    kinds = {finding["kind"] for finding in _doctor_fix(root)}
    assert {"not-a-worktree", "prunable"} <= kinds
    assert set(commits) <= _reachable(root) and _blob(root, STAGED) in _reachable(root)
    assert (slot / "x" / "note").read_text() == "not a worktree\n"
    cleanup = wtpool(root, "cleanup")
    assert cleanup.returncode == 0, cleanup.stdout + cleanup.stderr
    assert (slot / "x" / "note").read_text() == "not a worktree\n"
    assert git(root, "rev-parse", "HEAD") == head


def test_cleanup_settles_a_slot_replaced_by_a_plain_directory(pool: Pool) -> None:
    root = pool.root
    slot = Path(wtpool_json(root, "acquire", "--agent", "a")["path"])
    commits = _work_only_the_record_knows(slot)
    shutil.rmtree(slot)
    (slot / "x").mkdir(parents=True)
    cleanup = wtpool(root, "cleanup")
    assert cleanup.returncode == 0, cleanup.stdout + cleanup.stderr
    assert set(commits) <= _reachable(root)
    assert git(root, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert (slot / "x").is_dir()


@pytest.mark.parametrize("command", ["doctor", "cleanup"])
@pytest.mark.parametrize("by_hand", ["mv", "rm -rf"])
def test_the_stash_of_a_gone_slot_is_saved(pool: Pool, command: str, by_hand: str) -> None:
    """The stash list is shared, so a slot's `git stash` entries outlive it there; but once
    git's record of the slot goes, nothing says which entries were its: they are saved with
    what the record names."""
    root = pool.root
    slot = Path(wtpool_json(root, "acquire", "--agent", "a")["path"])
    (slot / "src" / "app.py").write_text("stashed in the slot\n")
    git(slot, "stash", "push", "--quiet")
    stash = git(root, "rev-parse", "refs/stash")
    if by_hand == "mv":
        shutil.move(slot, root.parent / "moved")
    else:
        shutil.rmtree(slot)
    result = wtpool(root, *(["doctor", "--fix"] if command == "doctor" else ["cleanup"]))
    assert result.returncode == 0, result.stdout + result.stderr
    assert stash in _reachable(root)
    assert _blob(root, "stashed in the slot\n") in _reachable(root)

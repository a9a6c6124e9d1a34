"""Cleanup must remove every slot and lose nothing: each kind of unique work ends on a branch."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import Pool, git, make_pool, wtpool, wtpool_json
from worktree_pool.git.run import delete_branches_if_at
from worktree_pool.pool.claims import acquire


def _blob(repo: Path, content: bytes) -> str:
    return (
        subprocess.run(
            ["git", "hash-object", "--stdin"],
            cwd=repo,
            input=content,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .strip()
    )


def _objects_reachable_from(repo: Path, branches: list[str]) -> set[str]:
    listing = git(repo, "rev-list", "--objects", *branches)
    return {line.split(" ", 1)[0] for line in listing.splitlines()}


def _put_unique_work_in_every_way(pool: Pool) -> dict[str, bytes]:
    """One slot per kind of unique work; returns every content that must survive."""
    for agent in ("unstaged", "staged", "untracked", "committed"):
        acquire(pool.repo, pool.store(), agent, None)
    survivors: dict[str, bytes] = {}

    unstaged = pool.slot(1)
    survivors["unstaged edit"] = b"print('edited, never staged')\n"
    (unstaged / "src" / "app.py").write_bytes(survivors["unstaged edit"])
    (unstaged / "docs" / "guide.md").unlink()  # a deletion is work too

    staged = pool.slot(2)
    survivors["staged version"] = b"staged version\n"
    survivors["later unstaged version"] = b"edited again after staging\n"
    (staged / "src" / "util.py").write_bytes(survivors["staged version"])
    git(staged, "add", "src/util.py")
    (staged / "src" / "util.py").write_bytes(survivors["later unstaged version"])
    survivors["staged new file"] = b"brand new and staged\n"
    (staged / "added.txt").write_bytes(survivors["staged new file"])
    git(staged, "add", "added.txt")

    untracked = pool.slot(3)
    survivors["untracked file"] = b"notes nobody committed\n"
    (untracked / "notes" / "deep").mkdir(parents=True)
    (untracked / "notes" / "deep" / "idea with spaces.txt").write_bytes(survivors["untracked file"])
    (untracked / "trace.log").write_text("ignored output is not work\n")

    committed = pool.slot(4)
    survivors["committed change"] = b"committed but never merged\n"
    (committed / "feature.py").write_bytes(survivors["committed change"])
    git(committed, "add", "feature.py")
    git(committed, "commit", "--quiet", "-m", "unmerged feature")
    return survivors


def test_cleanup_salvages_every_kind_of_unique_work(pool: Pool) -> None:
    survivors = _put_unique_work_in_every_way(pool)
    deleted_file = b"guide\n"

    result = wtpool_json(pool.root, "cleanup")

    assert result["complete"]
    salvaged = {slot["name"]: slot["salvage_branch"] for slot in result["slots"]}
    assert all(salvaged[f"pool-wt-{n}"] for n in (1, 2, 3, 4)), salvaged
    branches = [b for b in salvaged.values() if b]
    assert git(pool.root, "branch", "--list", "wtpool/salvage/*").split() == sorted(branches)
    reachable = _objects_reachable_from(pool.root, branches)
    for what, content in survivors.items():
        assert _blob(pool.root, content) in reachable, f"lost the {what}"
    # The deletion is recorded too: the working-tree snapshot of slot 1 lacks the file.
    files = git(pool.root, "ls-tree", "-r", "--name-only", salvaged["pool-wt-1"]).split("\n")
    assert "docs/guide.md" not in files and _blob(pool.root, deleted_file) in reachable
    # Staged and unstaged states are kept apart: the parent commit holds the index.
    assert git(pool.root, "show", f"{salvaged['pool-wt-2']}~1:src/util.py") == "staged version"
    assert (
        git(pool.root, "show", f"{salvaged['pool-wt-2']}:src/util.py")
        == "edited again after staging"
    )
    # Ignored files are not work and are not saved.
    assert "trace.log" not in git(pool.root, "ls-tree", "-r", "--name-only", salvaged["pool-wt-3"])

    assert not any((pool.root / ".agent-worktrees").glob("pool-wt-*"))
    assert git(pool.root, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert wtpool(pool.root, "status").returncode == 1  # state cleared: no pool any more


def test_cleanup_prints_each_salvage_branch(pool: Pool) -> None:
    acquire(pool.repo, pool.store(), "alice", None)
    (pool.slot(1) / "draft.txt").write_text("draft\n")
    result = wtpool(pool.root, "cleanup")
    assert result.returncode == 0, result.stderr
    branch = git(pool.root, "branch", "--list", "wtpool/salvage/*").strip()
    assert branch.startswith("wtpool/salvage/pool-wt-1-")
    assert branch in result.stdout


def test_cleanup_deletes_merged_wtpool_branches_and_keeps_unmerged_ones(pool: Pool) -> None:
    acquire(pool.repo, pool.store(), "merged", "t-merged")
    acquire(pool.repo, pool.store(), "pending", "t-pending")
    git(pool.slot(1), "commit", "--quiet", "--allow-empty", "-m", "landed")
    git(pool.root, "merge", "--quiet", "--ff-only", "wtpool/task/t-merged")
    git(pool.slot(2), "commit", "--quiet", "--allow-empty", "-m", "not landed")

    result = wtpool_json(pool.root, "cleanup")

    assert "wtpool/task/t-merged" in result["deleted_branches"]
    remaining = git(pool.root, "branch", "--list", "wtpool/*").split()
    assert "wtpool/task/t-pending" in remaining
    assert "wtpool/task/t-merged" not in remaining


def test_a_branch_that_moves_before_its_deletion_is_kept_and_the_rest_go(pool: Pool) -> None:
    tip = git(pool.root, "rev-parse", "main")
    for name in ("wtpool/task/a", "wtpool/task/b", "wtpool/task/c"):
        git(pool.root, "branch", name, tip)
    git(pool.root, "commit", "--quiet", "--allow-empty", "-m", "on main")
    # b moved on since it was found merged at `tip`: its new commit is found nowhere else.
    git(pool.root, "branch", "--force", "wtpool/task/b", "main")
    wanted = {"wtpool/task/a": tip, "wtpool/task/b": tip, "wtpool/task/c": tip}
    assert delete_branches_if_at(pool.repo.git, wanted) == ["wtpool/task/a", "wtpool/task/c"]
    assert git(pool.root, "branch", "--list", "wtpool/*").split() == ["wtpool/task/b"]


def test_cleanup_force_discards_but_lists_what_went(pool: Pool) -> None:
    acquire(pool.repo, pool.store(), "alice", None)
    (pool.slot(1) / "throwaway.txt").write_text("x\n")
    (pool.slot(1) / "src" / "app.py").write_text("changed\n")

    result = wtpool(pool.root, "cleanup", "--force")

    assert result.returncode == 0, result.stderr
    assert "discarded from pool-wt-1" in result.stdout
    assert "throwaway.txt" in result.stdout and "src/app.py" in result.stdout
    assert git(pool.root, "branch", "--list", "wtpool/salvage/*") == ""
    assert not pool.slot(1).exists()


def test_a_second_cleanup_is_harmless(pool: Pool) -> None:
    assert wtpool(pool.root, "cleanup").returncode == 0
    again = wtpool(pool.root, "cleanup")
    assert again.returncode == 0, again.stderr
    assert "nothing to clean up" in again.stdout


def test_cleanup_leaves_unknown_directories_alone(pool: Pool) -> None:
    stray = pool.root / ".agent-worktrees" / "someones-files"
    stray.mkdir()
    (stray / "precious.txt").write_text("not wtpool's\n")
    result = wtpool_json(pool.root, "cleanup")
    assert result["left_alone"] == [str(stray)]
    assert (stray / "precious.txt").read_text() == "not wtpool's\n"


def test_nested_repositories_are_never_reported_as_saved(pool: Pool) -> None:
    acquire(pool.repo, pool.store(), "alice", None)
    nested = pool.slot(1) / "vendor" / "lib"
    nested.mkdir(parents=True)
    git(nested, "init", "--quiet")
    (nested / "p.txt").write_text("committed only in the nested repository\n")
    git(nested, "add", "p.txt")
    git(nested, "commit", "--quiet", "-m", "nested")

    result = wtpool(pool.root, "cleanup", "--json")

    assert result.returncode == 1
    (slot,) = [s for s in json.loads(result.stdout)["slots"] if s["name"] == "pool-wt-1"]
    assert not slot["removed"] and "nested git repositories" in slot["error"]
    assert (nested / "p.txt").exists()
    assert wtpool(pool.root, "acquire", "--agent", "x").returncode == 0  # the pool reopened


def test_staged_work_survives_a_stale_index_lock(pool: Pool) -> None:
    acquire(pool.repo, pool.store(), "alice", None)
    slot = pool.slot(1)
    (slot / "src" / "app.py").write_text("v1 staged\n")
    git(slot, "add", "src/app.py")
    (slot / "src" / "app.py").write_text("v2 in the working tree\n")
    index_lock = Path(git(slot, "rev-parse", "--path-format=absolute", "--git-path", "index.lock"))
    index_lock.write_text("")  # left behind by a git that crashed

    result = wtpool_json(pool.root, "cleanup")

    branch = result["slots"][0]["salvage_branch"]
    assert git(pool.root, "show", f"{branch}~1:src/app.py") == "v1 staged"
    assert git(pool.root, "show", f"{branch}:src/app.py") == "v2 in the working tree"


def test_file_names_that_are_not_utf8_are_saved(pool: Pool) -> None:
    acquire(pool.repo, pool.store(), "alice", None)
    name = b"bad\xffname.txt"
    with open(bytes(pool.slot(1)) + b"/" + name, "wb") as handle:
        handle.write(b"bytes\n")
    result = wtpool(pool.root, "cleanup", "--json")
    assert result.returncode == 0, result.stderr
    branch = json.loads(result.stdout)["slots"][0]["salvage_branch"]
    listed = subprocess.run(
        ["git", "ls-tree", "-r", "-z", "--name-only", branch], cwd=pool.root, capture_output=True
    ).stdout.split(b"\0")
    assert name in listed


def test_an_interrupted_cleanup_can_be_finished(pool: Pool) -> None:
    store = pool.store()
    with store.transaction() as conn:  # what a kill -9 in the middle of cleanup leaves
        conn.execute("UPDATE pool SET closing_pid = ?", (_dead_pid(),))
    store.close()
    refused = wtpool(pool.root, "acquire", "--agent", "a")
    assert refused.returncode == 1 and "interrupted `wtpool cleanup`" in refused.stderr
    assert wtpool(pool.root, "cleanup").returncode == 0
    assert not any((pool.root / ".agent-worktrees").glob("pool-wt-*"))


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_cleanup_works_after_the_base_branch_is_deleted(repo: Path) -> None:
    git(repo, "switch", "--quiet", "-c", "dev")
    pool = make_pool(repo)
    acquire(pool.repo, pool.store(), "alice", None)
    git(pool.slot(1), "commit", "--quiet", "--allow-empty", "-m", "work on dev")
    work = git(pool.slot(1), "rev-parse", "HEAD")
    git(repo, "switch", "--quiet", "main")
    git(repo, "branch", "-D", "dev")

    result = wtpool(repo, "cleanup", "--json")

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert any("no longer exists" in warning for warning in report["warnings"])
    saved = report["slots"][0]["salvage_branch"]
    assert git(repo, "rev-parse", saved) == work
    assert not any((repo / ".agent-worktrees").glob("pool-wt-*"))


def test_cleanup_leaves_foreign_and_locked_worktrees_alone(pool: Pool) -> None:
    mine = pool.root / ".agent-worktrees" / "mine"
    git(pool.root, "worktree", "add", "--quiet", "-b", "mybranch", str(mine))
    git(pool.root, "worktree", "lock", "--reason", "on usb", str(pool.slot(2)))

    result = wtpool(pool.root, "cleanup", "--json")

    assert result.returncode == 1  # a slot was kept, so cleanup is incomplete
    report = json.loads(result.stdout)
    kept = {s["name"]: s["error"] for s in report["slots"] if not s["removed"]}
    assert "locked (on usb)" in kept["pool-wt-2"]
    assert str(mine) in report["left_alone"]
    assert mine.is_dir() and pool.slot(2).is_dir()
    assert not pool.slot(1).exists() and not pool.slot(3).exists()

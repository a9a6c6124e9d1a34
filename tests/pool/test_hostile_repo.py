"""A repository's content and settings must not make wtpool act outside its pool: its hooks, a
tracked `.agent-worktrees`, tracked files where wtpool writes its own."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import (
    FILES,
    Pool,
    assert_one_line_error,
    git,
    make_pool,
    make_repo,
    snapshot,
    wtpool,
    wtpool_json,
)

# Every hook that a wtpool command's own git calls could trigger: checkouts, resets, ref
# updates, index writes, commits made by wtpool, rewrites and gc.
INTERNAL_HOOKS = (
    "post-checkout",
    "reference-transaction",
    "post-index-change",
    "post-commit",
    "post-rewrite",
    "post-merge",
    "pre-auto-gc",
    "pre-commit",
    "commit-msg",
)


def _install_failing_hooks(root: Path, names: tuple[str, ...], log: Path) -> None:
    hooks = root / ".git" / "hooks"
    hooks.mkdir(exist_ok=True)
    for name in names:
        hook = hooks / name
        hook.write_text(f'#!/bin/sh\necho {name} >> "{log}"\nexit 1\n')
        hook.chmod(0o755)


# --- the repository's hooks (case 14) -------------------------------------------------------


@pytest.mark.parametrize(
    "hooks", [("post-checkout",), ("reference-transaction",), INTERNAL_HOOKS], ids=len
)
def test_failing_hooks_of_the_repository_do_not_stop_wtpools_own_git_calls(
    repo: Path, hooks: tuple[str, ...]
) -> None:
    log = repo.parent / "hooks.log"
    _install_failing_hooks(repo, hooks, log)

    init = wtpool(repo, "init", "--min", "1")
    assert init.returncode == 0, init.stderr
    wtpool_json(repo, "acquire", "--agent", "a", "--task", "t1")
    slot = repo / ".agent-worktrees" / "pool-wt-1"
    (slot / "docs" / "guide.md").write_text("landed\n")
    git(slot, "-c", f"core.hooksPath={os.devnull}", "commit", "-qam", "agent's work")
    landed = wtpool(repo, "merge", "t1", "--wait")  # merge-tree, update-ref, read-tree -u
    assert landed.returncode == 0, landed.stderr
    assert (repo / "docs" / "guide.md").read_text() == "landed\n"
    (slot / "src" / "app.py").write_text("changed\n")
    (slot / "notes.txt").write_text("untracked work\n")
    released = wtpool_json(repo, "release", "pool-wt-1")
    assert released["salvage_branch"].startswith("wtpool/salvage/pool-wt-1-")
    saved = git(repo, "show", f"{released['salvage_branch']}:notes.txt")
    assert saved == "untracked work"
    assert wtpool_json(repo, "status")["worktrees"][0]["state"] == "idle"
    salvage = git(repo, "for-each-ref", "--format=%(refname)", "refs/heads/wtpool/salvage/")
    assert len(salvage.splitlines()) == 1
    wtpool_json(repo, "cleanup")
    assert not log.exists(), log.read_text()


def test_an_agents_own_commit_in_a_slot_still_runs_the_repositorys_hooks(repo: Path) -> None:
    log = repo.parent / "hooks.log"
    make_pool(repo, minimum=1)
    wtpool_json(repo, "acquire", "--agent", "a", "--task", "t1")
    _install_failing_hooks(repo, ("pre-commit",), log)
    slot = repo / ".agent-worktrees" / "pool-wt-1"
    (slot / "src" / "app.py").write_text("changed\n")
    commit = subprocess.run(
        ["git", "commit", "-qam", "agent"], cwd=slot, capture_output=True, text=True
    )
    assert commit.returncode != 0
    assert log.read_text().split() == ["pre-commit"]


def test_a_failure_to_create_the_salvage_branch_reports_gits_error(pool: Pool) -> None:
    # A branch named wtpool/salvage makes every wtpool/salvage/... name impossible: that is not
    # "no free name", and trying 99 names does not help.
    git(pool.root, "branch", "wtpool/salvage")
    wtpool_json(pool.root, "acquire", "--agent", "a")
    (pool.slot(1) / "notes.txt").write_text("work\n")
    result = wtpool(pool.root, "release", "pool-wt-1")
    assert_one_line_error(result, 1, "git update-ref")
    assert "free salvage branch name" not in result.stderr
    assert "refs/heads/wtpool/salvage" in result.stderr
    assert (pool.slot(1) / "notes.txt").read_text() == "work\n"
    assert wtpool_json(pool.root, "status")["worktrees"][0]["state"] == "busy"


# --- the pool directory (case 8) ------------------------------------------------------------


def _outside(tmp_path: Path) -> Path:
    victim = tmp_path / "outside"
    victim.mkdir()
    victim.chmod(0o755)
    (victim / "theirs.txt").write_text("not wtpool's\n")
    return victim


def _outside_unchanged(victim: Path) -> bool:
    return (victim.stat().st_mode & 0o777) == 0o755 and sorted(
        p.name for p in victim.iterdir()
    ) == ["theirs.txt"]


@pytest.mark.parametrize("kind", ["tracked link", "untracked link", "tracked directory"])
def test_init_refuses_a_pool_directory_that_is_a_link_or_tracked(tmp_path: Path, kind: str) -> None:
    victim = _outside(tmp_path)
    root = make_repo(tmp_path / "repo")
    pool_dir = root / ".agent-worktrees"
    if kind == "tracked directory":
        pool_dir.mkdir()
        (pool_dir / "README").write_text("the project's own\n")
    else:
        pool_dir.symlink_to(victim)
    if kind != "untracked link":
        git(root, "add", ".agent-worktrees")
        git(root, "commit", "-qm", "pool dir")
    before = snapshot(root)

    result = wtpool(root, "init")
    fragment = "is a symbolic link" if "link" in kind else "the repository tracks .agent-worktrees"
    assert_one_line_error(result, 1, fragment)
    assert snapshot(root) == before
    assert _outside_unchanged(victim)
    assert len(git(root, "worktree", "list", "--porcelain").split("\n\n")) == 1


def test_a_pool_directory_replaced_by_a_link_is_refused_by_every_command(
    tmp_path: Path,
) -> None:
    root = make_repo(tmp_path / "repo")
    make_pool(root, minimum=2)
    wtpool_json(root, "acquire", "--agent", "a")
    moved = tmp_path / "moved-pool"
    (root / ".agent-worktrees").rename(moved)
    (root / ".agent-worktrees").symlink_to(moved)
    registered = git(root, "worktree", "list", "--porcelain")

    for command in (
        ["init"],
        ["status"],
        ["acquire", "--agent", "b"],
        ["release", "pool-wt-1"],
        ["doctor", "--fix"],
        ["leaks", "--fix"],
        ["scale", "down"],
        ["report"],
        ["cleanup"],
    ):
        result = wtpool(root, *command)
        assert_one_line_error(result, 1, "is a symbolic link")
    assert git(root, "worktree", "list", "--porcelain") == registered
    assert sorted(p.name for p in moved.iterdir() if p.name.startswith("pool-wt")) == [
        "pool-wt-1",
        "pool-wt-2",
    ]


# --- files wtpool writes in a slot (case 19) --------------------------------------------------


def _tracking(tmp_path: Path, files: dict[str, str], config: str = "") -> Path:
    root = make_repo(tmp_path / "repo", {**FILES, **files})
    if config:
        (root / "wtpool.yaml").write_text(config)
        git(root, "add", "wtpool.yaml")
        git(root, "commit", "-qm", "config")
    make_pool(root, minimum=1, maximum=2)
    return root


def test_a_tracked_env_worktree_is_never_written_and_the_variables_go_elsewhere(
    tmp_path: Path,
) -> None:
    root = _tracking(tmp_path, {".env.worktree": "PROJECT_SETTING=theirs\n"})
    claim = wtpool_json(root, "acquire", "--agent", "a", "--task", "t1")
    slot = Path(claim["path"])
    assert (slot / ".env.worktree").read_text() == "PROJECT_SETTING=theirs\n"
    assert "WTPOOL_SLOT='pool-wt-1'" in (slot / ".wtpool" / "env").read_text()
    assert any(".wtpool/env" in warning for warning in claim["warnings"])
    assert git(slot, "status", "--porcelain", "--untracked-files=all") == ""
    status = wtpool_json(root, "status")["worktrees"][0]
    assert status["env_file"] == ".wtpool/env"
    assert "variables are in .wtpool/env" in wtpool(root, "status").stdout

    git(slot, "add", "--all")  # what an agent's `commit -a`/`add -A` would take: nothing of ours
    assert git(slot, "diff", "--cached", "--name-only") == ""
    released = wtpool_json(root, "release", "pool-wt-1")
    assert released["salvage_branch"] is None and released["saved"] is None
    assert not (slot / ".wtpool").exists()
    assert (slot / ".env.worktree").read_text() == "PROJECT_SETTING=theirs\n"
    assert git(root, "for-each-ref", "refs/heads/wtpool/salvage/") == ""


def test_the_hand_off_file_name_is_configurable_and_excluded_in_the_slot(tmp_path: Path) -> None:
    root = _tracking(tmp_path, {}, "agent:\n  env_file: tools/agent.env\n")
    slot = Path(wtpool_json(root, "acquire", "--agent", "a")["path"])
    assert "WTPOOL_AGENT='a'" in (slot / "tools" / "agent.env").read_text()
    assert not (slot / ".env.worktree").exists()
    assert git(slot, "check-ignore", "tools/agent.env") == "tools/agent.env"
    assert git(slot, "status", "--porcelain", "--untracked-files=all") == ""
    assert wtpool_json(root, "status")["worktrees"][0]["env_file"] == "tools/agent.env"
    wtpool_json(root, "release", "pool-wt-1")
    assert not (slot / "tools").exists()


def test_a_hand_off_path_the_repository_takes_back_from_the_excludes_is_refused(
    tmp_path: Path,
) -> None:
    root = _tracking(tmp_path, {".gitignore": "*.log\n!/.env.worktree\n"})
    result = wtpool(root, "acquire", "--agent", "a")
    assert_one_line_error(result, 1, "git does not ignore .env.worktree")
    assert not (root / ".agent-worktrees" / "pool-wt-1" / ".env.worktree").exists()
    assert wtpool_json(root, "status")["worktrees"][0]["state"] == "idle"


def test_tracked_links_on_the_hand_off_paths_are_never_written_through(tmp_path: Path) -> None:
    victim = _outside(tmp_path)
    root = make_repo(tmp_path / "repo")
    (root / ".env.worktree").symlink_to(victim / "theirs.txt")
    (root / ".wtpool").symlink_to(victim)
    git(root, "add", ".env.worktree", ".wtpool")
    git(root, "commit", "-qm", "links")
    make_pool(root, minimum=1)
    result = wtpool(root, "acquire", "--agent", "a")
    assert_one_line_error(result, 1, "the repository tracks .env.worktree and .wtpool/env")
    assert _outside_unchanged(victim)
    assert (victim / "theirs.txt").read_text() == "not wtpool's\n"
    assert wtpool_json(root, "status")["worktrees"][0]["state"] == "idle"


def test_a_link_an_agent_left_at_the_hand_off_path_is_replaced_not_followed(pool: Pool) -> None:
    victim = _outside(pool.root.parent)
    wtpool_json(pool.root, "acquire", "--agent", "a")
    env = pool.slot(1) / ".env.worktree"
    env.unlink()
    env.symlink_to(victim / "theirs.txt")
    wtpool_json(pool.root, "release", "pool-wt-1")
    wtpool_json(pool.root, "acquire", "--agent", "b")
    assert not env.is_symlink() and "WTPOOL_AGENT='b'" in env.read_text()
    assert (victim / "theirs.txt").read_text() == "not wtpool's\n"


def test_the_brief_says_where_the_variables_are_when_the_repository_tracks_the_name(
    tmp_path: Path,
) -> None:
    tasks = "tasks:\n  - {id: ui-1, title: UI, files: [src/]}\n"
    config = "tasks:\n  source: yaml\n"
    root = _tracking(tmp_path, {".env.worktree": "X=1\n", "tasks.yaml": tasks}, config)
    claim = wtpool_json(root, "assign", "alice", "ui-1")
    brief = (root / ".agent-worktrees" / ".briefs" / "ui-1.md").read_text()
    assert "`.wtpool/env` at the slot's root" in brief
    assert "Not `.env.worktree`: the repository tracks that file" in brief
    assert (Path(claim["path"]) / ".wtpool" / "env").is_file()


# --- cousins: other ways to send wtpool outside the pool ------------------------------------


def test_a_core_worktree_set_in_a_slot_does_not_send_wtpools_git_outside(pool: Pool) -> None:
    victim = _outside(pool.root.parent)
    slot = pool.slot(1)
    wtpool_json(pool.root, "acquire", "--agent", "a")
    git(slot, "config", "--worktree", "core.worktree", str(victim))
    (slot / "mine.txt").write_text("the agent's work\n")
    released = wtpool_json(pool.root, "release", "pool-wt-1")
    assert git(pool.root, "show", f"{released['salvage_branch']}:mine.txt") == "the agent's work"
    assert _outside_unchanged(victim)
    wtpool_json(pool.root, "acquire", "--agent", "b")
    assert git(slot, "rev-parse", "--show-toplevel") == str(slot)


def test_init_never_writes_its_config_through_a_tracked_link(tmp_path: Path) -> None:
    victim = _outside(tmp_path)
    root = make_repo(tmp_path / "repo")
    (root / "wtpool.yaml").symlink_to(victim / "planted.yaml")  # dangling: no config found
    git(root, "add", "wtpool.yaml")
    git(root, "commit", "-qm", "link")
    before = snapshot(root)
    result = wtpool(root, "init")
    assert_one_line_error(result, 1, "wtpool.yaml")
    assert snapshot(root) == before
    assert _outside_unchanged(victim)

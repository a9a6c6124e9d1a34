"""Hooks: trusted before they run, run in the slot with its environment, and a failing setup
hook takes its slot out of service without losing anything."""

from __future__ import annotations

import os
import time
from pathlib import Path

import psutil
import pytest
import yaml

from tests.conftest import (
    Pool,
    assert_one_line_error,
    git,
    make_pool,
    snapshot,
    wtpool,
    wtpool_json,
)


def write_hooks(root: Path, **hooks: object) -> None:
    (root / "wtpool.yaml").write_text(yaml.safe_dump({"hooks": hooks}))


def record(path: Path, words: str = "$WTPOOL_HOOK $WTPOOL_SLOT $WTPOOL_AGENT") -> list[str]:
    """A hook command that appends its variables and directory to `path`."""
    return ["sh", "-c", f'echo "{words} $PWD" >> {path}']


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_repository_hooks_run_only_once_trusted_and_again_after_a_change(
    repo: Path, tmp_path: Path
) -> None:
    log = tmp_path / "ran.txt"
    write_hooks(repo, post_create=[record(log)])
    before = snapshot(repo)
    refused = wtpool(repo, "init")
    assert_one_line_error(refused, 1, "are not trusted, so they will not run")
    assert "wtpool trust" in refused.stderr
    assert snapshot(repo)["worktrees"] == before["worktrees"] and not lines(log)

    trusted = wtpool_json(repo, "trust")
    assert trusted["hooks"]["post_create"] == [record(log)] and not trusted["already"]
    assert wtpool(repo, "init").returncode == 0
    slots = repo / ".agent-worktrees"
    assert lines(log) == [f"post_create pool-wt-{n}  {slots}/pool-wt-{n}" for n in (1, 2, 3)]

    write_hooks(repo, post_create=[record(log)], post_acquire=[record(log)])
    refused = wtpool(repo, "acquire", "--agent", "a")
    assert_one_line_error(refused, 1, "are not trusted")
    assert wtpool_json(repo, "status")["worktrees"][0]["state"] == "idle"
    assert wtpool_json(repo, "trust")["already"] is False
    assert wtpool(repo, "acquire", "--agent", "a").returncode == 0
    assert lines(log)[-1] == f"post_acquire pool-wt-1 a {slots}/pool-wt-1"
    # Trust outlives the session: the next one starts without asking again.
    assert wtpool(repo, "cleanup").returncode == 0
    assert wtpool(repo, "init").returncode == 0


def test_the_users_own_hooks_run_without_trust(repo: Path, tmp_path: Path) -> None:
    log = tmp_path / "ran.txt"
    user = Path(os.environ["XDG_CONFIG_HOME"]) / "wtpool" / "config.yaml"
    user.parent.mkdir(parents=True)
    user.write_text(yaml.safe_dump({"hooks": {"post_acquire": [record(log, "user")]}}))
    pool = make_pool(repo)
    assert wtpool(pool.root, "acquire", "--agent", "a").returncode == 0
    assert lines(log) == [f"user {pool.slot(1)}"]

    user.write_text("hooks:\n  post_acquire: [sh, -c, true]\n")  # not a list of lists
    assert_one_line_error(
        wtpool(pool.root, "acquire", "--agent", "b"), 2, "must be a list of lists of strings"
    )


def test_a_failing_post_acquire_hook_takes_the_slot_out_of_service(
    pool: Pool, tmp_path: Path
) -> None:
    # The hook fails for agent "bad" only, after leaving a file in the slot.
    write_hooks(
        pool.root,
        post_acquire=[["sh", "-c", 'echo note > hook-note.txt; test "$WTPOOL_AGENT" != bad']],
    )
    wtpool(pool.root, "trust")
    failed = wtpool(pool.root, "acquire", "--agent", "bad")
    assert_one_line_error(failed, 1, "hooks.post_acquire[0] exited 1 in pool-wt-1")
    assert "out of service" in failed.stderr and "pool-wt-1.hooks.log" in failed.stderr
    status = {s["name"]: s for s in wtpool_json(pool.root, "status")["worktrees"]}
    assert status["pool-wt-1"]["state"] == "idle"
    assert "exited 1" in status["pool-wt-1"]["out_of_service"]
    # Nothing is lost: what the hook wrote was saved before the slot was reset.
    salvaged = git(pool.root, "for-each-ref", "--format=%(refname)", "refs/heads/wtpool/salvage/")
    assert git(pool.root, "show", f"{salvaged}:hook-note.txt") == "note"

    good = wtpool_json(pool.root, "acquire", "--agent", "good")
    assert good["slot"] == "pool-wt-2"


def test_a_failing_post_create_hook_leaves_new_slots_out_of_service(repo: Path) -> None:
    write_hooks(repo, post_create=[["sh", "-c", 'test "$WTPOOL_SLOT" != pool-wt-2']])
    wtpool(repo, "trust")
    result = wtpool_json(repo, "init")
    assert result["created"] == ["pool-wt-1", "pool-wt-2", "pool-wt-3"]
    assert [w.split(":")[0] for w in result["warnings"]] == ["pool-wt-2 is out of service"]
    taken = [wtpool_json(repo, "acquire", "--agent", a)["slot"] for a in ("a", "b", "c")]
    assert taken == ["pool-wt-1", "pool-wt-3", "pool-wt-4"]  # never the broken one
    removed = wtpool_json(repo, "release", "pool-wt-4")
    assert removed["slot"] == "pool-wt-4"
    scaled = wtpool_json(repo, "scale", "down")
    assert scaled["removed"] == ["pool-wt-2"]  # out of service goes first


def test_refresh_puts_a_slot_back_in_service_once_its_hook_succeeds(repo: Path) -> None:
    flag = repo.parent / "ready"
    write_hooks(
        repo, post_create=[["sh", "-c", f'test "$WTPOOL_SLOT" != pool-wt-1 || test -e {flag}']]
    )
    wtpool(repo, "trust")
    wtpool_json(repo, "init")
    still = wtpool_json(repo, "refresh", "pool-wt-1")
    assert "exited 1" in still["out_of_service"]
    assert wtpool_json(repo, "acquire", "--agent", "a")["slot"] == "pool-wt-2"
    flag.write_text("")
    back = wtpool_json(repo, "refresh", "pool-wt-1")
    assert back["out_of_service"] is None and back["hooks"]["ok"]
    assert wtpool_json(repo, "acquire", "--agent", "b")["slot"] == "pool-wt-1"


def test_a_failing_pre_release_hook_is_reported_and_the_work_is_saved(
    pool: Pool, tmp_path: Path
) -> None:
    write_hooks(pool.root, pre_release=[["sh", "-c", "echo late > late.txt; exit 3"]])
    wtpool(pool.root, "trust")
    wtpool_json(pool.root, "acquire", "--agent", "a")
    (pool.slot(1) / "work.txt").write_text("the agent's\n")
    released = wtpool_json(pool.root, "release", "pool-wt-1")
    assert released["warnings"] == [
        f"hooks.pre_release[0] exited 3 in pool-wt-1 "
        f"(see {pool.root}/.agent-worktrees/logs/pool-wt-1.hooks.log)"
    ]
    branch = released["salvage_branch"]
    assert git(pool.root, "show", f"{branch}:work.txt") == "the agent's"
    assert git(pool.root, "show", f"{branch}:late.txt") == "late"


def test_a_hook_that_runs_too_long_is_stopped_with_what_it_started(
    pool: Pool, tmp_path: Path
) -> None:
    pids = tmp_path / "pids"
    sleeper = f"sleep 300 & echo $! > {pids}; wait"
    (pool.root / "wtpool.yaml").write_text(
        yaml.safe_dump({"hooks": {"post_acquire": [["sh", "-c", sleeper]], "timeout": 1}})
    )
    wtpool(pool.root, "trust")
    result = wtpool(pool.root, "acquire", "--agent", "a")
    assert_one_line_error(result, 1, "ran longer than hooks.timeout (1 s)")
    child = int(pids.read_text())
    deadline = time.monotonic() + 10
    while psutil.pid_exists(child) and psutil.Process(child).status() != "zombie":
        assert time.monotonic() < deadline, "the hook's child outlived its timeout"
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("hooks", "fragment"),
    [
        ({"post_create": "npm ci"}, "hooks.post_create must be a list of lists of strings"),
        ({"post_create": [[]]}, "hooks.post_create[0] must be an argument list"),
        ({"on_state_change": [" "]}, "hooks.on_state_change must be an argument list"),
        ({"pre_remove": [["x"]], "timeout": -1}, "hooks.timeout must be a positive number"),
        ({"post_install": [["x"]]}, "unknown key hooks.post_install"),
    ],
)
def test_malformed_hooks_are_refused_by_key(pool: Pool, hooks: dict, fragment: str) -> None:
    write_hooks(pool.root, **hooks)
    before = snapshot(pool.root)
    assert_one_line_error(wtpool(pool.root, "acquire", "--agent", "a"), 2, fragment)
    assert snapshot(pool.root) == before


def test_a_hook_program_that_does_not_exist_is_refused_before_the_claim(pool: Pool) -> None:
    write_hooks(pool.root, post_acquire=[["no-such-program-anywhere", "x"]])
    wtpool(pool.root, "trust")
    before = snapshot(pool.root)
    result = wtpool(pool.root, "acquire", "--agent", "a")
    assert_one_line_error(result, 2, "hooks.post_acquire[0]: program 'no-such-program-anywhere'")
    assert snapshot(pool.root) == before


def test_pre_remove_runs_before_scale_down_and_cleanup(pool: Pool, tmp_path: Path) -> None:
    log = tmp_path / "ran.txt"
    write_hooks(pool.root, pre_remove=[record(log)], pre_release=[record(log)])
    wtpool(pool.root, "trust")
    wtpool(pool.root, "scale", "up")
    assert wtpool_json(pool.root, "scale", "down")["removed"] == ["pool-wt-4"]
    assert lines(log) == [f"pre_remove pool-wt-4  {pool.slot(4)}"]
    wtpool_json(pool.root, "acquire", "--agent", "a")
    assert wtpool(pool.root, "cleanup").returncode == 0
    ran = lines(log)[1:]
    assert f"pre_release pool-wt-1 a {pool.slot(1)}" in ran
    assert sorted(line.split()[1] for line in ran if line.startswith("pre_remove")) == [
        "pool-wt-1",
        "pool-wt-2",
        "pool-wt-3",
    ]

"""Agents you can watch and reach: their state, their tmux sessions, their output, and the
hook told when their state changes. Real agents under the runner, real tmux."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.conftest import assert_one_line_error, make_pool, make_repo, wtpool, wtpool_json
from worktree_pool.coord.watch import Monitor
from worktree_pool.git.repo import open_repository
from worktree_pool.pool.opening import open_store

TASKS = (
    "tasks:\n  - {id: one, title: One, files: [src/]}\n  - {id: two, title: Two, files: [docs/]}\n"
)
NEEDS_TMUX = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux installed")


def pool_with_agent(tmp: Path, script: str, **agent: object) -> Path:
    """A pool whose agent is `script` (sh), with a small idle_after."""
    root = make_repo(tmp / "repo", {"src/a.py": "a\n", "docs/d.md": "d\n"})
    (root / "tasks.yaml").write_text(TASKS)
    (root / "agent.sh").write_text(script)
    config = {
        "pool": {"min": 1, "max": 3},
        "tasks": {"source": "yaml"},
        "agent": {"command": ["sh", str(root / "agent.sh")], "idle_after": 1.5, **agent},
    }
    (root / "wtpool.yaml").write_text(yaml.safe_dump(config))
    make_pool(root, 1, 3)
    return root


def wait_for(predicate: Callable[[], object], what: str) -> object:
    deadline = time.monotonic() + 60
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return value


def activity(root: Path, slot: str = "pool-wt-1") -> dict:
    (found,) = [s for s in wtpool_json(root, "status")["worktrees"] if s["name"] == slot]
    return found["activity"] or {}


def state_becomes(root: Path, state: str) -> dict:
    return wait_for(lambda: (a := activity(root)).get("state") == state and a, state)  # type: ignore[return-value]


def test_a_working_agent_that_goes_silent_is_waiting(tmp_path: Path) -> None:
    quiet = tmp_path / "be-quiet"  # the agent ticks until the test makes this file
    script = f"while [ ! -e {quiet} ]; do echo tick; sleep 0.2; done\nsleep 600\n"
    root = pool_with_agent(tmp_path, script)
    wtpool_json(root, "spawn", "1")
    assert state_becomes(root, "working")["last_line"] == "tick"
    quiet.write_text("")
    assert state_becomes(root, "waiting")["quiet_for"] >= 1.5
    wtpool(root, "stop", "pool-wt-1")
    assert state_becomes(root, "stopped")


def test_a_prompt_matching_the_pattern_is_waiting_at_once(tmp_path: Path) -> None:
    root = pool_with_agent(
        tmp_path, "echo 'Apply these changes? [y/n]'; sleep 600\n", idle_after=600
    )
    wtpool_json(root, "spawn", "1")
    found = state_becomes(root, "waiting")
    assert found["last_line"] == "Apply these changes? [y/n]" and found["quiet_for"] < 600
    shown = wtpool(root, "status").stdout
    assert "waiting" in shown
    wtpool(root, "stop", "pool-wt-1")


def test_an_agent_that_computes_in_silence_is_working(tmp_path: Path) -> None:
    root = pool_with_agent(tmp_path, "echo go\nwhile true; do :; done\n")
    wtpool_json(root, "spawn", "1")
    state_becomes(root, "working")
    time.sleep(2)  # past idle_after, with no output: only its CPU time says it works
    assert activity(root)["state"] == "working"
    wtpool(root, "stop", "pool-wt-1")


def test_exited_with_its_code(tmp_path: Path) -> None:
    root = pool_with_agent(tmp_path, "echo done; exit 3\n")
    wtpool_json(root, "spawn", "1")
    found = state_becomes(root, "exited")
    assert found["exit_code"] == 3
    assert "exited 3" in wtpool(root, "status").stdout
    assert wtpool(root, "logs", "pool-wt-1").stdout.splitlines()[-1] == "done"


def test_logs_follow_until_the_agent_ends(tmp_path: Path) -> None:
    root = pool_with_agent(tmp_path, "for i in 1 2 3; do echo line $i; sleep 0.5; done\n")
    wtpool_json(root, "spawn", "1")
    followed = wtpool(root, "logs", "-f", "pool-wt-1")
    assert followed.returncode == 0
    assert followed.stdout.splitlines()[-3:] == ["line 1", "line 2", "line 3"]
    assert_one_line_error(wtpool(root, "logs", "pool-wt-2"), 2, "no slot named 'pool-wt-2'")
    wtpool_json(root, "scale", "up")
    assert_one_line_error(wtpool(root, "logs", "pool-wt-2"), 1, "has no agent log yet")


def test_state_changes_run_the_hook_with_their_variables(tmp_path: Path) -> None:
    told = tmp_path / "told.txt"
    root = pool_with_agent(tmp_path, "echo hello; sleep 1; exit 4\n")
    config = yaml.safe_load((root / "wtpool.yaml").read_text())
    record = f'echo "$WTPOOL_SLOT $WTPOOL_TASK $WTPOOL_STATE" >> {told}'
    config["hooks"] = {"on_state_change": ["sh", "-c", record]}
    (root / "wtpool.yaml").write_text(yaml.safe_dump(config))
    assert wtpool(root, "trust").returncode == 0
    wtpool_json(root, "spawn", "1")
    repo = open_repository(root)
    with open_store(repo) as store:
        watcher = Monitor(repo, store, background=False)
        watcher.frame()  # where it starts from: not a change
        wait_for(lambda: activity(root).get("state") == "exited", "the agent's exit")
        watcher.frame()
        wait_for(lambda: told.exists() and told.read_text(), "the hook")
        watcher.frame()
    assert told.read_text().splitlines()[-1] == "pool-wt-1 one exited 4"


@NEEDS_TMUX
def test_an_agent_in_tmux_can_be_reached_and_stopped(tmp_path: Path) -> None:
    script = "printf 'Your name? '\nread name\necho \"hello $name\"\nsleep 600\n"
    root = pool_with_agent(tmp_path, script, terminal="tmux", idle_after=600)
    (item,) = wtpool_json(root, "spawn", "1")["spawned"]
    assert state_becomes(root, "waiting")["last_line"] == "Your name?"
    sent = wtpool_json(root, "send", "pool-wt-1", "Ada")
    assert sent["slots"] == ["pool-wt-1"]
    wait_for(lambda: "hello Ada" in wtpool(root, "logs", "pool-wt-1").stdout, "the reply")
    assert wtpool_json(root, "send", "--all", "again")["slots"] == ["pool-wt-1"]
    stopped = wtpool(root, "stop", "pool-wt-1")
    assert stopped.returncode == 0, stopped.stderr
    assert_one_line_error(wtpool(root, "attach", "pool-wt-1"), 1, "has no tmux session")
    assert_one_line_error(wtpool(root, "send", "pool-wt-1", "x"), 1, "has no tmux session")
    assert_one_line_error(wtpool(root, "send", "--all", "x"), 2, "no slot's agent runs in tmux")
    assert activity(root)["state"] == "stopped"
    assert item["agent_pid"]


@NEEDS_TMUX
def test_cleanup_leaves_no_tmux_session(tmp_path: Path) -> None:
    root = pool_with_agent(tmp_path, "echo 'ready'; exec sleep 600\n", terminal="tmux")
    wtpool_json(root, "spawn", "2")
    wait_for(lambda: activity(root).get("state") in ("working", "waiting"), "the agent")
    from worktree_pool.agents.terminal import live_sessions

    repo = open_repository(root)
    assert live_sessions(repo) == ["pool-wt-1", "pool-wt-2"]
    assert json.loads(wtpool(root, "cleanup", "--json").stdout)["complete"]
    assert live_sessions(repo) == []

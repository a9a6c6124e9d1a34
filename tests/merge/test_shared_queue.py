"""One merge queue for every host of a shared control plane: any host's processor lands any
entry whose branch was pushed, and the entry's own host does what follows (its slot released,
its base following the remote). Real clones, a real bare remote, the server at 127.0.0.1:5432.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg

from tests.conftest import assert_one_line_error, git, snapshot, wtpool, wtpool_json
from tests.fleet import Plane, make_hosts
from worktree_pool.git.repo import open_repository
from worktree_pool.merge.landing import run_queue
from worktree_pool.merge.queue import QUEUE_LOCK, enqueue
from worktree_pool.pool.opening import open_store
from worktree_pool.store.split import running_alone
from worktree_pool.util.testpoints import VARIABLE

BRANCH = "wtpool/task/t01"


def _finished_slot(root: Path, task: str) -> str:
    """An agent's slot holding `task`, with one commit of work; its commit."""
    assert wtpool(root, "acquire", "--agent", f"a-{task}", "--task", task).returncode == 0
    slot = root / ".agent-worktrees" / "pool-wt-1"
    (slot / "src" / task / "code.py").write_text(f"DONE = {task!r}\n")
    git(slot, "commit", "-qam", f"finish {task}")
    return git(slot, "rev-parse", "HEAD").strip()


def _queue_without_running(root: Path, target: str, *, release: bool = False) -> None:
    """What `wtpool merge` does before it starts a run: so that another host lands it."""
    repo = open_repository(root)
    with open_store(repo) as store:
        enqueue(repo, store, target, release=release)


def _slot_state(root: Path) -> str:
    return wtpool_json(root, "status")["worktrees"][0]["state"]


def test_a_host_lands_another_hosts_entry_and_its_own_host_releases_the_slot(
    tmp_path: Path, plane: Plane
) -> None:
    first, second = make_hosts(tmp_path, plane, 2, push=True)
    tip = _finished_slot(first, "t01")
    _queue_without_running(first, "pool-wt-1", release=True)
    remote = tmp_path / "remote.git"
    assert git(remote, "rev-parse", BRANCH).strip() == tip  # pushed before it was queued

    ran = wtpool_json(second, "queue", "--run")
    (entry,) = ran["entries"]
    assert entry["state"] == "merged" and entry["follow_up"]
    assert "pushed to origin/main" in entry["notes"]
    assert git(remote, "merge-base", "--is-ancestor", tip, "main") == ""
    assert git(remote, "branch", "--list", BRANCH) == ""  # its copy there served its purpose
    host = plane.query("SELECT id FROM {schema}.hosts WHERE repository = %s", str(first))[0][0]
    assert entry["host"] == host  # each row says which host it came from
    assert host in wtpool(second, "queue").stdout
    assert _slot_state(first) == "busy"  # the slot is the first host's to release

    assert wtpool(first, "queue", "--run").returncode == 0
    (entry,) = wtpool_json(first, "queue")["entries"]
    assert not entry["follow_up"] and "released pool-wt-1" in entry["notes"]
    assert _slot_state(first) == "idle"
    assert git(first, "rev-parse", "main") == git(remote, "rev-parse", "main")
    assert git(first, "status", "--porcelain") == ""


def test_merge_wait_is_woken_when_another_hosts_processor_lands_it(
    tmp_path: Path, plane: Plane
) -> None:
    first, second = make_hosts(tmp_path, plane, 2, push=True)
    _finished_slot(first, "t01")
    repo = open_repository(second)
    with open_store(repo) as store, running_alone(store, QUEUE_LOCK) as alone:
        assert alone  # the second host runs the queue: the first one's `merge` only waits
        waiting = subprocess.Popen(
            [sys.executable, "-m", "worktree_pool", "merge", "--wait", "--release", "--json"],
            cwd=first / ".agent-worktrees" / "pool-wt-1",
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        while not plane.query("SELECT id FROM {schema}.merges"):
            assert waiting.poll() is None, waiting.communicate()
            time.sleep(0.05)
        queued = wtpool_json(first, "queue")
        assert queued["entries"][0]["state"] == "queued" and queued["processor"] is None
        (landed,) = run_queue(repo, store).processed  # type: ignore[union-attr]
        assert landed.state == "merged"
    out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, err
    entry = json.loads(out)["entry"]
    assert entry["state"] == "merged" and "released pool-wt-1" in entry["notes"]
    assert _slot_state(first) == "idle"


def test_a_changed_entry_is_announced_to_listeners(tmp_path: Path, plane: Plane) -> None:
    (root,) = make_hosts(tmp_path, plane, 1, push=True)
    _finished_slot(root, "t01")
    with psycopg.connect(plane.url, autocommit=True) as listener:
        listener.execute(f"LISTEN {plane.schema}_merges")
        _queue_without_running(root, "pool-wt-1")
        (notice,) = list(listener.notifies(timeout=10, stop_after=1))
    (entry,) = plane.query("SELECT id FROM {schema}.merges")
    assert notice.payload == str(entry[0])


def test_cleanup_on_one_host_drops_its_own_entries_only(tmp_path: Path, plane: Plane) -> None:
    first, second = make_hosts(tmp_path, plane, 2, push=True)
    for root, task in ((first, "t01"), (second, "t02")):
        _finished_slot(root, task)
        _queue_without_running(root, "pool-wt-1")

    cleaned = wtpool(first, "cleanup")
    assert cleaned.returncode == 0, cleaned.stderr
    entries = wtpool_json(second, "queue")["entries"]
    assert [(e["task"], e["state"]) for e in entries] == [("t02", "queued")]
    assert wtpool(second, "queue", "--run").returncode == 0
    assert wtpool_json(second, "queue")["entries"][0]["state"] == "merged"


def test_a_remote_that_refuses_the_branch_queues_nothing(tmp_path: Path, plane: Plane) -> None:
    (root,) = make_hosts(tmp_path, plane, 1, push=True)
    _finished_slot(root, "t01")
    hook = tmp_path / "remote.git" / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'wtpool/* branches are protected' >&2\nexit 1\n")
    hook.chmod(0o755)
    before = snapshot(root)

    refused = wtpool(root, "merge", "pool-wt-1")
    assert_one_line_error(refused, 1, f"cannot push {BRANCH} to origin")
    assert "protected" in refused.stderr and "must accept wtpool/* branches" in refused.stderr
    assert snapshot(root) == before
    assert plane.query("SELECT id FROM {schema}.merges") == []


def test_an_entry_queued_while_a_processor_lets_go_is_landed_by_it(
    tmp_path: Path, plane: Plane
) -> None:
    first, second = make_hosts(tmp_path, plane, 2, push=True)
    _finished_slot(first, "t01")
    gate = tmp_path / "go"
    letting_go = subprocess.Popen(  # the second host's run, done, still holding the lock
        [sys.executable, "-m", "worktree_pool", "queue", "--run", "--json"],
        cwd=second,
        env={**os.environ, VARIABLE: f"merge.letting-go:wait:{gate}"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    while not Path(f"{gate}.reached").exists():
        assert letting_go.poll() is None, letting_go.communicate()
        time.sleep(0.05)
    # Queued now, its own run would find the lock held and leave: no one else is coming.
    _queue_without_running(first, "pool-wt-1")
    gate.touch()
    out, err = letting_go.communicate(timeout=120)
    assert letting_go.returncode == 0, err
    assert [entry["state"] for entry in json.loads(out)["entries"]] == ["merged"]

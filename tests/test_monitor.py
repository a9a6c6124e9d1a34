"""Resource samples, safety limits, alerts, and `wtpool check` / `wtpool monitor`, driven through
the real CLI on real repositories, processes and (where a test asks) an embedded PostgreSQL."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import env_file, make_pool, make_repo, snapshot, wtpool, wtpool_json
from worktree_pool.sizes import format_size, parse_size

TASKS = {"tasks": [{"id": "t1", "title": "one", "files": ["src/"]}]}


def _limited(tmp: Path, limits: str, extra: str = "") -> Path:
    """A pool of 1 to 3 slots with `limits` (YAML lines under `limits:`) in its config."""
    root = make_repo(tmp / "watched", {"README.md": "x\n", "src/app.py": "print(1)\n"})
    (root / "tasks.yaml").write_text(json.dumps(TASKS))
    config = f"pool:\n  min: 1\n  max: 3\ntasks:\n  source: yaml\nlimits:\n{limits}{extra}"
    (root / "wtpool.yaml").write_text(config)
    make_pool(root, 1, 3)
    return root


def _alerts(root: Path) -> list[dict]:
    path = root / ".agent-worktrees" / "alerts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _set_limits(root: Path, old: str, new: str) -> None:
    config = root / "wtpool.yaml"
    config.write_text(config.read_text().replace(old, new))


@pytest.mark.parametrize(
    ("text", "size"),
    [("2.8GB", 2_800_000_000), ("3000MB", 3_000_000_000), ("1.5 KiB", 1536), ("42", 42)],
)
def test_sizes_are_read_in_decimal_or_binary_units(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "GB", "2.8 parsecs", "-1GB", "1e3MB", "2..8GB"])
def test_what_is_not_a_size_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_size(text)


@given(st.integers(min_value=0, max_value=10**15))
def test_a_formatted_size_reads_back_within_its_rounding(size: int) -> None:
    back = parse_size(format_size(size).replace(" ", ""))
    assert abs(back - size) <= max(1, size * 0.01)


def test_crossing_the_disk_limits_alerts_once_per_change_and_check_exits_by_level(
    tmp_path: Path,
) -> None:
    root = _limited(tmp_path, "  disk_warning: 1KB\n  disk_critical: 1GB\n")
    warned = wtpool(root, "check")
    assert warned.returncode == 0, warned.stderr  # a warning alone passes...
    assert "disk warning" in warned.stdout
    assert wtpool(root, "check", "--strict").returncode == 1  # ...unless --strict
    assert [(a["resource"], a["previous"], a["level"]) for a in _alerts(root)] == [
        ("disk", "ok", "warning")
    ]  # two checks at the same level: one alert

    _set_limits(root, "1GB", "2KB")
    critical = wtpool(root, "check", "--json")
    assert critical.returncode == 1
    found = {f["resource"]: f["level"] for f in json.loads(critical.stdout)["findings"]}
    assert found == {"disk": "critical", "fds": "ok"}
    assert [a["level"] for a in _alerts(root)] == ["warning", "critical"]


def test_a_critical_limit_queues_spawn_and_acquire_until_it_clears(tmp_path: Path) -> None:
    root = _limited(tmp_path, "  disk_warning: 1KB\n  disk_critical: 2KB\n")
    spawned = wtpool_json(root, "spawn", "1")
    assert spawned["spawned"] == []
    assert spawned["queued"][0]["task"] == "t1"
    assert "disk critical" in spawned["queued"][0]["held_back"]
    acquired = wtpool(root, "acquire", "--agent", "bob")
    assert acquired.returncode == 0
    assert "a limit is critical (disk critical" in acquired.stdout
    status = wtpool_json(root, "status")
    assert [s["state"] for s in status["worktrees"]] == ["idle"]  # a free slot, held back
    assert [q["agent"] for q in status["queue"]] == ["t1", "bob"]

    _set_limits(root, "2KB", "1GB")
    frame = wtpool_json(root, "monitor")  # a watcher serves the queue once nothing is critical
    assert [s["task"] for s in frame["slots"]] == ["t1"]
    assert frame["queue"] == ["bob"]  # no idle slot left, and no autoscale: bob waits
    assert wtpool(root, "release", "pool-wt-1").returncode == 0
    status = wtpool_json(root, "status")
    assert [(s["agent"], s["state"]) for s in status["worktrees"]] == [("bob", "busy")]
    assert status["queue"] == []


def test_autoscale_adds_one_slot_per_refresh_while_requests_wait(tmp_path: Path) -> None:
    root = _limited(tmp_path, "  disk_critical: 2KB\n  disk_warning: 1KB\n")
    _set_limits(root, "  min: 1\n", "  min: 1\n  autoscale: true\n")
    for agent in ("a", "b"):
        assert wtpool(root, "acquire", "--agent", agent).returncode == 0  # both held back
    _set_limits(root, "2KB", "1GB")
    # The one idle slot serves the first request at once; then one slot per refresh.
    first = wtpool_json(root, "monitor")
    assert len(first["slots"]) == 1 and first["queue"] == ["b"]
    second = wtpool_json(root, "monitor")
    assert [s["agent_state"] for s in second["slots"]] == ["a", "b"]


def test_db_connections_are_counted_per_slot_database(tmp_path: Path, with_databases: None) -> None:
    root = _limited(tmp_path, "  db_connections_warning: 2\n  db_connections_critical: 3\n")
    try:
        claim = wtpool_json(root, "acquire", "--agent", "alice")
        url = env_file(Path(claim["path"]))["DATABASE_URL"]
        held = [psycopg.connect(url) for _ in range(3)]
        try:
            result = wtpool(root, "check", "--json")
            assert result.returncode == 1, result.stdout
            frame = wtpool_json(root, "monitor")
        finally:
            for connection in held:
                connection.close()
        sample = json.loads(result.stdout)["sample"]
        assert sample["database"]["connections"] == 3
        assert sample["database"]["by_database"] == {f"{root.name}_wt_1": 3}
        assert [s["db_connections"] for s in frame["slots"]] == [3]
    finally:
        wtpool(root, "cleanup", "--force")


HOARDER = """\
import os, resource, sys, time
resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
held = [open(os.devnull) for _ in range(56)]
if os.fork() == 0:
    os._exit(0)  # a child nobody reaps: a zombie in the agent's group
print("holding", flush=True)
time.sleep(600)
"""


def test_an_agent_near_its_fd_limit_and_its_zombie_are_seen(tmp_path: Path) -> None:
    script = tmp_path / "hoarder.py"
    script.write_text(HOARDER)
    agent = f'agent:\n  command: ["{sys.executable}", "{script}"]\n'
    root = _limited(tmp_path, "  fd_warning_percent: 50\n  fd_critical_percent: 85\n", agent)
    assert wtpool(root, "spawn", "1").returncode == 0
    log = root / ".agent-worktrees" / "logs" / "pool-wt-1.log"
    deadline = time.monotonic() + 60
    while "holding" not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline, "the agent never started holding files"
        time.sleep(0.05)
    try:
        result = wtpool(root, "check", "--json")
        assessment = json.loads(result.stdout)
        fds = {f["resource"]: f for f in assessment["findings"]}["fds"]
        assert fds["level"] == "critical" and result.returncode == 1
        assert "pool-wt-1 pid" in fds["detail"] and "/64" in fds["detail"]
        (agent_use,) = assessment["sample"]["agents"]
        assert agent_use["state"] == "running" and agent_use["zombies"] == 1
        assert agent_use["rss_bytes"] > 0
    finally:
        wtpool(root, "stop", "--all")


def test_monitor_once_fits_80_columns(tmp_path: Path) -> None:
    root = _limited(tmp_path, "  disk_warning: 1KB\n")
    assert (
        wtpool(root, "acquire", "--agent", "a-rather-long-agent-name", "--task", "t1").returncode
        == 0
    )
    result = wtpool(root, "monitor", "--once", env={"COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "wtpool monitor" in lines[0]
    assert any(line.startswith("wt-1") and "+0/-0" in line for line in lines)
    assert any("disk ok -> warning" in line for line in lines)  # the last alerts
    assert max(len(line) for line in lines) <= 80


def _read_until(descriptor: int, wanted: bytes, seconds: float = 60) -> bytes:
    seen = b""
    deadline = time.monotonic() + seconds
    while wanted not in seen:
        assert time.monotonic() < deadline, seen[-500:]
        ready, _, _ = select.select([descriptor], [], [], 0.5)
        if ready:
            try:
                seen += os.read(descriptor, 65536)
            except OSError:  # the other side closed
                break
    return seen


@pytest.mark.parametrize("key", ["q", "ctrl-c"])
def test_the_live_dashboard_runs_in_a_terminal_and_quits_cleanly(tmp_path: Path, key: str) -> None:
    root = _limited(tmp_path, "  disk_warning: 1GB\n")
    controller, terminal = pty.openpty()
    monitor = subprocess.Popen(
        [sys.executable, "-m", "worktree_pool", "monitor", "--interval", "0.2"],
        cwd=root,
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env={**os.environ, "COLUMNS": "80", "LINES": "40", "TERM": "xterm"},
    )
    os.close(terminal)
    try:
        shown = _read_until(controller, b"q quits")
        shown += _read_until(controller, b"q quits")  # a second frame: it is live
        assert b"wt-1" in shown
        if key == "q":
            os.write(controller, b"q")
        else:  # what the terminal sends the foreground process on Ctrl-C
            monitor.send_signal(signal.SIGINT)
        assert monitor.wait(timeout=30) == 0
        rest = b""
        while select.select([controller], [], [], 0.2)[0]:
            try:
                rest += os.read(controller, 65536)
            except OSError:
                break
        assert b"Traceback" not in shown + rest
    finally:
        if monitor.poll() is None:
            monitor.kill()
        os.close(controller)


def test_check_on_a_repository_without_a_pool_changes_nothing(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "bare")
    before = snapshot(root)
    result = wtpool(root, "check")
    assert result.returncode == 1 and result.stderr.startswith("error: no wtpool pool")
    assert snapshot(root) == before

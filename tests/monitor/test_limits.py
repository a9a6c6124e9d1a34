"""Resource samples, safety limits, alerts, and `wtpool check` / `wtpool monitor`, driven through
the real CLI on real repositories, processes and (where a test asks) an embedded PostgreSQL."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import termios
import time
from pathlib import Path

import psutil
import psycopg
import pytest

from tests.conftest import (
    database_prefix,
    env_file,
    make_pool,
    make_repo,
    snapshot,
    wtpool,
    wtpool_json,
)

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
    again = wtpool(root, "acquire", "--agent", "bob")  # asking again gives the same reason
    assert "(already queued)" in again.stdout and "a limit is critical" in again.stdout
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
    for agent in ("a", "b", "c"):
        assert wtpool(root, "acquire", "--agent", agent).returncode == 0  # all held back
    _set_limits(root, "2KB", "1GB")
    # The one idle slot serves the first request at once; then one slot per refresh.
    frames = [wtpool_json(root, "monitor") for _ in range(3)]
    assert [[s["agent_state"] for s in frame["slots"]] for frame in frames] == [
        ["a"],
        ["a", "b"],
        ["a", "b", "c"],
    ]
    assert [frame["queue"] for frame in frames] == [["b", "c"], ["c"], []]


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
        # The embedded server's data is the pool's database bytes, not its slots' bytes.
        server_bytes = sample["disk"]["by_entry"][".postgres"]
        assert sample["disk"]["database_bytes"] == server_bytes > 1_000_000
        assert (
            sample["disk"]["pool_bytes"] == sum(sample["disk"]["by_entry"].values()) - server_bytes
        )
        assert sample["database"]["by_database"] == {f"{database_prefix(root)}_wt_1": 3}
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


def _read_until_exit(descriptor: int, process: subprocess.Popen, seconds: float = 30) -> bytes:
    seen = b""
    deadline = time.monotonic() + seconds
    while process.poll() is None:
        assert time.monotonic() < deadline, f"still running after {seconds} s: {seen[-500:]!r}"
        if select.select([descriptor], [], [], 0.2)[0]:
            try:
                seen += os.read(descriptor, 65536)
            except OSError:  # the other side closed
                time.sleep(0.05)
    return seen


def test_monitor_once_renders_in_a_terminal_of_80_columns(tmp_path: Path) -> None:
    root = _limited(tmp_path, "  disk_warning: 1KB\n")
    assert wtpool(root, "acquire", "--agent", "alice", "--task", "t1").returncode == 0
    controller, terminal = pty.openpty()
    termios.tcsetwinsize(terminal, (40, 80))  # rows, columns: what rich asks the terminal
    once = subprocess.Popen(
        [sys.executable, "-m", "worktree_pool", "monitor", "--once"],
        cwd=root,
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env={k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")},
    )
    os.close(terminal)
    try:
        shown = _read_until(controller, b"last alerts")
        assert once.wait(timeout=60) == 0
        while select.select([controller], [], [], 0.5)[0]:
            try:
                shown += os.read(controller, 65536)
            except OSError:
                break
    finally:
        os.close(controller)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown.decode(errors="replace"))
    lines = text.replace("\r", "").splitlines()
    assert any("wtpool monitor" in line for line in lines)
    assert any(line.startswith("wt-1") for line in lines)
    assert max(len(line) for line in lines) <= 80


def _ignore_interrupts() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("key", ["q", "ctrl-c", "ctrl-c, started ignoring it"])
def test_the_live_dashboard_runs_in_a_terminal_and_quits_cleanly(tmp_path: Path, key: str) -> None:
    """A shell without job control starts background commands with SIGINT ignored, and Python
    then keeps it ignored; the dashboard says Ctrl-C quits, so it must quit there too."""
    root = _limited(tmp_path, "  disk_warning: 1GB\n")
    controller, terminal = pty.openpty()
    monitor = subprocess.Popen(
        [sys.executable, "-m", "worktree_pool", "monitor", "--interval", "0.2"],
        cwd=root,
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env={**os.environ, "COLUMNS": "80", "LINES": "40", "TERM": "xterm"},
        preexec_fn=_ignore_interrupts if "ignoring" in key else None,
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
        # Read on while it quits, as a terminal does: a full terminal buffer would block its
        # last frame's write, and the test would time out rather than the dashboard.
        rest = _read_until_exit(controller, monitor)
        assert monitor.wait() == 0
        restored = termios.tcgetattr(controller)[3]  # the local modes the dashboard changed
        assert restored & termios.ICANON and restored & termios.ECHO
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


def test_leaks_are_found_and_fixed_without_losing_work(
    tmp_path: Path, with_databases: None
) -> None:
    script = tmp_path / "hoarder.py"
    script.write_text(HOARDER)
    agent = f'agent:\n  command: ["{sys.executable}", "{script}"]\n'
    root = _limited(tmp_path, "  disk_warning: 1GB\n", agent)
    prefix = database_prefix(root)
    pool_dir = root / ".agent-worktrees"
    stray = shell = None
    try:
        assert wtpool(root, "spawn", "1").returncode == 0  # pool-wt-1: an agent with a zombie
        second = wtpool_json(root, "acquire", "--agent", "bob")  # pool-wt-2, with a database
        url = env_file(Path(second["path"]))["DATABASE_URL"]
        with psycopg.connect(url, autocommit=True) as db:
            db.execute(f'CREATE DATABASE "{prefix}_wt_42"')  # named like ours, not ours
        # A slot whose directory is gone (its database is then an orphan), a worktree nobody
        # recorded (with work in it), a process left in a dead slot, a stale git lock, and a
        # branch the base already has.
        subprocess.run(["rm", "-rf", second["path"]], check=True)
        git_dir = Path(
            subprocess.run(
                ["git", "rev-parse", "--absolute-git-dir"],
                cwd=pool_dir / "pool-wt-1",
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
        )
        lock = git_dir / "index.lock"
        lock.write_text("")
        os.utime(lock, (time.time() - 3600, time.time() - 3600))
        subprocess.run(
            ["git", "worktree", "add", "-q", "-b", "lost", str(pool_dir / "pool-wt-7")],
            cwd=root,
            check=True,
        )
        (pool_dir / "pool-wt-7" / "notes.md").write_text("only here\n")
        (pool_dir / "pool-wt-9").mkdir()
        sleeper = [sys.executable, "-c", "import time; time.sleep(600)"]
        # Left behind by an agent whose group is long gone...
        stray = subprocess.Popen(
            sleeper,
            cwd=pool_dir / "pool-wt-9",
            env={**os.environ, "WTPOOL_SLOT": "pool-wt-9", "WTPOOL_AGENT_GROUP": "999999"},
        )
        # ...and a user's shell in a slot, with .env.worktree sourced: not wtpool's to stop.
        shell = subprocess.Popen(
            sleeper,
            cwd=pool_dir / "pool-wt-1",
            env={**os.environ, **env_file(pool_dir / "pool-wt-1")},
        )
        subprocess.run(["git", "branch", "wtpool/task/done", "main"], cwd=root, check=True)
        dead = pool_dir / "daemon.pid"  # a daemon killed with -9: its pid names nothing now
        dead.write_text(json.dumps({"pid": 2**22 + 7, "marker": 1.0, "started_at": "x"}))

        found = wtpool(root, "leaks", "--json")
        assert found.returncode == 1
        kinds = {f["kind"]: f for f in json.loads(found.stdout)["findings"]}
        assert set(kinds) >= {
            "missing-on-disk",
            "unknown-worktree",
            "zombie",
            "stray-process",
            "stale-lock",
            "merged-branch",
            "lookalike-database",
        }
        assert kinds["lookalike-database"]["informational"]

        fixed = wtpool(root, "leaks", "--fix", "--json")
        report = json.loads(fixed.stdout)
        assert all(f["fixed"] or f["informational"] for f in report["findings"]), report
        assert fixed.returncode == 0
        assert stray.wait(timeout=30) == -signal.SIGTERM
        assert shell.poll() is None
        assert not lock.exists() and not dead.exists()
        branches = subprocess.run(
            ["git", "branch", "--list", "wtpool/*", "lost"],
            cwd=root,
            capture_output=True,
            text=True,
        ).stdout
        assert "wtpool/task/done" not in branches and "lost" in branches
        assert (pool_dir / "pool-wt-7" / "notes.md").read_text() == "only here\n"
        adopted = {s["name"]: s["state"] for s in wtpool_json(root, "status")["worktrees"]}
        assert adopted["pool-wt-7"] == "busy"  # adopted, busy: release will salvage its notes
        databases = {d["database"] for d in wtpool_json(root, "db", "list")}
        assert f"{prefix}_wt_2" not in databases  # the orphan went
        again = wtpool(root, "leaks", "--json")
        left = [f["kind"] for f in json.loads(again.stdout)["findings"]]
        assert left == ["lookalike-database"], left  # never touched
    finally:
        for process in (stray, shell):
            if process is not None and process.poll() is None:
                process.kill()
        wtpool(root, "stop", "--all")
        wtpool(root, "cleanup", "--force")


def test_a_server_that_cannot_be_asked_fails_check_and_the_claim_itself(
    tmp_path: Path, with_databases: None
) -> None:
    down = "database:\n  mode: external\n  url: postgresql://postgres@127.0.0.1:1/postgres\n"
    root = _limited(tmp_path, "  disk_warning: 1GB\n", down)
    result = wtpool(root, "check")
    assert result.returncode == 1
    assert "database: cannot connect to PostgreSQL" in result.stdout
    # Not held back in the queue as if for a limit: refused, with the server's reason.
    claim = wtpool(root, "acquire", "--agent", "bob")
    assert claim.returncode == 1 and "cannot connect to PostgreSQL" in claim.stderr
    assert wtpool_json(root, "status")["queue"] == []


def test_alerts_that_cannot_be_written_or_read_stop_nothing(tmp_path: Path) -> None:
    root = _limited(tmp_path, "  disk_warning: 1KB\n  disk_critical: 2KB\n")
    alerts = root / ".agent-worktrees" / "alerts.jsonl"
    alerts.mkdir()  # as unwritable as a full disk
    queued = wtpool(root, "acquire", "--agent", "bob")
    assert queued.returncode == 0 and "a limit is critical" in queued.stdout
    alerts.rmdir()
    alerts.write_text(
        'not json\n{"at": 1, "resource": "disk"}\n'
        + json.dumps(
            {"at": "x", "resource": "disk", "level": "bogus", "previous": "ok", "detail": "d"}
        )
        + "\n"
    )
    frame = wtpool(root, "monitor", "--once")
    assert frame.returncode == 0, frame.stderr
    assert "bogus" not in frame.stdout
    assert "disk ok -> critical" in frame.stdout  # recorded now that it can be


def _exited(pid: int) -> bool:
    """Gone, or a zombie waiting for whoever adopted it to reap it."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _daemon_pid(root: Path) -> int | None:
    return json.loads(wtpool(root, "daemon", "status", "--json").stdout)["pid"]


def test_the_daemon_samples_refuses_a_second_copy_survives_its_terminal_and_stops(
    tmp_path: Path,
) -> None:
    root = _limited(tmp_path, "  disk_warning: 1KB\n")
    _set_limits(root, "limits:\n", "monitor:\n  interval: 0.2\nlimits:\n")
    # Started from a terminal of its own, which then closes: its session gets SIGHUP.
    child, controller = pty.fork()
    if child == 0:
        os.chdir(root)
        os.execv(sys.executable, [sys.executable, "-m", "worktree_pool", "daemon", "start"])
    started = _read_until(controller, b"log:")
    assert b"the daemon runs" in started, started
    os.waitpid(child, 0)
    os.close(controller)
    pid = _daemon_pid(root)
    assert pid is not None
    try:
        second = wtpool(root, "daemon", "start")
        assert second.returncode == 1 and "already runs (process" in second.stderr
        (root / ".agent-worktrees" / "daemon.pid").unlink()  # the lock, not the file, decides
        third = wtpool(root, "daemon", "start")
        assert third.returncode == 1 and "already runs" in third.stderr
        assert wtpool(root, "daemon", "status").returncode == 0  # still running, as the lock says
        deadline = time.monotonic() + 60
        while wtpool_json(root, "status")["sample"] is None:
            assert time.monotonic() < deadline, "no sample recorded"
            time.sleep(0.2)
        sample = wtpool_json(root, "status")["sample"]
        assert sample["levels"] == {"disk": "warning", "fds": "ok"}
        assert "resources at" in wtpool(root, "status").stdout
        assert [a["level"] for a in _alerts(root)] == ["warning"]
        assert _daemon_pid(root) == pid  # still running after its terminal closed

        stopped = wtpool(root, "daemon", "stop")
        assert stopped.returncode == 0 and "not running" in stopped.stdout
        assert _exited(pid)  # stop waited for it to exit
        assert wtpool(root, "daemon", "status").returncode == 1
        log = (root / ".agent-worktrees" / "logs" / "daemon.log").read_text()
        assert f"daemon {pid} started" in log and f"daemon {pid} stopped" in log
    finally:
        if _daemon_pid(root) is not None:
            wtpool(root, "daemon", "stop")


def test_cleanup_stops_the_daemon(tmp_path: Path) -> None:
    root = _limited(tmp_path, "  disk_warning: 1GB\n")
    assert wtpool(root, "daemon", "start").returncode == 0
    pid = _daemon_pid(root)
    result = wtpool_json(root, "cleanup")
    assert result["stopped_daemon"] is True
    assert _exited(pid)


def test_the_report_masks_secrets_and_survives_a_server_that_is_down(
    tmp_path: Path, with_databases: None
) -> None:
    url = "postgresql://postgres:s3cret@127.0.0.1:1/postgres"
    root = _limited(
        tmp_path, "  disk_warning: 1KB\n", f"database:\n  mode: external\n  url: {url}\n"
    )
    result = wtpool(root, "report", env={"WTPOOL_DATABASE_URL": url})
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "s3cret" not in text and "postgres:***@127.0.0.1:1" in text
    for heading in ("versions", "environment", "configuration", "status", "check", "leaks"):
        assert f"\n## {heading}\n" in text
    assert "git: 2." in text and "wtpool: " in text
    assert "database: cannot connect to PostgreSQL" in text  # in the check part
    assert "disk ok -> warning" in text  # the last alerts


def test_the_report_of_a_repository_without_a_pool_says_so_in_each_part(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "bare")
    before = snapshot(root)
    result = wtpool(root, "report")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("error: no wtpool pool") == 3  # status, check, leaks
    assert snapshot(root) == before

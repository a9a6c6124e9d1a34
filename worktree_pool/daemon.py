"""`wtpool daemon start|stop|status`: the sampler, in the background.

The daemon takes a sample every `monitor.interval` seconds (measuring the disk when readings
are out of date, so that commands and dashboards find them fresh), records it for `wtpool
status`, writes alerts, and tends the pool as the dashboard does. It runs in a session of its
own, so closing the terminal that started it does not stop it.

One daemon per pool: the daemon holds an exclusive `flock` on `.agent-worktrees/daemon.lock`
for its whole life, which the system releases however it ends; `start` refuses while the lock
is held. Its pid and start marker are in `daemon.pid`, so `stop` never signals a process that
merely inherited the pid; its output goes to `.agent-worktrees/logs/daemon.log`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from worktree_pool.agents import LOG_DIR, start_marker
from worktree_pool.errors import WtpoolError
from worktree_pool.repo import Repository
from worktree_pool.slots import require_pool
from worktree_pool.state import StateStore, utc_now

PID_FILE = "daemon.pid"
LOCK_FILE = "daemon.lock"
_START_TIMEOUT = 30.0


@dataclass(frozen=True)
class DaemonStatus:
    running: bool
    pid: int | None
    started_at: str | None
    log: str
    last_sample: str | None  # when the newest sample (anyone's) was taken


def _pid_path(repo: Repository) -> Path:
    return repo.pool_dir / PID_FILE


def _log_path(repo: Repository) -> Path:
    return repo.pool_dir / LOG_DIR / "daemon.log"


def daemon_status(repo: Repository, store: StateStore) -> DaemonStatus:
    from worktree_pool.limits import latest_sample

    with store.snapshot() as conn:
        require_pool(conn, repo)
        sample = latest_sample(conn)
    record = _running_record(repo)
    return DaemonStatus(
        running=record is not None,
        pid=record["pid"] if record else None,
        started_at=record["started_at"] if record else None,
        log=str(_log_path(repo)),
        last_sample=sample.taken_at if sample else None,
    )


def _running_record(repo: Repository) -> dict | None:
    """The pid file's record if the process it names is the daemon and still runs."""
    try:
        record = json.loads(_pid_path(repo).read_text(encoding="utf-8"))
        pid, marker = int(record["pid"]), float(record["marker"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    import psutil

    try:
        if abs(start_marker(pid) - marker) >= 0.5:
            return None  # the pid now belongs to another process
    except (OSError, psutil.Error):  # gone
        return None
    return record


def stale_pid_file(repo: Repository) -> Path | None:
    """The pid file, if it names a daemon that no longer runs."""
    path = _pid_path(repo)
    return path if path.exists() and _running_record(repo) is None else None


def start_daemon(repo: Repository, store: StateStore) -> DaemonStatus:
    with store.snapshot() as conn:
        require_pool(conn, repo)
    running = _running_record(repo)
    if running is not None:
        raise WtpoolError(
            f"the daemon already runs (process {running['pid']})",
            "`wtpool daemon stop` stops it",
        )
    log = _log_path(repo)
    log.parent.mkdir(mode=0o700, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "worktree_pool", "daemon", "run"],
            cwd=repo.root,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own session: a closing terminal does not reach it
        )
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        record = _running_record(repo)
        if record is not None and record["pid"] == process.pid:
            process.returncode = 0  # it outlives us: nobody is to wait for it
            return daemon_status(repo, store)
        if process.poll() is not None:
            if record is not None:  # another start won the race
                raise WtpoolError(f"the daemon already runs (process {record['pid']})")
            raise WtpoolError(
                f"the daemon stopped at once (exit {process.returncode})", f"its log is {log}"
            )
        time.sleep(0.05)
    process.kill()
    raise WtpoolError("the daemon did not start within 30 s", f"its log is {log}")


def stop_daemon(repo: Repository, store: StateStore) -> DaemonStatus:
    """Ask the daemon to stop, and wait until it has."""
    with store.snapshot() as conn:
        require_pool(conn, repo)
    if not stop_daemon_if_running(repo):
        raise WtpoolError("the daemon is not running", "`wtpool daemon start` starts it")
    return daemon_status(repo, store)


def stop_daemon_if_running(repo: Repository) -> bool:
    """Stop the daemon if it runs (cleanup's first step); whether it did."""
    record = _running_record(repo)
    if record is None:
        return False
    os.kill(record["pid"], signal.SIGTERM)
    _wait_gone(repo, record["pid"], 30.0)
    return True


def _wait_gone(repo: Repository, pid: int, grace: float) -> None:
    deadline = time.monotonic() + grace
    while _running_record(repo) is not None:
        if time.monotonic() > deadline:
            raise WtpoolError(
                f"the daemon (process {pid}) did not stop within {grace:g} s",
                f"see {_log_path(repo)}; `kill -9 {pid}` ends it",
            )
        time.sleep(0.05)


def run_daemon(repo: Repository, store: StateStore) -> None:
    """The daemon itself: sample, record, tend, until SIGTERM or SIGINT."""
    from worktree_pool.limits import assess, record_sample
    from worktree_pool.monitoring import tend

    lock = (repo.pool_dir / LOCK_FILE).open("a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        raise WtpoolError("another daemon holds the pool's daemon lock") from exc
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    pid = os.getpid()
    record = {"pid": pid, "marker": start_marker(pid), "started_at": utc_now()}
    _pid_path(repo).write_text(json.dumps(record) + "\n", encoding="utf-8")
    print(f"{utc_now()} daemon {pid} started", flush=True)
    try:
        while not stopping:
            try:
                assessment = assess(repo, store)
                record_sample(store, assessment)
                tended = tend(repo, store, assessment)
                for alert in assessment.alerts:
                    print(
                        f"{alert.at} {alert.resource} {alert.previous} -> {alert.level}: "
                        f"{alert.detail}",
                        flush=True,
                    )
                if tended.error:
                    print(f"{utc_now()} queue: {tended.error}", flush=True)
            except WtpoolError as exc:  # the next round may fare better; say so and go on
                print(f"{utc_now()} error: {exc.message}", flush=True)
            _reap_children()
            _sleep_unless(lambda: stopping, repo.config.monitor.interval)
    finally:
        with contextlib.suppress(OSError, ValueError, KeyError):
            if json.loads(_pid_path(repo).read_text(encoding="utf-8"))["pid"] == pid:
                _pid_path(repo).unlink()
        print(f"{utc_now()} daemon {pid} stopped", flush=True)
        lock.close()


def _reap_children() -> None:
    """Agents that the daemon started while serving the queue are its children: reap the
    runners that have ended, or they would linger as zombies."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] != 0:
            pass


def _sleep_unless(stopping: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not stopping():
        time.sleep(min(0.1, seconds))

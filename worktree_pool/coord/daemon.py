"""`wtpool daemon start|stop|status`: the sampler, in the background.

The daemon takes a sample every `monitor.interval` seconds (measuring the disk when readings
are out of date, so that commands and dashboards find them fresh), records it for `wtpool
status`, writes alerts, and tends the pool as the dashboard does. It runs in a session of its
own, so closing the terminal that started it does not stop it. It ends by itself when the
pool is closed by `cleanup` or gone.

One daemon per pool: the lock and the pid file that make it so, and stopping the daemon that
runs, are daemon_lock's. Output goes to `.agent-worktrees/logs/daemon.log`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType

from worktree_pool.agents.process import start_wtpool_process
from worktree_pool.agents.process_table import start_marker
from worktree_pool.coord.daemon_lock import (
    LOCK_FILE,
    START_TIMEOUT,
    is_running,
    log_path,
    pid_path,
    read_record,
    stop_daemon_if_running,
)
from worktree_pool.coord.notify import StateNotifier
from worktree_pool.coord.watch import tend
from worktree_pool.errors import WtpoolError
from worktree_pool.git.repo import Repository
from worktree_pool.monitor.limits import assess, record_sample
from worktree_pool.store.limits import latest_sample
from worktree_pool.store.pool import read_pool, require_pool
from worktree_pool.store.protocol import Store
from worktree_pool.store.slots import all_slots
from worktree_pool.store.values import utc_now
from worktree_pool.util.private import open_private, write_private
from worktree_pool.util.redact import mask


@dataclass(frozen=True)
class DaemonStatus:
    running: bool
    pid: int | None
    started_at: str | None
    log: str
    last_sample: str | None  # when the newest sample (anyone's) was taken


def daemon_status(repo: Repository, store: Store) -> DaemonStatus:
    with store.snapshot() as conn:
        require_pool(conn, repo)
        sample = latest_sample(conn)
    running = is_running(repo)
    record = read_record(repo) if running else None
    return DaemonStatus(
        running=running,
        pid=record["pid"] if record else None,
        started_at=record.get("started_at") if record else None,
        log=str(log_path(repo)),
        last_sample=sample.taken_at if sample else None,
    )


def start_daemon(repo: Repository, store: Store) -> DaemonStatus:
    with store.snapshot() as conn:
        require_pool(conn, repo)
    if is_running(repo):
        raise _already_running(repo)
    log = log_path(repo)
    process = start_wtpool_process(repo, log, "daemon", "run")
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        record = read_record(repo)
        if record is not None and record["pid"] == process.pid and is_running(repo):
            process.returncode = 0  # it outlives us: nobody is to wait for it
            return daemon_status(repo, store)
        if process.poll() is not None:
            if is_running(repo):  # another start won the race
                raise _already_running(repo)
            raise WtpoolError(
                f"the daemon stopped at once (exit {process.returncode})", f"its log is {log}"
            )
        time.sleep(0.05)
    process.kill()
    raise WtpoolError("the daemon did not start within 30 s", f"its log is {log}")


def _already_running(repo: Repository) -> WtpoolError:
    record = read_record(repo)
    which = f" (process {record['pid']})" if record else ""
    return WtpoolError(f"the daemon already runs{which}", "`wtpool daemon stop` stops it")


def stop_daemon(repo: Repository, store: Store) -> DaemonStatus:
    """Ask the daemon to stop, and wait until it has exited."""
    if not stop_daemon_if_running(repo):
        raise WtpoolError("the daemon is not running", "`wtpool daemon start` starts it")
    return daemon_status(repo, store)


def run_daemon(repo: Repository, store: Store) -> None:
    """The daemon itself: sample, record, tend, until SIGTERM or SIGINT, or until its pool
    is closed or gone."""
    handle = open_private(repo.pool_dir / LOCK_FILE)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        raise WtpoolError("another daemon runs for this pool") from exc
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    pid = os.getpid()
    record = {"pid": pid, "marker": start_marker(pid), "started_at": utc_now()}
    _log(f"daemon {pid} started")
    notifier = StateNotifier(repo, store)
    try:
        while not stopping and _pool_open(store):
            if read_record(repo) != record:  # deleted or damaged by hand: stop must find us
                _write_pid_file(repo, record)
            try:
                assessment = assess(repo, store)
                record_sample(store, assessment)
                tended = tend(repo, store, assessment)
                with store.snapshot() as conn:
                    slots = all_slots(conn)
                for note in notifier.observe(assessment.sample.agents, slots):
                    _log(note)
                for alert in assessment.alerts:
                    _log(f"{alert.resource} {alert.previous} -> {alert.level}: {alert.detail}")
                if tended.error:
                    _log(f"queue: {tended.error}")
            except WtpoolError as exc:  # the next round may fare better; say so and go on
                _log(f"error: {exc.message}")
            except Exception:
                _log("unexpected error:\n" + traceback.format_exc())
            _reap_children(notifier)
            _sleep_unless(lambda: stopping, repo.config.monitor.interval)
    finally:
        pid_path(repo).unlink(missing_ok=True)  # ours: the lock is held until the next line
        handle.close()
        _log(f"daemon {pid} stopped")


def _pool_open(store: Store) -> bool:
    with store.snapshot() as conn:
        pool = read_pool(conn)
    return pool is not None and pool.closing_pid is None


def _write_pid_file(repo: Repository, record: dict) -> None:
    """Written whole or not at all: a reader never sees half a record."""
    temporary = pid_path(repo).with_suffix(f".{os.getpid()}")
    write_private(temporary, json.dumps(record) + "\n")
    os.replace(temporary, pid_path(repo))


def _log(message: str) -> None:
    print(f"{utc_now()} {mask(message)}", flush=True)  # a traceback may quote a URL


def _reap_children(notifier: StateNotifier) -> None:
    """Agents that the daemon started while serving the queue are its children: reap the
    runners that have ended, or they would linger as zombies. So are the on_state_change
    hooks it runs: their exit codes go to the notifier, which reports the failed ones."""
    with contextlib.suppress(ChildProcessError):
        while (reaped := os.waitpid(-1, os.WNOHANG))[0] != 0:
            notifier.reaped(reaped[0], os.waitstatus_to_exitcode(reaped[1]))


def _sleep_unless(stopping: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not stopping():
        time.sleep(min(0.1, seconds))

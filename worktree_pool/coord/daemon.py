"""`wtpool daemon start|stop|status`: the sampler, in the background.

The daemon takes a sample every `monitor.interval` seconds (measuring the disk when readings
are out of date, so that commands and dashboards find them fresh), records it for `wtpool
status`, writes alerts, and tends the pool as the dashboard does. It runs in a session of its
own, so closing the terminal that started it does not stop it. It ends by itself when the
pool is closed by `cleanup` or gone.

One daemon per pool, and the lock says which: the daemon holds an exclusive `flock` on
`.agent-worktrees/daemon.lock` for its whole life, and the system releases it however the
daemon ends. Whether a daemon runs is whether that lock is held; `daemon.pid` only says which
process it is (with its start marker, so a recycled pid is never signalled), and a pid file
whose lock is free is stale. Output goes to `.agent-worktrees/logs/daemon.log`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from worktree_pool.agents.logs import LOG_DIR
from worktree_pool.agents.process import start_wtpool_process
from worktree_pool.agents.process_table import same_process, start_marker
from worktree_pool.errors import WtpoolError
from worktree_pool.git.repo import Repository
from worktree_pool.store.slots import read_pool, require_pool
from worktree_pool.store.sqlite import StateStore, latest_sample, utc_now
from worktree_pool.util.private import open_private, write_private
from worktree_pool.util.redact import mask

PID_FILE = "daemon.pid"
LOCK_FILE = "daemon.lock"
_START_TIMEOUT = 30.0
_STOP_TIMEOUT = 120.0  # a round may be building a template or a slot: let it finish


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


@contextlib.contextmanager
def _lock(repo: Repository) -> Iterator[bool]:
    """Try the daemon lock without waiting; yield whether we got it (then no daemon runs)."""
    with open_private(repo.pool_dir / LOCK_FILE) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _running(repo: Repository) -> bool:
    with _lock(repo) as free:
        return not free


def _record(repo: Repository) -> dict | None:
    try:
        record = json.loads(_pid_path(repo).read_text(encoding="utf-8"))
        return {"pid": int(record["pid"]), "marker": float(record["marker"]), **record}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def daemon_status(repo: Repository, store: StateStore) -> DaemonStatus:
    with store.snapshot() as conn:
        require_pool(conn, repo)
        sample = latest_sample(conn)
    running = _running(repo)
    record = _record(repo) if running else None
    return DaemonStatus(
        running=running,
        pid=record["pid"] if record else None,
        started_at=record.get("started_at") if record else None,
        log=str(_log_path(repo)),
        last_sample=sample.taken_at if sample else None,
    )


def stale_pid_file(repo: Repository) -> Path | None:
    """The pid file, if no daemon holds the lock: it names a process that is gone."""
    path = _pid_path(repo)
    return path if path.exists() and not _running(repo) else None


def remove_stale_pid_file(repo: Repository) -> None:
    """Delete the pid file while holding the lock, so that no daemon starting meanwhile can
    lose its own."""
    with _lock(repo) as free:
        if not free:
            raise WtpoolError("a daemon started since; its pid file is not stale")
        _pid_path(repo).unlink(missing_ok=True)


def start_daemon(repo: Repository, store: StateStore) -> DaemonStatus:
    with store.snapshot() as conn:
        require_pool(conn, repo)
    if _running(repo):
        raise _already_running(repo)
    log = _log_path(repo)
    process = start_wtpool_process(repo, log, "daemon", "run")
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        record = _record(repo)
        if record is not None and record["pid"] == process.pid and _running(repo):
            process.returncode = 0  # it outlives us: nobody is to wait for it
            return daemon_status(repo, store)
        if process.poll() is not None:
            if _running(repo):  # another start won the race
                raise _already_running(repo)
            raise WtpoolError(
                f"the daemon stopped at once (exit {process.returncode})", f"its log is {log}"
            )
        time.sleep(0.05)
    process.kill()
    raise WtpoolError("the daemon did not start within 30 s", f"its log is {log}")


def _already_running(repo: Repository) -> WtpoolError:
    record = _record(repo)
    which = f" (process {record['pid']})" if record else ""
    return WtpoolError(f"the daemon already runs{which}", "`wtpool daemon stop` stops it")


def stop_daemon(repo: Repository, store: StateStore) -> DaemonStatus:
    """Ask the daemon to stop, and wait until it has exited."""
    if not stop_daemon_if_running(repo):
        raise WtpoolError("the daemon is not running", "`wtpool daemon start` starts it")
    return daemon_status(repo, store)


def stop_daemon_if_running(repo: Repository) -> bool:
    """Stop the daemon if it runs, and wait until it has exited; whether one ran. Needs no
    pool: a daemon outliving its pool must still be stoppable."""
    if not _running(repo):
        return False
    record = _record(repo)
    deadline = time.monotonic() + _START_TIMEOUT
    while record is None:  # starting, or its pid file was deleted: it writes it each round
        if not _running(repo):
            return True
        if time.monotonic() > deadline:
            raise WtpoolError(
                "a daemon holds the pool's daemon lock but names no process in daemon.pid",
                "find it with `fuser .agent-worktrees/daemon.lock` and stop it",
            )
        time.sleep(0.05)
        record = _record(repo)
    if _same_process(record):
        os.kill(record["pid"], signal.SIGTERM)
    deadline = time.monotonic() + _STOP_TIMEOUT
    while _running(repo) or _same_process(record):
        if time.monotonic() > deadline:
            raise WtpoolError(
                f"the daemon (process {record['pid']}) did not stop within "
                f"{_STOP_TIMEOUT:g} s: it may be in the middle of a long round",
                f"wait, then run the command again; its log is {_log_path(repo)}",
            )
        time.sleep(0.05)
    return True


def _same_process(record: dict) -> bool:
    """Whether the recorded daemon process still exists (a zombie counts as exited)."""
    return same_process(record["pid"], record["marker"])


def run_daemon(repo: Repository, store: StateStore) -> None:
    """The daemon itself: sample, record, tend, until SIGTERM or SIGINT, or until its pool
    is closed or gone."""
    from worktree_pool.coord.watch import tend
    from worktree_pool.monitor.limits import assess, record_sample

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
    try:
        while not stopping and _pool_open(store):
            if _record(repo) != record:  # deleted or damaged by hand: stop must find us
                _write_pid_file(repo, record)
            try:
                assessment = assess(repo, store)
                record_sample(store, assessment)
                tended = tend(repo, store, assessment)
                for alert in assessment.alerts:
                    _log(f"{alert.resource} {alert.previous} -> {alert.level}: {alert.detail}")
                if tended.error:
                    _log(f"queue: {tended.error}")
            except WtpoolError as exc:  # the next round may fare better; say so and go on
                _log(f"error: {exc.message}")
            except Exception:
                _log("unexpected error:\n" + traceback.format_exc())
            _reap_children()
            _sleep_unless(lambda: stopping, repo.config.monitor.interval)
    finally:
        _pid_path(repo).unlink(missing_ok=True)  # ours: the lock is held until the next line
        handle.close()
        _log(f"daemon {pid} stopped")


def _pool_open(store: StateStore) -> bool:
    with store.snapshot() as conn:
        pool = read_pool(conn)
    return pool is not None and pool.closing_pid is None


def _write_pid_file(repo: Repository, record: dict) -> None:
    """Written whole or not at all: a reader never sees half a record."""
    temporary = _pid_path(repo).with_suffix(f".{os.getpid()}")
    write_private(temporary, json.dumps(record) + "\n")
    os.replace(temporary, _pid_path(repo))


def _log(message: str) -> None:
    print(f"{utc_now()} {mask(message)}", flush=True)  # a traceback may quote a URL


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

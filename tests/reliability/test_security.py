"""Security: the embedded database never listens on TCP, nor on a socket in a directory someone
else made; nothing is ever chowned or written through a link; wtpool's own files are readable by
their owner only; and a database password never shows, in any output or any file but the one
handed to the slot's agent, however malformed the URL that carries it."""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import signal
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psutil
import pytest

from tests.conftest import (
    env_file,
    git,
    make_pool,
    make_repo,
    postgres_processes,
    wtpool,
    wtpool_json,
)
from tests.db.test_postgres import server  # noqa: F401 - used via usefixtures
from worktree_pool.db.server import SYSTEM_USER
from worktree_pool.errors import WtpoolError
from worktree_pool.scope.hooks import HOOK_NAMES
from worktree_pool.util.private import write_private

PASSWORD = "s3cret-pa55"
# Trust authentication on the test server accepts any password: this one is only carried.
URL = f"postgresql://postgres:{PASSWORD}@127.0.0.1:5432/postgres"


def _session(root: Path) -> None:
    """A little of everything that writes a file: claims, reservations, mail, a merge in the
    background, the daemon, monitor samples, alerts."""
    make_pool(root, 1, 3)
    slot = Path(
        wtpool_json(root, "acquire", "--agent", "a", "--task", "t", "--scope", "src/")["path"]
    )
    (slot / "src" / "new.py").write_text("x = 1\n")
    git(slot, "add", "src/new.py")
    git(slot, "commit", "--quiet", "-m", "work")
    for command in (
        ["reserve", "a", "docs/"],
        ["mail", "send", "--from", "a", "--to", "b", "--subject", "hello"],
        ["merge", "t", "--wait"],
        ["monitor", "--once"],
        ["daemon", "start"],
        ["daemon", "stop"],
        ["check"],
    ):
        result = wtpool(root, *command)
        assert "Traceback" not in result.stderr, (command, result.stderr)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.mark.usefixtures("with_databases")
def test_the_embedded_server_opens_no_tcp_listener(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo")
    make_pool(root, 1, 2)
    assert wtpool(root, "acquire", "--agent", "a").returncode == 0
    servers = postgres_processes(str(root))
    assert servers, "the embedded server did not start"
    listening = [
        connection
        for process in servers
        for connection in process.net_connections(kind="inet")
        if connection.status == psutil.CONN_LISTEN
    ]
    assert listening == []
    assert wtpool(root, "cleanup").returncode == 0


def test_wtpools_files_are_its_owners_only(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo")
    _session(root)
    pool_dir = root / ".agent-worktrees"
    slots = {path for path in pool_dir.iterdir() if path.name.startswith("pool-wt-")}
    checked = 0
    for path in [pool_dir, *pool_dir.rglob("*")]:
        if any(slot == path or slot in path.parents for slot in slots):
            continue  # a slot is a checkout of the user's files, with the user's modes
        if path.is_symlink():
            continue
        hook = path.parent.parent.name == ".guards" and path.name in HOOK_NAMES
        wanted = 0o700 if path.is_dir() or hook else 0o600
        assert _mode(path) == wanted, f"{path.relative_to(root)} is {oct(_mode(path))}"
        checked += 1
    assert checked > 10
    for slot in slots:  # what the agent is handed can hold a password
        env = slot / ".env.worktree"
        if env.exists():
            assert _mode(env) == 0o600


@pytest.mark.usefixtures("with_databases", "server")
def test_a_database_password_shows_nowhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WTPOOL_DATABASE_URL", URL)
    monkeypatch.setenv("WTPOOL_DATABASE_MODE", "external")
    root = make_repo(tmp_path / "repo")
    shown = []
    try:
        _session(root)
        for command in (
            ["status", "--json"],
            ["db", "list"],
            ["config"],
            ["report"],
            ["report", "--json"],
            ["check", "--json"],
            ["leaks"],
            ["monitor", "--once", "--json"],
        ):
            result = wtpool(root, *command)
            shown.append((command, result.stdout + result.stderr))
        down = wtpool(root, "db", "list", env={"WTPOOL_DATABASE_URL": URL.replace(":5432", ":1")})
        shown.append((["db", "list", "(server down)"], down.stdout + down.stderr))
    finally:
        cleaned = wtpool(root, "cleanup")
    shown.append((["cleanup"], cleaned.stdout + cleaned.stderr))
    for command, text in shown:
        assert PASSWORD not in text, command
    for path in (root / ".agent-worktrees").rglob("*"):
        if path.is_file() and path.name != ".env.worktree":
            assert PASSWORD.encode() not in path.read_bytes(), path


# --- another local user, and links --------------------------------------------------------

NOBODY = 65534  # another local user's uid


@pytest.fixture
def as_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("acting as another local user (chown to their uid) takes root")


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A file of root's that no one else may have."""
    path = tmp_path / "victim"
    path.write_text("root's own\n")
    path.chmod(0o600)
    return path


def _hostile(directory: Path, victim: Path) -> None:
    """What another local user leaves at a name they can predict: their own directory, open
    to all, with a link to a file of root's inside."""
    directory.mkdir()
    (directory / "link").symlink_to(victim)
    os.chown(directory, NOBODY, NOBODY)
    os.lchown(directory / "link", NOBODY, NOBODY)
    directory.chmod(0o777)


def _socket_dir(root: Path) -> Path:
    url = wtpool(root, "db", "url", "pool-wt-1").stdout.strip()
    return Path(parse_qs(urlsplit(url).query)["host"][0])


def _server_uid() -> int:
    return pwd.getpwnam(SYSTEM_USER).pw_uid


@pytest.fixture
def long_pool(tmp_path: Path, with_databases: None) -> Iterator[Path]:
    """A pool whose path is too long for a socket in it: the embedded server's socket goes to
    the system's temporary directory, which every local user shares."""
    root = make_repo(tmp_path / ("long-" * 16) / "repo")
    yield root
    wtpool(root, "cleanup", "--force")


@pytest.mark.usefixtures("as_root")
def test_a_socket_directory_someone_else_made_in_tmp_is_never_used(
    long_pool: Path, victim: Path
) -> None:
    # The name older versions used: the pool directory's hash, which anyone can compute.
    digest = hashlib.sha256(str(long_pool / ".agent-worktrees").encode()).hexdigest()[:12]
    predicted = Path(tempfile.gettempdir()) / f"wtpool-pg-{digest}"
    hijacked = None
    _hostile(predicted, victim)
    try:
        make_pool(long_pool, 1, 2)
        env = env_file(Path(wtpool_json(long_pool, "acquire", "--agent", "a")["path"]))
        sockets = Path(env["PGHOST"])
        assert sockets != predicted and sockets.parent == Path(tempfile.gettempdir())
        _assert_private_socket_dir(sockets)
        assert victim.stat().st_uid == 0 and os.listdir(predicted) == ["link"]

        # The directory vanishes under the running server (a /tmp cleaner), and another
        # user, who saw its name, makes their own in its place: it is not used either.
        shutil.rmtree(sockets)
        _hostile(sockets, victim)
        hijacked = sockets
        assert wtpool(long_pool, "db", "list").returncode == 0
        moved = _socket_dir(long_pool)
        assert moved != sockets
        _assert_private_socket_dir(moved)
        assert victim.stat().st_uid == 0 and os.listdir(sockets) == ["link"]
        assert wtpool(long_pool, "cleanup").returncode == 0
        assert not moved.exists()  # cleanup removes its own socket directory
        assert os.listdir(sockets) == ["link"]  # and leaves anyone else's alone
    finally:
        for directory in (predicted, hijacked):
            if directory is not None:
                shutil.rmtree(directory, ignore_errors=True)


def _assert_private_socket_dir(path: Path) -> None:
    info = path.lstat()
    assert stat.S_ISDIR(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o700
    assert info.st_uid == _server_uid()
    assert (path / ".s.PGSQL.5432").is_socket()


@pytest.mark.usefixtures("as_root", "with_databases")
def test_nothing_is_chowned_through_a_link_in_the_servers_data(
    tmp_path: Path, victim: Path
) -> None:
    """The server's user can put links in its data directory (any superuser of the server can,
    with COPY ... TO PROGRAM): handing the directory over again at the next start must not
    give it what they point at."""
    root = make_repo(tmp_path / "repo")
    make_pool(root, 1, 2)
    try:
        assert wtpool(root, "acquire", "--agent", "a").returncode == 0
        data = root / ".agent-worktrees" / ".postgres" / "data"
        postmaster = psutil.Process(int((data / "postmaster.pid").read_text().split()[0]))
        postmaster.send_signal(signal.SIGINT)  # PostgreSQL's fast shutdown
        postmaster.wait(timeout=60)
        (data / "planted").symlink_to(victim)
        os.lchown(data / "planted", _server_uid(), _server_uid())
        assert wtpool(root, "db", "list").returncode == 0  # starts it again
        assert victim.stat().st_uid == 0 and victim.stat().st_gid == 0
    finally:
        wtpool(root, "cleanup", "--force")


def test_a_private_file_is_never_written_through_a_link(tmp_path: Path, victim: Path) -> None:
    """What wtpool writes where an agent can reach (the hand-off file at a slot's root) may
    carry a password, and wtpool may run as root."""
    (tmp_path / "soft").symlink_to(victim)
    os.link(victim, tmp_path / "hard")
    os.mkfifo(tmp_path / "pipe")
    for name in ("soft", "hard", "pipe"):
        with pytest.raises(WtpoolError, match="refusing to write"):
            write_private(tmp_path / name, "DATABASE_URL=postgresql://u:pw@h/x\n")
    assert victim.read_text() == "root's own\n" and stat.S_IMODE(victim.stat().st_mode) == 0o600
    # A file that is there already, readable by all, is made private before it is written.
    shared = tmp_path / "shared"
    shared.write_text("old\n")
    shared.chmod(0o644)
    write_private(shared, "secret\n")
    assert shared.read_text() == "secret\n" and stat.S_IMODE(shared.stat().st_mode) == 0o600


def test_the_hand_off_file_is_private_even_if_one_was_left_readable(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo")
    pool = make_pool(root, 1, 2)
    left = pool.slot(1) / ".env.worktree"
    left.write_text("left by hand\n")
    left.chmod(0o644)
    assert wtpool(root, "acquire", "--agent", "a").returncode == 0
    assert _mode(left) == 0o600 and "WTPOOL_AGENT='a'" in left.read_text()


# --- passwords in URLs that no parser accepts ----------------------------------------------

SECRET = "Pw9z"  # every password below starts with it


@pytest.mark.usefixtures("with_databases")
@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:Pw9zEnv@[bad/x",
        "mysql://u:Pw9zEnv@h/x",
        "postgresql://u:Pw9z Env@h/x",  # quoted alone in the parser's message
    ],
    ids=["bracket", "mysql", "space"],  # more shapes: test_database.test_passwords_never_show
)
def test_a_password_in_a_malformed_url_shows_nowhere(tmp_path: Path, url: str) -> None:
    root = make_repo(tmp_path / "repo")
    # One in wtpool.yaml (what `config` shows), another in the environment (which wins).
    in_file = url.replace("Pw9zEnv", "Pw9zFile").replace("Pw9z Env", "Pw9z File")
    (root / "wtpool.yaml").write_text(
        f"database:\n  mode: external\n  url: '{in_file.replace(chr(39), chr(39) * 2)}'\n"
    )
    make_pool(root, 1, 2)
    env = {"WTPOOL_DATABASE_URL": url}
    shown = []
    for command in (
        ["acquire", "--agent", "a"],
        ["spawn", "1", "--json"],
        ["report"],
        ["report", "--json"],
        ["doctor"],
        ["leaks", "--json"],
        ["status", "--json"],
        ["check", "--json"],
        ["monitor", "--once", "--json"],
        ["db", "list"],
        ["db", "url", "pool-wt-1"],
        ["config"],
        ["config", "--json"],
        ["daemon", "start"],
        ["daemon", "stop"],
        ["cleanup"],
    ):
        result = wtpool(root, *command, env=env)
        shown.append((command, result.stdout + result.stderr))
    for command, text in shown:
        assert SECRET not in text, (command, text)
        assert "Traceback" not in text, (command, text)
    for path in (root / ".agent-worktrees").rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path

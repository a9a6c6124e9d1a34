"""Security: the embedded database never listens on TCP, wtpool's own files are readable by
their owner only, and a database password never shows, in any output or any file but the one
handed to the slot's agent."""

from __future__ import annotations

import stat
from pathlib import Path

import psutil
import pytest

from tests.conftest import git, make_pool, make_repo, postgres_processes, wtpool, wtpool_json
from tests.test_database import server  # noqa: F401 - used via usefixtures
from worktree_pool.filters import HOOK_NAMES

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

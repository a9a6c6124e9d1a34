"""Shared fixtures: real git repositories in temporary directories, and the real CLI.

Nothing here mocks git or the filesystem. `wtpool(...)` runs the installed package in a fresh
Python process, exactly as an agent's shell would.
"""

from __future__ import annotations

import compileall
import contextlib
import hashlib
import json
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import psutil
import pytest
from hypothesis import settings

import worktree_pool
from worktree_pool.config.settings import DATABASE_MODE_VARIABLE, STATE_URL_VARIABLE
from worktree_pool.git.repo import Repository, open_repository
from worktree_pool.pool.lifecycle import init_pool
from worktree_pool.pool.opening import open_store
from worktree_pool.store.sqlite import StateStore

if TYPE_CHECKING:
    from tests.fleet import Plane


def pytest_sessionstart(session: pytest.Session) -> None:
    """Compile the package once, before any test runs wtpool.

    The tests start thousands of `python -m worktree_pool` processes. An installed wtpool has
    its bytecode compiled, but an editable install under PYTHONDONTWRITEBYTECODE (set on some
    CI machines) would compile every module it imports in every one of those processes, which
    measures the compiler rather than wtpool and starves the timing-bound storm test. compileall
    writes the cache whatever that variable says. Only the controller does it, not each xdist
    worker."""
    if not hasattr(session.config, "workerinput"):
        compileall.compile_dir(Path(worktree_pool.__file__).parent, quiet=1)


# Hypothesis fails an example that runs over 200 ms by default: a wall-clock limit, which a
# loaded CI machine trips at random. Speed is measured in scripts/bench.py instead.
settings.register_profile("wtpool", deadline=None)
settings.load_profile("wtpool")

POOL_DIR = ".agent-worktrees"

IDENTITY = {
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_COMMITTER_NAME": "Test Author",
    "GIT_COMMITTER_EMAIL": "author@example.com",
}

FILES = {
    "README.md": "# sample\n",
    ".gitignore": "*.log\nbuild/\n",
    "src/app.py": "print('app')\n",
    "src/util.py": "def helper():\n    return 1\n",
    "docs/guide.md": "guide\n",
}


@pytest.fixture(autouse=True)
def isolated_git(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every git process, ours or wtpool's, sees the same identity and no user config."""
    for key, value in IDENTITY.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    (tmp_path / "gitconfig").write_text("[init]\n\tdefaultBranch = main\n")
    # Nor the user's own wtpool config (its hooks would run in every test).
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "user-config"))
    # Nor a control plane the user's shell points at: tests that share one say so.
    monkeypatch.delenv(STATE_URL_VARIABLE, raising=False)


@pytest.fixture(autouse=True)
def no_databases(monkeypatch: pytest.MonkeyPatch) -> None:
    """Slots get no database unless a test asks for one with `with_databases`: otherwise every
    test repository would start its own embedded PostgreSQL."""
    monkeypatch.setenv(DATABASE_MODE_VARIABLE, "none")


@pytest.fixture(scope="session", autouse=True)
def no_server_left_behind(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Stop, and report, any embedded PostgreSQL the tests left running in their directories:
    each test that starts one must end with it stopped, and a failed one must not leave a
    server behind for the rest of the machine's life."""
    yield
    left = postgres_processes(str(tmp_path_factory.getbasetemp()))
    for process in left:
        with contextlib.suppress(psutil.Error):
            process.send_signal(signal.SIGINT)  # PostgreSQL's fast shutdown
    psutil.wait_procs(left, timeout=30)
    assert not left, f"tests left {len(left)} embedded PostgreSQL servers running"


def postgres_processes(path: str) -> list[psutil.Process]:
    """PostgreSQL server processes whose command line names `path` or a path below it."""
    return [
        process
        for process in psutil.process_iter(["name", "cmdline"])
        if process.info["name"] == "postgres" and path in " ".join(process.info["cmdline"] or ())
    ]


# The PostgreSQL server of this machine (and of CI), for external mode and control planes.
EXTERNAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


def require_external_postgres() -> str:
    """The external server's URL; the test skips, saying why, when no server answers there,
    except in CI, where WTPOOL_REQUIRE_EXTERNAL_POSTGRES=1 makes that a failure."""
    import psycopg

    try:
        psycopg.connect(EXTERNAL_POSTGRES, connect_timeout=3).close()
    except psycopg.Error:
        if os.environ.get("WTPOOL_REQUIRE_EXTERNAL_POSTGRES") == "1":
            pytest.fail(f"no PostgreSQL at {EXTERNAL_POSTGRES}, and CI requires it")
        pytest.skip(f"no PostgreSQL server at {EXTERNAL_POSTGRES} to test against")
    return EXTERNAL_POSTGRES


@pytest.fixture
def plane() -> Iterator[Plane]:
    """A control plane of its own on the external server: a schema, dropped afterwards."""
    from tests.fleet import Plane  # not at the top: tests.fleet builds on this module

    found = Plane(require_external_postgres(), f"wtpool_test_{secrets.token_hex(4)}")
    try:
        yield found
    finally:
        found.query("DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture
def with_databases(monkeypatch: pytest.MonkeyPatch) -> None:
    """wtpool's own default: databases as wtpool.yaml says, embedded if it says nothing."""
    monkeypatch.delenv(DATABASE_MODE_VARIABLE)


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.rstrip("\n")


def make_repo(path: Path, files: dict[str, str] = FILES) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "--quiet", "--initial-branch=main")
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    git(path, "add", "--all")
    git(path, "commit", "--quiet", "-m", "initial")
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


@dataclass
class Pool:
    root: Path

    @property
    def repo(self) -> Repository:
        return open_repository(self.root)

    def store(self) -> StateStore:
        return open_store(self.repo)

    def slot(self, n: int) -> Path:
        return self.root / ".agent-worktrees" / f"pool-wt-{n}"


def make_pool(root: Path, minimum: int = 3, maximum: int = 10) -> Pool:
    init_pool(open_repository(root), minimum, maximum, None)
    return Pool(root)


@pytest.fixture
def pool(repo: Path) -> Pool:
    return make_pool(repo)


def wtpool(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "worktree_pool", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


def wtpool_json(cwd: Path, *args: str) -> dict:
    result = wtpool(cwd, *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def snapshot(root: Path) -> dict[str, object]:
    """Everything a wtpool command could change, to prove that a refused command changed nothing.

    The state store is compared by its logical content: in WAL mode, merely closing a
    connection may checkpoint and so rewrite bytes without changing any row. The embedded
    PostgreSQL's files change whenever it runs: only whether it exists is compared; what it
    holds is compared through `db list`. `.cache` holds remembered measurements (disk usage),
    which any command that samples the resources may refresh.
    """
    state = root / ".agent-worktrees" / "state.db"
    files = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if relative.parts[0] == ".git" and relative.parts[1:2] != ("info",):
            continue
        inside_server = relative.parts[:2] == (POOL_DIR, ".postgres") and len(relative.parts) > 2
        measurements = relative.parts[:2] == (POOL_DIR, ".cache")
        if path.name.startswith("state.db") or inside_server or measurements:
            continue
        files[str(relative)] = (
            hashlib.sha1(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        )
    return {
        "files": files,
        "state": _state_content(state),
        "worktrees": _git_or_none(root, "worktree", "list", "--porcelain"),
        "refs": _git_or_none(root, "for-each-ref"),
        "config": (root / ".git" / "config").read_text() if (root / ".git").is_dir() else None,
    }


def _state_content(path: Path) -> object:
    if not path.is_file():
        return None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return list(conn.iterdump())
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return path.read_bytes()


def _git_or_none(root: Path, *args: str) -> str | None:
    result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    return result.stdout if result.returncode == 0 else None


def assert_one_line_error(result: subprocess.CompletedProcess, code: int, fragment: str) -> None:
    """The user-facing error contract: exit code, one `error:` line, an optional hint, no trace."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert lines, "nothing on stderr"
    assert lines[0].startswith("error: "), result.stderr
    assert fragment.lower() in lines[0].lower(), result.stderr
    assert len(lines) == 1 or (len(lines) == 2 and lines[1].startswith("hint: ")), result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def database_prefix(root: Path) -> str:
    """The start of the pool's database names, as `init` recorded it."""
    conn = sqlite3.connect(root / POOL_DIR / "state.db")
    try:
        return conn.execute("SELECT database_prefix FROM pool").fetchone()[0]
    finally:
        conn.close()


def env_file(slot: Path) -> dict[str, str]:
    """The variables of a slot's .env.worktree (after its comment line), unquoted."""
    lines = (slot / ".env.worktree").read_text().splitlines()[1:]
    return {k: v.strip("'") for k, v in (line.split("=", 1) for line in lines)}

"""Slots with databases, through the real CLI, against the external server (external mode)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import psutil
import psycopg
import pytest

from tests.conftest import (
    Pool,
    assert_one_line_error,
    database_prefix,
    env_file,
    make_pool,
    make_repo,
    postgres_processes,
    snapshot,
    wtpool,
    wtpool_json,
)
from tests.db.test_postgres import EXTERNAL, server  # noqa: F401 - used via getfixturevalue
from worktree_pool.db import server as pgserver
from worktree_pool.git.repo import open_repository

SCHEMA = "CREATE TABLE product (name text);\nINSERT INTO product VALUES ('tea'), ('cups');\n"


@pytest.fixture(params=["embedded", "external"])
def shop(tmp_path: Path, request: pytest.FixtureRequest, with_databases: None) -> Path:
    """A pool whose slots get databases, from wtpool's own server or the external one."""
    files = {"README.md": "x\n", "db.sql": SCHEMA}
    root = make_repo(tmp_path / f"shop{secrets.token_hex(3)}", files)
    database = f"database:\n  mode: {request.param}\n  setup: [db.sql]\n"
    if request.param == "external":
        request.getfixturevalue("server")  # skips, or fails in CI, without the server
        database += f"  url: {EXTERNAL}\n"
    (root / "wtpool.yaml").write_text("pool:\n  min: 1\n  max: 4\n" + database)
    make_pool(root, 1, 4)
    yield root
    wtpool(root, "cleanup", "--force")


def _server_processes(root: Path) -> list[psutil.Process]:
    """Processes of this pool's embedded server: postgres run on its data directory."""
    return postgres_processes(str(root / ".agent-worktrees" / ".postgres" / "data"))


def _names(url: str) -> list[str]:
    with psycopg.connect(url) as connection:
        return [r[0] for r in connection.execute("SELECT name FROM product ORDER BY name")]


def _wtpool_databases() -> set[str]:
    with psycopg.connect(EXTERNAL) as admin:
        rows = admin.execute(
            "SELECT datname FROM pg_database"
            " WHERE shobj_description(oid, 'pg_database') LIKE 'wtpool:%'"
        ).fetchall()
    return {row[0] for row in rows}


def test_a_claimed_slot_has_its_own_database_and_release_makes_it_clean(shop: Path) -> None:
    prefix = database_prefix(shop)
    claim = json.loads(wtpool(shop, "acquire", "--agent", "alice", "--json").stdout)
    env = env_file(Path(claim["path"]))
    assert env["PGDATABASE"] == f"{prefix}_wt_1"
    assert _names(env["DATABASE_URL"]) == ["cups", "tea"]
    with psycopg.connect(env["DATABASE_URL"]) as connection:
        connection.execute("DELETE FROM product")

    listed = json.loads(wtpool(shop, "db", "list", "--json").stdout)
    assert {(d["slot"], d["database"]) for d in listed} == {
        (None, f"{prefix}_template"),
        ("pool-wt-1", f"{prefix}_wt_1"),
    }
    status = json.loads(wtpool(shop, "status", "--json").stdout)
    assert status["worktrees"][0]["database"] == env["PGDATABASE"]
    url = wtpool(shop, "db", "url", "pool-wt-1")
    assert url.stdout.strip() == env["DATABASE_URL"]

    assert wtpool(shop, "release", "pool-wt-1").returncode == 0
    assert _names(env["DATABASE_URL"]) == ["cups", "tea"]  # a fresh clone for the next task
    with psycopg.connect(env["DATABASE_URL"]) as connection:
        connection.execute("DELETE FROM product")
    assert wtpool(shop, "db", "reset", "pool-wt-1").returncode == 0
    assert _names(env["DATABASE_URL"]) == ["cups", "tea"]

    embedded = "mode: embedded" in (shop / "wtpool.yaml").read_text()
    if embedded:  # its own server, on a Unix socket only
        assert env["PGHOST"].startswith("/") and _server_processes(shop)
        with psycopg.connect(env["DATABASE_URL"]) as connection:
            assert connection.execute("SHOW listen_addresses").fetchone() == ("",)
    else:
        assert env["PGHOST"] == "127.0.0.1"
    result = json.loads(wtpool(shop, "cleanup", "--json").stdout)
    assert sorted(result["dropped_databases"]) == [f"{prefix}_template", f"{prefix}_wt_1"]
    assert result["stopped_server"] == embedded
    assert not _server_processes(shop)
    if not embedded:
        assert not {d for d in _wtpool_databases() if d.startswith(shop.name)}


def test_four_claims_at_once_all_get_databases(shop: Path) -> None:
    claims = _all_at_once(shop, [["acquire", "--agent", f"a{n}"] for n in range(4)])
    for claim in claims:
        assert _names(env_file(Path(claim["path"]))["DATABASE_URL"]) == ["cups", "tea"]


def _all_at_once(root: Path, commands: list[list[str]]) -> list[dict]:
    """Run the wtpool commands at the same moment; each must succeed; their JSON results."""
    racers = [
        subprocess.Popen(
            [sys.executable, "-m", "worktree_pool", *command, "--json"],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for command in commands
    ]
    outputs = [racer.communicate(timeout=300) for racer in racers]
    assert all(racer.returncode == 0 for racer in racers), [err for _, err in outputs]
    return [json.loads(out) for out, _ in outputs]


def test_four_spawns_at_once_get_four_tracks_and_four_databases(shop: Path) -> None:
    tasks = [{"id": f"t{n}", "title": f"task {n}", "files": [f"part{n}/"]} for n in range(4)]
    (shop / "tasks.yaml").write_text(json.dumps({"tasks": tasks}))
    config = shop / "wtpool.yaml"
    config.write_text(config.read_text() + "tasks:\n  source: yaml\n")
    # Each spawn that lost its first pick to another took the next free track.
    results = _all_at_once(shop, [["spawn", "1"]] * 4)
    spawned = [item for result in results for item in result["spawned"]]
    assert sorted(item["task"] for item in spawned) == ["t0", "t1", "t2", "t3"]
    databases = {env_file(Path(item["path"]))["DATABASE_URL"] for item in spawned}
    assert len(databases) == 4
    assert all(_names(url) == ["cups", "tea"] for url in databases)


@pytest.mark.parametrize("shop", ["external"], indirect=True)  # wtpool starts its own
@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("postgresql://postgres:s3cret@127.0.0.1:1/postgres", "connection refused"),
        ("postgresql://nobody_here:s3cret@127.0.0.1:5432/postgres", 'role "nobody_here"'),
    ],
    ids=["server down", "wrong credentials"],
)
def test_an_unreachable_server_fails_the_claim_cleanly(shop: Path, url: str, reason: str) -> None:
    config = shop / "wtpool.yaml"
    config.write_text(config.read_text().replace(EXTERNAL, url))
    before = snapshot(shop)
    result = wtpool(shop, "acquire", "--agent", "alice")
    assert_one_line_error(result, 1, "cannot connect to PostgreSQL")
    assert reason in result.stderr.lower() and "s3cret" not in result.stderr
    assert snapshot(shop) == before


@pytest.mark.parametrize("shop", ["embedded"], indirect=True)
def test_scaling_down_drops_the_removed_slots_database(shop: Path) -> None:
    prefix = database_prefix(shop)
    assert wtpool(shop, "acquire", "--agent", "a1").returncode == 0
    assert wtpool(shop, "acquire", "--agent", "a2").returncode == 0
    assert wtpool(shop, "release", "pool-wt-2").returncode == 0
    before = {d["database"] for d in json.loads(wtpool(shop, "db", "list", "--json").stdout)}
    assert f"{prefix}_wt_2" in before

    result = json.loads(wtpool(shop, "scale", "down", "--json").stdout)
    assert result["removed"] == ["pool-wt-2"]
    after = {d["database"] for d in json.loads(wtpool(shop, "db", "list", "--json").stdout)}
    assert after == before - {f"{prefix}_wt_2"}


def test_the_embedded_server_starts_in_a_repository_whose_path_has_spaces(
    tmp_path: Path, with_databases: None
) -> None:
    root = make_repo(tmp_path / "my shop", {"README.md": "x\n", "db.sql": SCHEMA})
    (root / "wtpool.yaml").write_text("database:\n  mode: embedded\n  setup: [db.sql]\n")
    make_pool(root, 1, 2)
    try:
        claim = json.loads(wtpool(root, "acquire", "--agent", "alice", "--json").stdout)
        assert _names(env_file(Path(claim["path"]))["DATABASE_URL"]) == ["cups", "tea"]
    finally:
        assert json.loads(wtpool(root, "cleanup", "--json").stdout)["stopped_server"]
    assert not _server_processes(root)


def _mount_tmpfs(path: Path, size: str) -> subprocess.CompletedProcess[str]:
    options = f"size={size}" if not path.is_mount() else f"remount,size={size}"
    return subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True
    )


def test_a_full_disk_fails_the_clone_cleanly_and_the_pool_recovers(
    tmp_path: Path, with_databases: None
) -> None:
    if os.geteuid() != 0:
        pytest.skip("filling a disk takes a small filesystem of its own: mounting one needs root")
    seed = "CREATE TABLE filler AS SELECT g AS id, repeat('x', 200) AS pad"
    files = {"README.md": "x\n", "big.sql": seed + " FROM generate_series(1, 60000) g;\n"}
    root = make_repo(tmp_path / "full", files)
    # file_copy: with wal_log, a full disk fails the server's WAL write, and PostgreSQL's
    # answer to that is to crash, so that the outcome would depend on where space ran out.
    (root / "wtpool.yaml").write_text(
        "database:\n  mode: embedded\n  setup: [big.sql]\n  strategy: file_copy\n"
    )
    make_pool(root, 1, 3)
    disk = root / ".agent-worktrees" / ".postgres"
    prefix = database_prefix(root)
    disk.mkdir()
    mounted = _mount_tmpfs(disk, "400m")
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small filesystem here: {mounted.stderr.strip()}")
    try:
        assert wtpool(root, "acquire", "--agent", "a").returncode == 0
        template_size = {
            d["database"]: d["size_bytes"]
            for d in json.loads(wtpool(root, "db", "list", "--json").stdout)
        }[f"{prefix}_template"]
        room = shutil.disk_usage(disk).used + template_size // 4
        assert _mount_tmpfs(disk, f"{room // 1024}k").returncode == 0
        before = snapshot(root)

        result = wtpool(root, "acquire", "--agent", "b")
        assert_one_line_error(result, 1, "No space left on device")
        assert "hint: the server's disk is full" in result.stderr
        assert snapshot(root) == before  # no slot, branch or database record for b
        listed = json.loads(wtpool(root, "db", "list", "--json").stdout)
        assert {d["database"] for d in listed} == {f"{prefix}_template", f"{prefix}_wt_1"}

        assert _mount_tmpfs(disk, "400m").returncode == 0
        claim = json.loads(wtpool(root, "acquire", "--agent", "b", "--json").stdout)
        with psycopg.connect(env_file(Path(claim["path"]))["DATABASE_URL"]) as connection:
            assert connection.execute("SELECT count(*) FROM filler").fetchone() == (60000,)
    finally:
        wtpool(root, "cleanup", "--force")
        subprocess.run(["umount", "--lazy", str(disk)], check=False)


def test_cleanup_of_a_pool_that_never_cloned_starts_no_server(
    pool: Pool, with_databases: None
) -> None:
    result = json.loads(wtpool(pool.root, "cleanup", "--json").stdout)
    assert result["stopped_server"] is False and result["dropped_databases"] == []
    assert not (pool.root / ".agent-worktrees" / ".postgres").exists()


def test_a_mode_override_never_loses_the_pools_databases(shop: Path) -> None:
    prefix = database_prefix(shop)
    assert wtpool(shop, "acquire", "--agent", "alice").returncode == 0
    blind = {"WTPOOL_DATABASE_MODE": "none"}
    for command in (["release", "pool-wt-1"], ["cleanup", "--force"]):
        before = snapshot(shop)
        result = wtpool(shop, *command, env=blind)
        assert_one_line_error(result, 2, f"({prefix}_template, {prefix}_wt_1)")
        assert snapshot(shop) == before
    dropped = json.loads(wtpool(shop, "cleanup", "--json").stdout)["dropped_databases"]
    assert sorted(dropped) == [f"{prefix}_template", f"{prefix}_wt_1"]


@pytest.mark.parametrize("shop", ["embedded"], indirect=True)
def test_cleanup_keeps_embedded_data_holding_a_database_wtpool_did_not_create(shop: Path) -> None:
    prefix = database_prefix(shop)
    claim = json.loads(wtpool(shop, "acquire", "--agent", "alice", "--json").stdout)
    with psycopg.connect(env_file(Path(claim["path"]))["DATABASE_URL"], autocommit=True) as db:
        db.execute("CREATE DATABASE notes")  # an agent's own, found nowhere else
    result = json.loads(wtpool(shop, "cleanup", "--json").stdout)
    assert result["stopped_server"] and not _server_processes(shop)
    assert sorted(result["dropped_databases"]) == [f"{prefix}_template", f"{prefix}_wt_1"]
    assert any("databases wtpool did not create (notes)" in w for w in result["warnings"])
    assert (shop / ".agent-worktrees" / ".postgres" / "data" / "PG_VERSION").is_file()


@pytest.mark.parametrize("shop", ["embedded"], indirect=True)
def test_stopping_never_signals_a_stranger_a_stale_pid_file_names(shop: Path) -> None:
    assert wtpool(shop, "acquire", "--agent", "alice").returncode == 0
    data = shop / ".agent-worktrees" / ".postgres" / "data"
    pid_file = data / "postmaster.pid"
    postmaster = psutil.Process(int(pid_file.read_text().split()[0]))
    recorded, owner = pid_file.read_text(), postmaster.username()
    postmaster.send_signal(signal.SIGKILL)  # a crash: the pid file stays behind
    postmaster.wait(timeout=60)
    for process in _server_processes(shop):  # its backends, orphaned by the crash
        process.kill()
    # The system gives the pid to another process of the server's user, which pg_ctl, asked
    # whether the server runs, would take for it (later: pids are not reused at once).
    time.sleep(max(0.0, int(recorded.split("\n")[2]) + 3 - time.time()))
    stranger = subprocess.Popen(["sleep", "60"], cwd="/", user=owner)
    try:
        pid_file.write_text(recorded.replace(recorded.split()[0], str(stranger.pid), 1))
        assert pgserver.stop(open_repository(shop)) is False  # what cleanup calls last
        assert stranger.poll() is None  # never signalled: pg_ctl would have sent it SIGQUIT
        assert not data.exists()
    finally:
        stranger.kill()
        stranger.wait()


@pytest.mark.parametrize("shop", ["embedded"], indirect=True)
def test_an_embedded_server_that_cannot_start_says_why(shop: Path) -> None:
    assert wtpool(shop, "acquire", "--agent", "alice").returncode == 0
    data = shop / ".agent-worktrees" / ".postgres" / "data"
    postmaster = psutil.Process(int((data / "postmaster.pid").read_text().split()[0]))
    postmaster.send_signal(signal.SIGINT)  # PostgreSQL's fast shutdown
    postmaster.wait(timeout=60)
    settings = data / "postgresql.conf"
    original = settings.read_text()
    settings.write_text(original + "shared_buffers = 'plenty'\n")

    result = wtpool(shop, "db", "list")
    assert_one_line_error(result, 1, "could not start the embedded PostgreSQL: configuration file")
    assert "contains errors" in result.stderr
    settings.write_text(original)  # so that the fixture's cleanup can start and stop it


@pytest.mark.parametrize("shop", ["embedded"], indirect=True)
def test_a_new_slot_never_inherits_the_database_of_a_gone_slot_with_its_number(
    shop: Path,
) -> None:
    """A slot deleted by hand and forgotten while its database could not be dropped (here:
    doctor run blind to databases) leaves that database behind; the next slot made with the
    same number must still start from the template."""
    first = wtpool_json(shop, "acquire", "--agent", "alice")
    url = env_file(Path(first["path"]))["DATABASE_URL"]
    with psycopg.connect(url) as connection:
        connection.execute("DELETE FROM product")
    shutil.rmtree(first["path"])
    blind = wtpool(shop, "doctor", "--fix", env={"WTPOOL_DATABASE_MODE": "none"})
    assert blind.returncode == 0, blind.stdout

    second = wtpool_json(shop, "acquire", "--agent", "bob")
    assert second["slot"] == first["slot"] and second["created"]
    assert _names(env_file(Path(second["path"]))["DATABASE_URL"]) == ["cups", "tea"]


def _database_exists(name: str) -> bool:
    with psycopg.connect(EXTERNAL) as admin:
        row = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return row is not None


def _external_shop(root: Path) -> Path:
    """A repository at `root` whose pool (1 to 2 slots) clones from the external server."""
    make_repo(root, {"README.md": "x\n", "db.sql": SCHEMA})
    (root / "wtpool.yaml").write_text(
        f"pool:\n  min: 1\n  max: 2\ndatabase:\n  mode: external\n  url: {EXTERNAL}\n"
        "  setup: [db.sql]\n"
    )
    make_pool(root, 1, 2)
    return root


@pytest.mark.usefixtures("with_databases", "server")
def test_two_repositories_with_one_name_on_one_server_never_share_a_database(
    tmp_path: Path,
) -> None:
    first, second = (_external_shop(tmp_path / side / "shop") for side in ("a", "b"))
    try:
        envs = [
            env_file(Path(wtpool_json(r, "acquire", "--agent", "al")["path"]))
            for r in (first, second)
        ]
        assert envs[0]["PGDATABASE"] != envs[1]["PGDATABASE"]
        assert all(len(env["PGDATABASE"].encode()) <= 63 for env in envs)
        with psycopg.connect(envs[0]["DATABASE_URL"]) as connection:
            connection.execute("DELETE FROM product")
        assert _names(envs[1]["DATABASE_URL"]) == ["cups", "tea"]
        theirs = {d["database"] for d in wtpool_json(second, "db", "list")}

        dropped = wtpool_json(first, "cleanup")["dropped_databases"]
        assert not set(dropped) & theirs
        assert all(_database_exists(name) for name in theirs)
        assert _names(envs[1]["DATABASE_URL"]) == ["cups", "tea"]
        assert wtpool(second, "release", "pool-wt-1").returncode == 0  # theirs still works
        assert wtpool(second, "acquire", "--agent", "bo").returncode == 0
    finally:
        for root in (first, second):
            wtpool(root, "cleanup", "--force")


@pytest.mark.usefixtures("with_databases", "server")
def test_a_pool_made_before_names_carried_its_id_keeps_its_names(tmp_path: Path) -> None:
    """A pool an older wtpool made has the repository's name alone in its database names: it
    goes on using them, and records older wtpools wrote (before their CREATE's check) never
    make a database someone else made into the pool's."""
    root = _external_shop(tmp_path / f"old{secrets.token_hex(3)}")
    legacy = root.name
    stranger = f"{legacy}_wt_2"
    with closing(sqlite3.connect(root / ".agent-worktrees" / "state.db")) as state, state:
        state.execute("UPDATE pool SET database_prefix = NULL")  # as the migration leaves it
        state.execute(
            "INSERT INTO databases (name, slot, kind, created_at)"
            " VALUES (?, 'pool-wt-2', 'slot', '')",
            (stranger,),
        )
    with psycopg.connect(EXTERNAL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{stranger}"')  # someone's, no comment
    try:
        env = env_file(Path(wtpool_json(root, "acquire", "--agent", "al")["path"]))
        assert env["PGDATABASE"] == f"{legacy}_wt_1"
        dropped = wtpool_json(root, "cleanup")["dropped_databases"]
        assert sorted(dropped) == [f"{legacy}_template", f"{legacy}_wt_1"]
        assert _database_exists(stranger)
    finally:
        wtpool(root, "cleanup", "--force")
        with psycopg.connect(EXTERNAL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{stranger}" WITH (FORCE)')


def test_a_database_killed_before_its_comment_is_still_dropped(shop: Path) -> None:
    """A kill between CREATE DATABASE and COMMENT ON DATABASE leaves the clone without its
    mark, but named in the state: doctor and cleanup finish it, and the embedded server's data
    goes with it (see also the crash tests, which kill there)."""
    prefix = database_prefix(shop)
    env = env_file(Path(wtpool_json(shop, "acquire", "--agent", "al")["path"]))
    with psycopg.connect(env["DATABASE_URL"], autocommit=True) as connection:
        connection.execute(f'COMMENT ON DATABASE "{prefix}_wt_1" IS NULL')
    assert wtpool(shop, "doctor", "--fix").returncode == 0
    dropped = wtpool_json(shop, "cleanup")["dropped_databases"]
    assert sorted(dropped) == [f"{prefix}_template", f"{prefix}_wt_1"]
    assert not (shop / ".agent-worktrees" / ".postgres" / "data").exists()
    if "mode: external" in (shop / "wtpool.yaml").read_text():
        assert not _database_exists(f"{prefix}_wt_1")


@pytest.mark.parametrize("shop", ["embedded"], indirect=True)
def test_init_on_a_pool_whose_server_runs_leaves_it_running_and_usable(shop: Path) -> None:
    assert wtpool(shop, "acquire", "--agent", "al").returncode == 0
    pool_dir = shop / ".agent-worktrees"
    watched = [pool_dir, pool_dir / ".postgres", pool_dir / ".postgres" / "data"]
    modes = {path: path.stat().st_mode for path in watched}
    servers = {process.pid for process in _server_processes(shop)}

    assert wtpool(shop, "init").returncode == 0
    env = env_file(Path(wtpool_json(shop, "acquire", "--agent", "bo")["path"]))
    assert _names(env["DATABASE_URL"]) == ["cups", "tea"]
    assert servers <= {process.pid for process in _server_processes(shop)}  # the same server
    assert {path: path.stat().st_mode for path in watched} == modes  # init changed none


@pytest.mark.usefixtures("with_databases", "server")
def test_db_url_hands_out_only_a_database_of_the_pools(tmp_path: Path) -> None:
    root = _external_shop(tmp_path / "shop")
    name = f"{database_prefix(root)}_wt_1"
    try:
        assert_one_line_error(wtpool(root, "db", "url", "pool-wt-1"), 1, f"{name} does not exist")
        with psycopg.connect(EXTERNAL, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')  # someone's, under the pool's name
        result = wtpool(root, "db", "url", "pool-wt-1")
        assert_one_line_error(result, 1, "was not made by this wtpool pool")
    finally:
        wtpool(root, "cleanup", "--force")
        with psycopg.connect(EXTERNAL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

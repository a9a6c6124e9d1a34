"""Slots with databases, through the real CLI, against the external server (external mode)."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path

import psutil
import psycopg
import pytest

from tests.conftest import assert_one_line_error, make_pool, make_repo, snapshot, wtpool
from tests.test_database import EXTERNAL, server  # noqa: F401 - used via getfixturevalue

SCHEMA = "CREATE TABLE product (name text);\nINSERT INTO product VALUES ('tea'), ('cups');\n"


@pytest.fixture(params=["embedded", "external"])
def shop(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
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
    data = str(root / ".agent-worktrees" / ".postgres" / "data")
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if data in " ".join(process.info["cmdline"] or ()):
            found.append(process)
    return found


def _env(slot: Path) -> dict[str, str]:
    lines = (slot / ".env.worktree").read_text().splitlines()[1:]
    return {k: v.strip("'") for k, v in (line.split("=", 1) for line in lines)}


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
    claim = json.loads(wtpool(shop, "acquire", "--agent", "alice", "--json").stdout)
    env = _env(Path(claim["path"]))
    assert env["PGDATABASE"] == f"{shop.name}_wt_1"
    assert _names(env["DATABASE_URL"]) == ["cups", "tea"]
    with psycopg.connect(env["DATABASE_URL"]) as connection:
        connection.execute("DELETE FROM product")

    listed = json.loads(wtpool(shop, "db", "list", "--json").stdout)
    assert {(d["slot"], d["database"]) for d in listed} == {
        (None, f"{shop.name}_template"),
        ("pool-wt-1", f"{shop.name}_wt_1"),
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
    assert sorted(result["dropped_databases"]) == [f"{shop.name}_template", f"{shop.name}_wt_1"]
    assert result["stopped_server"] == embedded
    assert not _server_processes(shop)
    if not embedded:
        assert not {d for d in _wtpool_databases() if d.startswith(shop.name)}


def test_four_claims_at_once_all_get_databases(shop: Path) -> None:
    racers = [
        subprocess.Popen(
            [sys.executable, "-m", "worktree_pool", "acquire", "--agent", f"a{n}", "--json"],
            cwd=shop,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    outputs = [racer.communicate(timeout=300) for racer in racers]
    assert all(racer.returncode == 0 for racer in racers), [err for _, err in outputs]
    for out, _ in outputs:
        assert _names(_env(Path(json.loads(out)["path"]))["DATABASE_URL"]) == ["cups", "tea"]


@pytest.mark.parametrize("shop", ["external"], indirect=True)  # wtpool starts its own
def test_a_server_that_is_down_fails_the_claim_cleanly(shop: Path) -> None:
    config = shop / "wtpool.yaml"
    config.write_text(config.read_text().replace("127.0.0.1:5432", "127.0.0.1:1"))
    before = snapshot(shop)
    result = wtpool(shop, "acquire", "--agent", "alice")
    assert_one_line_error(result, 1, "cannot connect to PostgreSQL")
    assert snapshot(shop) == before


@pytest.mark.parametrize("shop", ["embedded"], indirect=True)
def test_scaling_down_drops_the_removed_slots_database(shop: Path) -> None:
    assert wtpool(shop, "acquire", "--agent", "a1").returncode == 0
    assert wtpool(shop, "acquire", "--agent", "a2").returncode == 0
    assert wtpool(shop, "release", "pool-wt-2").returncode == 0
    before = {d["database"] for d in json.loads(wtpool(shop, "db", "list", "--json").stdout)}
    assert f"{shop.name}_wt_2" in before

    result = json.loads(wtpool(shop, "scale", "down", "--json").stdout)
    assert result["removed"] == ["pool-wt-2"]
    after = {d["database"] for d in json.loads(wtpool(shop, "db", "list", "--json").stdout)}
    assert after == before - {f"{shop.name}_wt_2"}


def test_the_embedded_server_starts_in_a_repository_whose_path_has_spaces(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "my shop", {"README.md": "x\n", "db.sql": SCHEMA})
    (root / "wtpool.yaml").write_text("database:\n  mode: embedded\n  setup: [db.sql]\n")
    make_pool(root, 1, 2)
    try:
        claim = json.loads(wtpool(root, "acquire", "--agent", "alice", "--json").stdout)
        assert _names(_env(Path(claim["path"]))["DATABASE_URL"]) == ["cups", "tea"]
    finally:
        assert json.loads(wtpool(root, "cleanup", "--json").stdout)["stopped_server"]
    assert not _server_processes(root)

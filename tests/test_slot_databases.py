"""Slots with databases, through the real CLI, against the external server (external mode)."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.conftest import assert_one_line_error, make_pool, make_repo, snapshot, wtpool
from tests.test_database import EXTERNAL, server  # noqa: F401 - the fixture that skips or fails

SCHEMA = "CREATE TABLE product (name text);\nINSERT INTO product VALUES ('tea'), ('cups');\n"


@pytest.fixture
def shop(tmp_path: Path, server) -> Path:  # noqa: F811 - server is the fixture
    root = make_repo(
        tmp_path / f"shop{secrets.token_hex(3)}", {"README.md": "x\n", "db.sql": SCHEMA}
    )
    (root / "wtpool.yaml").write_text(
        "pool:\n  min: 1\n  max: 4\n"
        f"database:\n  mode: external\n  url: {EXTERNAL}\n  setup: [db.sql]\n"
    )
    make_pool(root, 1, 4)
    yield root
    wtpool(root, "cleanup", "--force")


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
    assert env["PGDATABASE"] == f"{shop.name}_wt_1" and env["PGHOST"] == "127.0.0.1"
    assert _names(env["DATABASE_URL"]) == ["cups", "tea"]
    with psycopg.connect(env["DATABASE_URL"]) as connection:
        connection.execute("DELETE FROM product")

    listed = json.loads(wtpool(shop, "db", "list", "--json").stdout)
    assert {(d["slot"], d["database"]) for d in listed} == {
        (None, f"{shop.name}_template"),
        ("pool-wt-1", f"{shop.name}_wt_1"),
    }
    url = wtpool(shop, "db", "url", "pool-wt-1")
    assert url.stdout.strip() == env["DATABASE_URL"]

    assert wtpool(shop, "release", "pool-wt-1").returncode == 0
    assert _names(env["DATABASE_URL"]) == ["cups", "tea"]  # a fresh clone for the next task
    with psycopg.connect(env["DATABASE_URL"]) as connection:
        connection.execute("DELETE FROM product")
    assert wtpool(shop, "db", "reset", "pool-wt-1").returncode == 0
    assert _names(env["DATABASE_URL"]) == ["cups", "tea"]

    result = json.loads(wtpool(shop, "cleanup", "--json").stdout)
    assert sorted(result["dropped_databases"]) == [f"{shop.name}_template", f"{shop.name}_wt_1"]
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


def test_a_server_that_is_down_fails_the_claim_cleanly(shop: Path) -> None:
    config = shop / "wtpool.yaml"
    config.write_text(config.read_text().replace("127.0.0.1:5432", "127.0.0.1:1"))
    before = snapshot(shop)
    result = wtpool(shop, "acquire", "--agent", "alice")
    assert_one_line_error(result, 1, "cannot connect to PostgreSQL")
    assert snapshot(shop) == before

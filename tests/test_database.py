"""Per-slot databases against a real PostgreSQL server (the external one at 127.0.0.1:5432).

These skip with a reason when no server answers there, except in CI, where
WTPOOL_REQUIRE_EXTERNAL_POSTGRES=1 makes a missing server a failure.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from worktree_pool.config import DatabaseSettings
from worktree_pool.database import (
    Server,
    clone_for_slot,
    drop_owned,
    ensure_template,
    fit,
    list_owned,
    mask,
    prefix_for,
    slot_database_name,
    template_name,
)
from worktree_pool.errors import WtpoolError

EXTERNAL = "postgresql://postgres@127.0.0.1:5432/postgres"


def _server_answers() -> bool:
    try:
        psycopg.connect(EXTERNAL, connect_timeout=3).close()
    except psycopg.Error:
        return False
    return True


@pytest.fixture(scope="module")
def server() -> Server:
    if not _server_answers():
        if os.environ.get("WTPOOL_REQUIRE_EXTERNAL_POSTGRES") == "1":
            pytest.fail(f"no PostgreSQL at {EXTERNAL}, and CI requires it")
        pytest.skip(f"no PostgreSQL server at {EXTERNAL} to test external mode against")
    return Server(EXTERNAL)


@pytest.fixture
def project(tmp_path: Path, server: Server):
    """A repository root with a unique name, a setup file, and a pool id; drops what it made."""
    root = tmp_path / f"shop-{secrets.token_hex(3)}"
    root.mkdir()
    (root / "schema.sql").write_text(
        "CREATE TABLE product (name text);\nINSERT INTO product VALUES ('tea'), ('cups');\n"
    )
    pool_id = secrets.token_hex(8)
    yield root, pool_id
    drop_owned(server, [d.database for d in list_owned(server, pool_id)], pool_id)


def _rows(url: str) -> list[tuple]:
    with psycopg.connect(url) as connection:
        return connection.execute("SELECT name FROM product ORDER BY name").fetchall()


def test_names_are_identifiers_that_the_server_never_cuts() -> None:
    assert prefix_for(Path("/x/My Shop-2")) == "my_shop_2"
    assert prefix_for(Path("/x/2fast")) == "wt_2fast"
    long_a, long_b = "a" * 70 + "_wt_1", "a" * 70 + "_wt_2"
    assert len(fit(long_a).encode()) <= 63 and fit(long_a) != fit(long_b)
    assert len(fit("é" * 40).encode()) <= 63
    assert len(slot_database_name(Path("/x/" + "r" * 80), 10).encode()) <= 63


def test_passwords_never_show() -> None:
    assert mask("postgresql://bob:s3cr%40t@db:5432/app") == "postgresql://bob:***@db:5432/app"
    assert mask("host=db password='a b' user=bob") == "host=db password=*** user=bob"
    assert mask("host=db password=plain") == "host=db password=***"


def test_each_slot_gets_a_clone_of_the_template_with_its_rows(server: Server, project) -> None:
    root, pool_id = project
    settings = DatabaseSettings(mode="external", setup=("schema.sql",))
    built = ensure_template(server, settings, root, pool_id)
    assert built.built and built.name == template_name(settings, root)
    for number in (1, 2):
        name = slot_database_name(root, number)
        clone_for_slot(server, settings, built.name, name, f"pool-wt-{number}", pool_id)
        assert _rows(server.environment(name)["DATABASE_URL"]) == [("cups",), ("tea",)]
    # A slot's changes stay in its own database, and a re-clone starts it clean.
    first = server.url_for(slot_database_name(root, 1))
    with psycopg.connect(first) as connection:
        connection.execute("DELETE FROM product")
    assert _rows(server.url_for(slot_database_name(root, 2))) == [("cups",), ("tea",)]
    clone_for_slot(server, settings, built.name, slot_database_name(root, 1), "pool-wt-1", pool_id)
    assert _rows(first) == [("cups",), ("tea",)]
    listed = {info.database: info for info in list_owned(server, pool_id)}
    assert listed[slot_database_name(root, 1)].slot == "pool-wt-1"
    assert listed[built.name].slot is None and listed[built.name].size_bytes > 0


def test_a_changed_setup_rebuilds_the_template_and_an_unchanged_one_does_not(
    server: Server,
    project,
) -> None:
    root, pool_id = project
    settings = DatabaseSettings(mode="external", setup=("schema.sql",))
    first = ensure_template(server, settings, root, pool_id)
    assert not ensure_template(server, settings, root, pool_id).built
    with (root / "schema.sql").open("a") as schema:
        schema.write("INSERT INTO product VALUES ('pot');\n")
    again = ensure_template(server, settings, root, pool_id)
    assert again.built and again.fingerprint != first.fingerprint
    name = slot_database_name(root, 1)
    clone_for_slot(server, settings, again.name, name, "pool-wt-1", pool_id)
    assert _rows(server.url_for(name)) == [("cups",), ("pot",), ("tea",)]


def test_concurrent_builders_build_the_template_exactly_once(server: Server, project) -> None:
    root, pool_id = project
    code = (
        "import sys; from pathlib import Path;"
        "from worktree_pool.config import DatabaseSettings;"
        "from worktree_pool.database import Server, ensure_template;"
        "s = DatabaseSettings(mode='external',"
        " setup=('schema.sql', ('sh', '-c', 'echo x >> runs')));"
        f"r = ensure_template(Server({EXTERNAL!r}), s, Path({str(root)!r}), {pool_id!r});"
        "print(r.built)"
    )
    racers = [
        subprocess.Popen([sys.executable, "-c", code], cwd=root, stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    results = [racer.communicate(timeout=120)[0].strip() for racer in racers]
    assert all(racer.returncode == 0 for racer in racers)
    assert sorted(results) == ["False", "False", "False", "True"]
    assert (root / "runs").read_text() == "x\n"  # the setup command ran once


def test_a_database_wtpool_did_not_create_is_never_dropped(server: Server, project) -> None:
    root, pool_id = project
    settings = DatabaseSettings(mode="external", setup=("schema.sql",))
    template = ensure_template(server, settings, root, pool_id).name
    name = slot_database_name(root, 1)
    with psycopg.connect(EXTERNAL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with pytest.raises(WtpoolError, match="was not made by this wtpool pool"):
            clone_for_slot(server, settings, template, name, "pool-wt-1", pool_id)
        assert drop_owned(server, [name], pool_id) == []
        # Another pool's databases are not this pool's either.
        assert drop_owned(server, [template], secrets.token_hex(8)) == []
        with psycopg.connect(EXTERNAL) as admin:
            names = {row[0] for row in admin.execute("SELECT datname FROM pg_database")}
        assert {name, template} <= names
    finally:
        with psycopg.connect(EXTERNAL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_clients_on_the_template_are_named_or_disconnected(server: Server, project) -> None:
    root, pool_id = project
    settings = DatabaseSettings(mode="external", setup=("schema.sql",))
    template = ensure_template(server, settings, root, pool_id).name
    name = slot_database_name(root, 1)
    with psycopg.connect(server.url_for(template) + "?application_name=psql-by-hand"):
        with pytest.raises(WtpoolError, match=r"connected to the template .*psql-by-hand"):
            clone_for_slot(server, settings, template, name, "pool-wt-1", pool_id)
        terminating = DatabaseSettings(
            mode="external", setup=("schema.sql",), terminate_template_connections=True
        )
        clone_for_slot(server, terminating, template, name, "pool-wt-1", pool_id)
    assert _rows(server.url_for(name)) == [("cups",), ("tea",)]


def test_server_down_wrong_role_and_failing_setup_are_clear_errors(
    server: Server,
    project,
) -> None:
    root, pool_id = project
    settings = DatabaseSettings(mode="external", setup=("schema.sql",))
    down = Server("postgresql://bob:hunter2@127.0.0.1:1/postgres")
    with pytest.raises(WtpoolError) as caught:
        ensure_template(down, settings, root, pool_id)
    assert "cannot connect" in caught.value.message and "hunter2" not in caught.value.message

    role = f"wtpool_nocreate_{secrets.token_hex(3)}"
    with psycopg.connect(EXTERNAL, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN")
    try:
        weak = Server(f"postgresql://{role}@127.0.0.1:5432/postgres")
        with pytest.raises(WtpoolError, match="may not create databases"):
            ensure_template(weak, settings, root, pool_id)
    finally:
        with psycopg.connect(EXTERNAL, autocommit=True) as admin:
            admin.execute(f"DROP ROLE {role}")

    (root / "broken.sql").write_text("CREATE TABLE oops (;\n")
    broken = DatabaseSettings(mode="external", setup=("broken.sql",))
    with pytest.raises(WtpoolError, match=r"database.setup\[0\]: broken.sql failed"):
        ensure_template(server, broken, root, pool_id)
    assert list_owned(server, pool_id) == []  # the half-built template is gone

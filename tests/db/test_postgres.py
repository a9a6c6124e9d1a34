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

from tests.conftest import EXTERNAL_POSTGRES, require_external_postgres
from worktree_pool.config.settings import DatabaseSettings
from worktree_pool.db.clone import clone_for_slot, drop_owned
from worktree_pool.db.connection import Server
from worktree_pool.db.inventory import list_lookalikes, list_owned
from worktree_pool.db.names import fit, pool_prefix, prefix_for, slot_database_name, template_name
from worktree_pool.db.ownership import Owner
from worktree_pool.db.template import ensure_template
from worktree_pool.errors import WtpoolError

EXTERNAL = EXTERNAL_POSTGRES


@pytest.fixture(scope="module")
def server() -> Server:
    return Server(require_external_postgres())


class MemoryLedger:
    """A pool's ledger kept in memory, as the state's `databases` table keeps it."""

    def __init__(self) -> None:
        self.names: dict[str, str | None] = {}

    def intents(self) -> dict[str, str | None]:
        return dict(self.names)

    def record(self, name: str, slot: str | None) -> None:
        self.names[name] = slot

    def forget(self, name: str) -> None:
        self.names.pop(name, None)


def new_owner(root: Path) -> Owner:
    pool_id = secrets.token_hex(8)
    return Owner(pool_id, pool_prefix(root, pool_id), MemoryLedger())


@pytest.fixture
def project(tmp_path: Path, server: Server):
    """A repository root, a setup file, and a pool to own databases; drops what it made."""
    root = tmp_path / "shop"
    root.mkdir()
    (root / "schema.sql").write_text(
        "CREATE TABLE product (name text);\nINSERT INTO product VALUES ('tea'), ('cups');\n"
    )
    owner = new_owner(root)
    yield root, owner
    drop_owned(server, [d.database for d in list_owned(server, owner)], owner)


def _rows(url: str) -> list[tuple]:
    with psycopg.connect(url) as connection:
        return connection.execute("SELECT name FROM product ORDER BY name").fetchall()


def test_names_are_identifiers_that_the_server_never_cuts() -> None:
    assert prefix_for(Path("/x/My Shop-2")) == "my_shop_2"
    assert prefix_for(Path("/x/2fast")) == "wt_2fast"
    long_a, long_b = "a" * 70 + "_wt_1", "a" * 70 + "_wt_2"
    assert len(fit(long_a).encode()) <= 63 and fit(long_a) != fit(long_b)
    assert len(fit("é" * 40).encode()) <= 63
    assert pool_prefix(Path("/x/My Shop"), "0123456789abcdef") == "my_shop_01234567"


@pytest.mark.parametrize("directory", ["shop", "r" * 80, "é" * 70, "2" * 63])
def test_each_pool_has_names_of_its_own_that_fit(directory: str) -> None:
    """Two repositories with the same directory name never share a database name, and no name
    is ever long enough for the server to cut it (which could make two names one)."""
    first, second = (pool_prefix(Path("/a") / directory, secrets.token_hex(8)) for _ in "12")
    settings = DatabaseSettings()
    names = set()
    for prefix in (first, second):
        names |= {template_name(settings, prefix), slot_database_name(prefix, 64)}
        names |= {slot_database_name(prefix, number) for number in range(1, 10)}
    assert len(names) == 2 * 11
    assert all(len(name.encode()) <= 63 for name in names)


def test_each_slot_gets_a_clone_of_the_template_with_its_rows(server: Server, project) -> None:
    root, owner = project
    settings = DatabaseSettings(mode="external", setup=("schema.sql",))
    built = ensure_template(server, settings, root, owner)
    assert built.built and built.name == template_name(settings, owner.prefix)
    for number in (1, 2):
        name = slot_database_name(owner.prefix, number)
        clone_for_slot(server, settings, built.name, name, f"pool-wt-{number}", owner)
        assert _rows(server.environment(name)["DATABASE_URL"]) == [("cups",), ("tea",)]
    # A slot's changes stay in its own database, and a re-clone starts it clean.
    first_name = slot_database_name(owner.prefix, 1)
    first = server.url_for(first_name)
    with psycopg.connect(first) as connection:
        connection.execute("DELETE FROM product")
    assert _rows(server.url_for(slot_database_name(owner.prefix, 2))) == [("cups",), ("tea",)]
    clone_for_slot(server, settings, built.name, first_name, "pool-wt-1", owner)
    assert _rows(first) == [("cups",), ("tea",)]
    listed = {info.database: info for info in list_owned(server, owner)}
    assert listed[first_name].slot == "pool-wt-1"
    assert listed[built.name].slot is None and listed[built.name].size_bytes > 0
    # Each was recorded before it was created.
    assert owner.ledger.intents() == {
        built.name: None,
        first_name: "pool-wt-1",
        slot_database_name(owner.prefix, 2): "pool-wt-2",
    }


def test_a_changed_setup_rebuilds_the_template_and_an_unchanged_one_does_not(
    server: Server,
    project,
) -> None:
    root, owner = project
    settings = DatabaseSettings(mode="external", setup=("schema.sql",))
    first = ensure_template(server, settings, root, owner)
    assert not ensure_template(server, settings, root, owner).built
    with (root / "schema.sql").open("a") as schema:
        schema.write("INSERT INTO product VALUES ('pot');\n")
    again = ensure_template(server, settings, root, owner)
    assert again.built and again.fingerprint != first.fingerprint
    name = slot_database_name(owner.prefix, 1)
    clone_for_slot(server, settings, again.name, name, "pool-wt-1", owner)
    assert _rows(server.url_for(name)) == [("cups",), ("pot",), ("tea",)]


def test_concurrent_builders_build_the_template_exactly_once(server: Server, project) -> None:
    root, owner = project
    code = (
        "import sys; from pathlib import Path;"
        "from worktree_pool.config.settings import DatabaseSettings;"
        "from worktree_pool.db.connection import Server;"
        "from worktree_pool.db.ownership import Owner;"
        "from worktree_pool.db.template import ensure_template;"
        "from tests.db.test_postgres import MemoryLedger;"
        "s = DatabaseSettings(mode='external',"
        " setup=('schema.sql', ('sh', '-c', 'echo x >> runs')));"
        f"o = Owner({owner.pool_id!r}, {owner.prefix!r}, MemoryLedger());"
        f"r = ensure_template(Server({EXTERNAL!r}), s, Path({str(root)!r}), o);"
        "print(r.built)"
    )
    here = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", code], cwd=root, stdout=subprocess.PIPE, text=True, env=here
        )
        for _ in range(4)
    ]
    results = [racer.communicate(timeout=120)[0].strip() for racer in racers]
    assert all(racer.returncode == 0 for racer in racers)
    assert sorted(results) == ["False", "False", "False", "True"]
    assert (root / "runs").read_text() == "x\n"  # the setup command ran once


def test_a_database_wtpool_did_not_create_is_never_dropped(server: Server, project) -> None:
    root, owner = project
    settings = DatabaseSettings(mode="external", setup=("schema.sql",))
    template = ensure_template(server, settings, root, owner).name
    name = slot_database_name(owner.prefix, 1)
    with psycopg.connect(EXTERNAL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with pytest.raises(WtpoolError, match="was not made by this wtpool pool"):
            clone_for_slot(server, settings, template, name, "pool-wt-1", owner)
        assert name not in owner.ledger.intents()  # refused before any intent
        assert drop_owned(server, [name], owner) == []
        assert list_lookalikes(server, owner) == [name]
        # Another pool's databases are not this pool's either, even named in its ledger.
        other = new_owner(root)
        other.ledger.record(template, None)
        assert drop_owned(server, [template], other) == []
        with psycopg.connect(EXTERNAL) as admin:
            names = {row[0] for row in admin.execute("SELECT datname FROM pg_database")}
        assert {name, template} <= names
    finally:
        with psycopg.connect(EXTERNAL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_clients_on_the_template_are_named_or_disconnected(server: Server, project) -> None:
    root, owner = project
    settings = DatabaseSettings(mode="external", setup=("schema.sql",))
    template = ensure_template(server, settings, root, owner).name
    name = slot_database_name(owner.prefix, 1)
    with psycopg.connect(server.url_for(template) + "?application_name=psql-by-hand"):
        with pytest.raises(WtpoolError, match=r"connected to the template .*psql-by-hand"):
            clone_for_slot(server, settings, template, name, "pool-wt-1", owner)
        terminating = DatabaseSettings(
            mode="external", setup=("schema.sql",), terminate_template_connections=True
        )
        clone_for_slot(server, terminating, template, name, "pool-wt-1", owner)
    assert _rows(server.url_for(name)) == [("cups",), ("tea",)]


def test_server_down_wrong_role_and_failing_setup_are_clear_errors(
    server: Server,
    project,
) -> None:
    root, owner = project
    settings = DatabaseSettings(mode="external", setup=("schema.sql",))
    down = Server("postgresql://bob:hunter2@127.0.0.1:1/postgres")
    with pytest.raises(WtpoolError) as caught:
        ensure_template(down, settings, root, owner)
    assert "cannot connect" in caught.value.message and "hunter2" not in caught.value.message

    role = f"wtpool_nocreate_{secrets.token_hex(3)}"
    with psycopg.connect(EXTERNAL, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN")
    try:
        weak = Server(f"postgresql://{role}@127.0.0.1:5432/postgres")
        with pytest.raises(WtpoolError, match="may not create databases"):
            ensure_template(weak, settings, root, owner)
    finally:
        with psycopg.connect(EXTERNAL, autocommit=True) as admin:
            admin.execute(f"DROP ROLE {role}")

    (root / "broken.sql").write_text("CREATE TABLE oops (;\n")
    broken = DatabaseSettings(mode="external", setup=("broken.sql",))
    with pytest.raises(WtpoolError, match=r"database.setup\[0\]: broken.sql failed"):
        ensure_template(server, broken, root, owner)
    assert list_owned(server, owner) == []  # the half-built template is gone
    assert owner.ledger.intents() == {}  # and so is its record


def _create_bare(name: str) -> None:
    """A database with no comment, as a kill between CREATE and COMMENT leaves one, or as
    someone else makes one."""
    with psycopg.connect(EXTERNAL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')


def _exists(name: str) -> bool:
    with psycopg.connect(EXTERNAL) as admin:
        row = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return row is not None


def test_a_database_its_ledger_names_is_the_pools_even_without_its_comment(
    server: Server, project
) -> None:
    root, owner = project
    settings = DatabaseSettings(mode="external", setup=("schema.sql",))
    template = ensure_template(server, settings, root, owner).name
    half_made = slot_database_name(owner.prefix, 1)
    owner.ledger.record(half_made, "pool-wt-1")  # what clone_for_slot records before CREATE
    _create_bare(half_made)
    listed = {info.database: info.slot for info in list_owned(server, owner)}
    assert listed == {template: None, half_made: "pool-wt-1"}
    assert list_lookalikes(server, owner) == []
    # Reused as a slot's database only once finished: a fresh clone replaces it.
    clone_for_slot(server, settings, template, half_made, "pool-wt-1", owner, keep_existing=True)
    assert _rows(server.url_for(half_made)) == [("cups",), ("tea",)]
    # And a bare one the ledger names is dropped like any of the pool's.
    half_made_template = slot_database_name(owner.prefix, 2)
    owner.ledger.record(half_made_template, None)
    _create_bare(half_made_template)
    assert drop_owned(server, [half_made_template], owner) == [half_made_template]
    assert not _exists(half_made_template)


class RacingLedger(MemoryLedger):
    """A ledger during whose record someone else creates the very database: what happens when
    another client's CREATE lands between wtpool's look at the server and its own CREATE."""

    def record(self, name: str, slot: str | None) -> None:
        super().record(name, slot)
        _create_bare(name)


def test_a_name_taken_after_the_look_is_forgotten_and_never_dropped(
    server: Server, project
) -> None:
    root, owner = project
    settings = DatabaseSettings(mode="external", setup=("schema.sql",))
    template = ensure_template(server, settings, root, owner).name
    racing = Owner(owner.pool_id, owner.prefix, RacingLedger())
    name = slot_database_name(owner.prefix, 3)
    try:
        with pytest.raises(WtpoolError, match="already exists"):
            clone_for_slot(server, settings, template, name, "pool-wt-3", racing)
        assert racing.ledger.intents() == {}  # someone else's: not the pool's to drop
        assert drop_owned(server, [name], racing) == [] and _exists(name)
    finally:
        with psycopg.connect(EXTERNAL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

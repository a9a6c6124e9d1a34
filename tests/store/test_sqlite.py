from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from tests.conftest import Pool, assert_one_line_error, snapshot, wtpool
from worktree_pool.errors import WtpoolError
from worktree_pool.store.schema import MIGRATIONS
from worktree_pool.store.sqlite import StateStore


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_store_is_private_wal_and_versioned(pool: Pool) -> None:
    state = pool.root / ".agent-worktrees" / "state.db"
    assert _mode(state.parent) == 0o700
    assert _mode(state) == 0o600
    conn = sqlite3.connect(state)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT version FROM schema_version").fetchone()[0] == len(MIGRATIONS)
    finally:
        conn.close()


def test_wal_side_files_are_private_too(pool: Pool) -> None:
    store = pool.store()
    with store.transaction() as conn:
        conn.execute("UPDATE pool SET min_slots = min_slots")
        # While a connection is open the -wal and -shm files exist.
        for suffix in ("-wal", "-shm"):
            side = pool.root / ".agent-worktrees" / f"state.db{suffix}"
            assert side.exists()
            assert _mode(side) == 0o600
    store.close()


def test_a_writer_waits_for_another_then_reports_the_lock(pool: Pool) -> None:
    state = pool.root / ".agent-worktrees" / "state.db"
    blocker = sqlite3.connect(state, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        store = StateStore(state, busy_timeout=0.2)
        with pytest.raises(WtpoolError, match="held the state store"), store.transaction():
            pass
        store.close()
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()


def test_a_change_that_fails_is_rolled_back(pool: Pool) -> None:
    store = pool.store()
    with pytest.raises(RuntimeError), store.transaction() as conn:
        conn.execute("DELETE FROM slots")
        raise RuntimeError("boom")
    with store.snapshot() as conn:
        assert conn.execute("SELECT COUNT(*) FROM slots").fetchone()[0] == 3
    store.close()


def test_corrupt_store_is_reported_and_left_untouched(pool: Pool) -> None:
    state = pool.root / ".agent-worktrees" / "state.db"
    for side in state.parent.glob("state.db-*"):
        side.unlink()
    state.write_bytes(b"this is not a database" * 100)
    before = snapshot(pool.root)
    result = wtpool(pool.root, "status")
    assert_one_line_error(result, 1, "is corrupt")
    assert "hint: move it aside" in result.stderr
    assert snapshot(pool.root) == before


def test_store_from_a_newer_wtpool_is_refused(pool: Pool) -> None:
    conn = sqlite3.connect(pool.root / ".agent-worktrees" / "state.db")
    conn.execute("UPDATE schema_version SET version = 999")
    conn.commit()
    conn.close()
    assert_one_line_error(wtpool(pool.root, "status"), 1, "newer than this wtpool understands")


def test_a_pool_from_before_the_merge_queue_gets_mail_and_the_queue(pool: Pool) -> None:
    # Up to 4376d08 the migration after `reservations` added its `rules` column, and there
    # were no more: such a store's version stands where mail's migration is now.
    state = pool.root / ".agent-worktrees" / "state.db"
    conn = sqlite3.connect(state, isolation_level=None)
    version = next(n for n, script in enumerate(MIGRATIONS) if "CREATE TABLE merges" in script)
    conn.executescript(  # what the migrations from there on make, undone
        "DROP TABLE messages; DROP TABLE merges; DROP TABLE merge_processor;"
        " ALTER TABLE slots DROP COLUMN database_fresh;"
        " ALTER TABLE pool DROP COLUMN database_prefix;"
        " ALTER TABLE databases DROP COLUMN intent;"
        " DROP TABLE landed_tasks; DROP TABLE pinned_scopes;"
        " ALTER TABLE slots DROP COLUMN out_of_service; DROP TABLE trusted_hooks;"
        " DROP TABLE claims; DROP TABLE hosts; ALTER TABLE reservations DROP COLUMN pool_id;"
        " DROP TABLE audit_log;"
        f" UPDATE schema_version SET version = {version};"
    )
    conn.close()
    store = pool.store()
    with store.snapshot() as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    store.close()
    assert {
        "messages",
        "merges",
        "merge_processor",
        "landed_tasks",
        "pinned_scopes",
        "trusted_hooks",
        "claims",
    } <= tables
    result = wtpool(
        pool.root, "mail", "send", "--from", "a", "--to", "b", "--subject", "hi", "--body", "x"
    )
    assert result.returncode == 0, result.stderr

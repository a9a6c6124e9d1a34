"""store/sql.py: a column name from a keyword reaches SQL only through its table's whitelist."""

from __future__ import annotations

from pathlib import Path

import pytest

from worktree_pool.store import merges, sql
from worktree_pool.store.protocol import Connection, Store
from worktree_pool.store.slots import SlotState, find_slot, insert_slot, update_slot
from worktree_pool.store.sqlite import StateStore


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    return StateStore.create(tmp_path / "state.db", busy_timeout=5)


def _columns(conn: Connection, table: str) -> set[str]:
    return {row["name"] for row in conn.execute(f"PRAGMA table_info({table})")}


def test_the_store_is_a_store_and_its_connection_a_connection(store: StateStore) -> None:
    assert isinstance(store, Store)
    with store.snapshot() as conn:
        assert isinstance(conn, Connection)


def test_whitelists_name_real_columns(store: StateStore) -> None:
    with store.snapshot() as conn:
        for table in sql.WRITABLE.keys() | sql.KEYS.keys():
            real = _columns(conn, table)
            assert sql.WRITABLE.get(table, frozenset()) <= real
            assert sql.KEYS.get(table, frozenset()) <= real


def test_an_unknown_keyword_raises_and_changes_nothing(store: StateStore) -> None:
    with store.transaction() as conn:
        name = insert_slot(conn, 1, SlotState.IDLE)
    before = _slot_row(store, name)
    for changes in (
        {"no_such_column": 1},
        {"state": SlotState.BUSY, "agent = 'x', task": "t"},  # a valid change does not slip by
    ):
        with pytest.raises(ValueError, match="no such column"), store.transaction() as conn:
            update_slot(conn, name, **changes)
    assert _slot_row(store, name) == before


def test_a_row_is_found_by_a_key_column_only(store: StateStore) -> None:
    with store.transaction() as conn:
        name = insert_slot(conn, 1, SlotState.IDLE)
    with store.snapshot() as conn:
        assert find_slot(conn, name=name) is not None
        with pytest.raises(ValueError):
            find_slot(conn, state="idle")  # not a key: would pick an arbitrary row
        with pytest.raises(ValueError):
            find_slot(conn, name=name, agent="a")  # one column at a time


def test_merge_entries_are_checked_too(store: StateStore) -> None:
    with store.transaction() as conn:
        entry = merges.insert(
            conn,
            slot=None,
            agent=None,
            task=None,
            branch="wtpool/task/t",
            tip="0" * 40,
            base="main",
            scope=None,
            priority=2,
            depends_on=[],
            release=False,
            pushed=False,
        )
    with pytest.raises(ValueError), store.transaction() as conn:
        merges.update(conn, entry, reason="x", **{"id": 7})  # the key is not writable
    with store.snapshot() as conn:
        kept = merges.get(conn, entry)
    assert kept is not None and kept.id == entry and kept.reason is None


def test_an_unknown_table_has_no_columns(store: StateStore) -> None:
    with pytest.raises(ValueError), store.transaction() as conn:
        sql.update(conn, "pool; DROP TABLE slots", "name", "x", {"state": "idle"})


def _slot_row(store: StateStore, name: str) -> dict[str, object]:
    with store.snapshot() as conn:
        slot = find_slot(conn, name=name)
    assert slot is not None
    return slot.__dict__

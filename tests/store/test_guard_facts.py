"""The facts the shell guard reads never claim less than the store holds: withdrawn while a
change is being made, written again from what was committed, and left alone by nobody."""

from __future__ import annotations

import sqlite3
import time

from tests.conftest import Pool
from worktree_pool.agents.reservations import reserve, unreserve
from worktree_pool.pool.claims import acquire
from worktree_pool.store.guard_facts import facts_path


def _facts(pool: Pool) -> list[list[str]]:
    path = facts_path(pool.repo.state_path)
    return [line.split("\t") for line in path.read_text().splitlines()]


def test_facts_name_each_slot_s_agent_and_each_exclusive_hold(pool: Pool) -> None:
    store = pool.store()
    acquire(pool.repo, store, "alice", None, ("src/",))
    reserve(pool.repo, store, "bob", ("src/api/", "docs/*.md"))
    reserve(pool.repo, store, "carol", ("lib/",), shared=True)  # shared: holds nothing
    assert _facts(pool) == [
        ["slot", "pool-wt-1", "alice"],
        ["slot", "pool-wt-2", ""],
        ["slot", "pool-wt-3", ""],
        ["hold", "bob", "^(src/api/|docs/)"],
    ]
    unreserve(pool.repo, store, "bob")
    assert ["hold", "bob", "^(src/api/|docs/)"] not in _facts(pool)


def test_facts_are_withdrawn_while_a_change_is_made(pool: Pool) -> None:
    store = pool.store()
    path = facts_path(pool.repo.state_path)
    assert path.is_file()
    with store.transaction():
        assert not path.exists()  # a shell guard now asks the Python guard
    assert path.is_file()


def test_facts_written_back_after_a_change_that_failed(pool: Pool) -> None:
    store = pool.store()
    before = _facts(pool)
    try:
        with store.transaction() as conn:
            conn.execute("UPDATE slots SET agent = 'mallory' WHERE name = 'pool-wt-1'")
            raise RuntimeError("the change fails halfway")
    except RuntimeError:
        pass
    assert _facts(pool) == before  # what is committed, not what was tried


def test_facts_are_not_written_while_another_process_holds_the_lock(pool: Pool) -> None:
    store = pool.store()
    path = facts_path(pool.repo.state_path)
    other = sqlite3.connect(pool.repo.state_path, isolation_level=None)
    try:
        with store.transaction() as conn:
            conn.execute("UPDATE slots SET agent = 'alice' WHERE name = 'pool-wt-1'")
        other.execute("BEGIN IMMEDIATE")  # another writer, between its withdrawal and commit
        path.unlink()
        started = time.monotonic()
        store._publish_guard_facts()
        assert not path.exists()  # skipped rather than written beside a change in flight
        assert time.monotonic() - started < store.busy_timeout  # and never waited for it
    finally:
        other.execute("ROLLBACK")
        other.close()
    with store.transaction():
        pass
    assert ["slot", "pool-wt-1", "alice"] in _facts(pool)

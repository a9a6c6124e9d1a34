"""What the commit guard's shell fast path (scope/hooks.py) reads instead of the store: the
agent in each slot and the paths each agent holds exclusively, in a file beside the store.

    slot<TAB><slot><TAB><agent, or nothing>     one line per slot, first
    hold<TAB><agent><TAB><ERE>                  one line per active exclusive reservation

A hold's ERE covers at least the paths its patterns match (util/ere.py); expiry is left out, so
a reservation stays in the file until the file is written again after it expired: a commit it
covers goes to the Python guard, which decides with the clock.

The file must never claim less than the store holds, or the shell would let through a commit
that a reservation forbids. So it is only ever written while the store's write lock is held,
from what is committed (sqlite.StateStore publishes it after each change), and every change
deletes it, under that lock, before it writes anything: while the file is missing the shell
hands every commit to the Python guard, which reads the store itself.
"""

from __future__ import annotations

import json
from pathlib import Path

from worktree_pool.store.protocol import Connection
from worktree_pool.util.ere import covering

SUFFIX = "-guard"  # beside state.db, as SQLite's -wal and -shm files are


def facts_path(state_path: Path) -> Path:
    return state_path.with_name(state_path.name + SUFFIX)


def render(conn: Connection, now: float) -> str:
    slots = conn.execute("SELECT name, agent FROM slots ORDER BY number").fetchall()
    holds = conn.execute(
        "SELECT agent, patterns FROM reservations WHERE released_at IS NULL"
        " AND expires_at > ? AND exclusive = 1 ORDER BY id",
        (now,),
    ).fetchall()
    lines = [f"slot\t{row['name']}\t{row['agent'] or ''}" for row in slots]
    lines += [f"hold\t{row['agent']}\t{covering(_patterns(row['patterns']))}" for row in holds]
    return "".join(f"{line}\n" for line in lines)


def _patterns(stored: str) -> tuple[str, ...]:
    return tuple(json.loads(stored))

"""The limit_levels and latest_sample tables: what monitor.limits remembers between samples.

`latest_sample` is read here, not in the monitor, so that `wtpool status` shows it without
loading the monitor's code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from worktree_pool.store.protocol import Connection


def level(conn: Connection, resource: str) -> str | None:
    """The level `resource` was at when last recorded; None if it never was."""
    row = conn.execute("SELECT level FROM limit_levels WHERE resource = ?", (resource,)).fetchone()
    return row["level"] if row else None


def set_level(conn: Connection, resource: str, level: str, since: str) -> None:
    conn.execute(
        "INSERT INTO limit_levels (resource, level, since) VALUES (?, ?, ?) ON CONFLICT"
        " (resource) DO UPDATE SET level = excluded.level, since = excluded.since",
        (resource, level, since),
    )


@dataclass(frozen=True)
class LatestSample:
    """The newest sample's time and levels (limits.record_sample writes it)."""

    taken_at: str
    levels: dict[str, str]  # resource -> level


def latest_sample(conn: Connection) -> LatestSample | None:
    row = conn.execute("SELECT taken_at, levels FROM latest_sample").fetchone()
    return None if row is None else LatestSample(row["taken_at"], json.loads(row["levels"]))


def record_sample(conn: Connection, taken_at: str, levels: dict[str, str]) -> None:
    """Keep this sample's time and levels as the newest."""
    conn.execute(
        "INSERT INTO latest_sample (id, taken_at, levels) VALUES (1, ?, ?) ON CONFLICT"
        " (id) DO UPDATE SET taken_at = excluded.taken_at, levels = excluded.levels",
        (taken_at, json.dumps(levels)),
    )

"""The hosts of a shared control plane: who they are, and when each was last heard from.

Only ever run on PostgreSQL (a local store has no other host), so its statements use the
server's clock (`now()`): heartbeats written by machines whose clocks disagree are still
compared on one clock.

A host is a pool on a machine: its id is `state.host`, or the hostname followed by the start
of the pool's id, so that two clones on one machine are two hosts. Two pools may not hold one
id at once; a pool may take over an id whose holder has been silent longer than `host_ttl`.
"""

from __future__ import annotations

from dataclasses import dataclass

from worktree_pool.errors import WtpoolError
from worktree_pool.store.protocol import Connection


@dataclass(frozen=True)
class HostIdentity:
    """This machine's pool, as the control plane knows it."""

    id: str
    pool_id: str
    hostname: str
    repository: str  # the main worktree's path on that machine, to tell a person where


def default_host_id(hostname: str, pool_id: str) -> str:
    return f"{hostname.split('.')[0] or 'host'}-{pool_id[:8]}"


@dataclass(frozen=True)
class HostRecord:
    id: str
    pool_id: str
    hostname: str
    repository: str
    started_at: str
    heartbeat_at: str
    silent_for: float  # seconds since its last heartbeat, on the server's clock
    stale: bool  # silent for longer than host_ttl
    slots: int  # as of its last heartbeat
    busy: int
    claims: tuple[str, ...]  # the tasks its slots hold


def register(conn: Connection, me: HostIdentity, ttl: float) -> None:
    """Announce this host (a heartbeat too), refusing an id another live pool holds. A pool has
    one row: one it had under another id (state.host changed, or the hostname) goes, so that it
    never lingers to go stale while the pool lives on."""
    conn.execute("DELETE FROM hosts WHERE pool_id = ? AND id <> ?", (me.pool_id, me.id))
    row = conn.execute(
        "INSERT INTO hosts (id, pool_id, hostname, repository) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET pool_id = excluded.pool_id,"
        " hostname = excluded.hostname, repository = excluded.repository, heartbeat_at = now()"
        " WHERE hosts.pool_id = excluded.pool_id"
        " OR hosts.heartbeat_at < now() - make_interval(secs => ?)"
        " RETURNING id",
        (me.id, me.pool_id, me.hostname, me.repository, ttl),
    ).fetchone()
    if row is not None:
        return
    other = conn.execute(
        "SELECT hostname, repository, extract(epoch FROM now() - heartbeat_at) AS silent_for"
        " FROM hosts WHERE id = ?",
        (me.id,),
    ).fetchone()
    raise WtpoolError(
        f"host id {me.id} is already used by the pool at {other['hostname']}:"
        f"{other['repository']}, heard from {float(other['silent_for']):.0f} s ago",
        "give each machine its own state.host (unset, the id adds the pool's own id)",
    )


def heartbeat(conn: Connection, me: HostIdentity, slots: int, busy: int) -> bool:
    """This host is alive, with `slots` slots of which `busy` are in use (not idle); False when
    it has no row to beat (doctor forgot it while it was silent)."""
    return (
        conn.execute(
            "UPDATE hosts SET heartbeat_at = now(), slots = ?, busy = ?"
            " WHERE id = ? AND pool_id = ?",
            (slots, busy, me.id, me.pool_id),
        ).rowcount
        > 0
    )


def still_silent(conn: Connection, pool_id: str, ttl: float) -> bool:
    """Whether the host of pool `pool_id` is still listed, and silent for over `ttl` seconds."""
    row = conn.execute(
        "SELECT 1 FROM hosts WHERE pool_id = ? AND heartbeat_at < now() - make_interval(secs => ?)",
        (pool_id, ttl),
    ).fetchone()
    return row is not None


def forget(conn: Connection, host_id: str, pool_id: str) -> None:
    """The host is no longer one: its session ended (cleanup), or doctor released what it held
    after it went silent. Only that pool's row, should another have taken the id since."""
    conn.execute("DELETE FROM hosts WHERE id = ? AND pool_id = ?", (host_id, pool_id))


def every_host(conn: Connection, ttl: float) -> list[HostRecord]:
    rows = conn.execute(
        "SELECT h.id, h.pool_id, h.hostname, h.repository,"
        " to_char(h.started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
        " AS started_at,"
        " to_char(h.heartbeat_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
        " AS heartbeat_at,"
        " extract(epoch FROM now() - h.heartbeat_at) AS silent_for, h.slots, h.busy,"
        " coalesce((SELECT string_agg(c.task, ' ' ORDER BY c.task) FROM claims c"
        " WHERE c.pool_id = h.pool_id), '') AS claims"
        " FROM hosts h ORDER BY h.id"
    ).fetchall()
    return [
        HostRecord(
            id=row["id"],
            pool_id=row["pool_id"],
            hostname=row["hostname"],
            repository=row["repository"],
            started_at=row["started_at"],
            heartbeat_at=row["heartbeat_at"],
            silent_for=float(row["silent_for"]),
            stale=float(row["silent_for"]) > ttl,
            slots=int(row["slots"]),
            busy=int(row["busy"]),
            claims=tuple(row["claims"].split()),
        )
        for row in rows
    ]

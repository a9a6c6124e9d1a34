"""The repository's hooks the user trusted: their digests, and what each digest stood for."""

from __future__ import annotations

from worktree_pool.store.protocol import Connection
from worktree_pool.store.values import utc_now


def is_trusted(conn: Connection, digest: str) -> bool:
    return (
        conn.execute("SELECT 1 FROM trusted_hooks WHERE digest = ?", (digest,)).fetchone()
        is not None
    )


def record_trust(conn: Connection, digest: str, hooks: str) -> None:
    """Trust the hooks whose digest is `digest`; `hooks` is their JSON, kept to show."""
    conn.execute(
        "INSERT INTO trusted_hooks (digest, hooks, trusted_at) VALUES (?, ?, ?) "
        "ON CONFLICT (digest) DO UPDATE SET trusted_at = excluded.trusted_at",
        (digest, hooks, utc_now()),
    )

"""How values are kept in the store's columns: times, row ids, scopes. Shared by every query
module and by callers that stamp times themselves (the audit log, the daemon)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

# SQLite's INTEGER is a signed 64-bit number (PostgreSQL's BIGINT too): a larger Python int
# cannot even be bound.
MAX_ROW_ID = 2**63 - 1


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def is_row_id(value: int) -> bool:
    """Whether `value` can name a row: an id typed by a user is checked with this before it
    reaches SQL, where a number out of range raises OverflowError."""
    return 0 < value <= MAX_ROW_ID


def encode_scope(scope: tuple[str, ...] | None) -> str | None:
    """A scope as stored: a JSON list of patterns, NULL for the whole tree."""
    return json.dumps(list(scope)) if scope is not None else None


def decode_scope(text: str | None) -> tuple[str, ...] | None:
    return tuple(json.loads(text)) if text is not None else None

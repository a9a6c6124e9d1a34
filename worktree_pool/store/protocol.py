"""What callers rely on from the state store: a `Store` that opens transactions, and the
`Connection` a transaction hands out. `sqlite.StateStore` and `sqlite3.Connection` are the one
implementation today; a PostgreSQL backend implements these two and changes no caller.

Rules every query module (slots, queue, pool, databases, reservations, mail, merges, limits,
tasks) follows, so that a second backend can run them unchanged or translate them mechanically:

- A query function takes the caller's `Connection` first and runs inside the transaction the
  caller opened (`with store.transaction() as conn:` to change, `store.snapshot()` to read);
  it never opens, commits or rolls back one itself.
- Parameters are `?` placeholders (a PostgreSQL backend translates them to `%s`); SQL text is
  never built from values, and a column name taken from a keyword goes through `sql.py`'s
  per-table whitelist first.
- Rows are read by column name (`row["agent"]`), never by position; a function returns
  records (`Slot`, `MergeEntry`, ...) or plain values, not rows.
- Only standard SQL and what both backends have (`coalesce`, `COUNT(*)`,
  `INSERT ... ON CONFLICT (key) DO UPDATE SET col = excluded.col` or `DO NOTHING`, and
  `RETURNING`, which gives an INSERT's new id); SQLite-only syntax is kept to `schema.py` and
  `sqlite.py`, PostgreSQL's to `shared_schema.py` and `postgres.py`.
- Times are ISO-8601 text (`values.utc_now`) or, for reservations, seconds since the epoch;
  booleans are stored as 0/1 and made `bool` in the records; lists are JSON text.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, runtime_checkable


class Row(Protocol):
    """A result row, addressable by column name (sqlite3.Row is one)."""

    def __getitem__(self, key: str, /) -> Any: ...

    def keys(self) -> list[str]: ...


class Cursor(Protocol):
    """What an execute returns: its rows, and what an INSERT or UPDATE did."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...  # a Row, or None

    def fetchall(self) -> list[Any]: ...  # Rows

    def __iter__(self) -> Iterator[Any]: ...


@runtime_checkable
class Connection(Protocol):
    """A connection inside one transaction; sqlite3.Connection satisfies it."""

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Cursor: ...

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Cursor: ...


@runtime_checkable
class Store(Protocol):
    """The state store as commands hold it: `with open_store(repo) as store:`."""

    def transaction(self) -> AbstractContextManager[Connection]:
        """One atomic change; the write lock is held from the first read to the commit."""
        ...

    def snapshot(self) -> AbstractContextManager[Connection]:
        """A consistent read of several tables that blocks no writer."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Store: ...

    def __exit__(self, *exc_info: object) -> None: ...

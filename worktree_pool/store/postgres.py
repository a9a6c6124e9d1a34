"""The control plane on PostgreSQL: the shared tables, reached by every machine of a fleet.

It implements protocol.Store for the tables of shared_schema.py. What it guarantees, and how:

- **One writer at a time, as in SQLite.** Every `transaction()` first takes a transaction-level
  advisory lock named after the schema, so a read-then-write (is this path reserved? then
  reserve it) is as atomic across machines as `BEGIN IMMEDIATE` is on one; the lock goes with
  the transaction, or with the connection of a process that dies. Claims do not depend on it:
  their key refuses a second claim by itself (claims.py).
- **Versioned schema, created on first use.** Under the same lock, in one transaction: the
  schema, its `schema_version` and each missing migration; a schema from a newer wtpool is
  refused, and so is a role that may not create it, each with a hint.
- **One connection per command**, opened on the first statement that needs it, so that
  commands that touch only local tables work while the server is down.
- **Errors are one line** naming the server with its password masked; a lost connection is
  reopened by the next transaction of a long-running process.

Parameters are written `?` by the query modules (protocol.py); here they become `%s`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from worktree_pool.errors import ExitCode, WtpoolError, first_line
from worktree_pool.store import hosts
from worktree_pool.store.hosts import HostIdentity
from worktree_pool.store.protocol import Cursor
from worktree_pool.store.shared_schema import MIGRATIONS
from worktree_pool.util.redact import mask

if TYPE_CHECKING:
    import psycopg

LOCK_NOT_AVAILABLE = "55P03"
INSUFFICIENT_PRIVILEGE = "42501"
CREDENTIALS = ("28P01", "28000")  # invalid_password, invalid_authorization_specification
# TCP keepalives, in seconds and probes: a silent peer is given up after about a minute.
KEEPALIVE_IDLE, KEEPALIVE_INTERVAL, KEEPALIVE_COUNT = 30, 10, 3


class ControlPlane:
    def __init__(
        self,
        conninfo: str,
        schema: str,
        lock_timeout: float,
        host: HostIdentity | None,
        host_ttl: float,
    ) -> None:
        self.conninfo = conninfo
        self.schema = schema
        self.lock_timeout = lock_timeout
        self.host = host
        self.host_ttl = host_ttl
        digest = hashlib.sha256(f"wtpool:{schema}".encode()).digest()
        self._lock_key = int.from_bytes(digest[:8], "big", signed=True)
        self._conn: psycopg.Connection[Any] | None = None
        self._locks: set[str] = set()  # session locks this process holds (try_lock)

    @contextmanager
    def transaction(self) -> Iterator[Adapted]:
        """One atomic change, holding the control plane's write lock until it commits."""
        with self._translated():
            conn = self._connection()
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._lock_key,))
                yield Adapted(conn)

    @contextmanager
    def snapshot(self) -> Iterator[Adapted]:
        """A consistent read that blocks no writer."""
        with self._translated():
            conn = self._connection()
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                yield Adapted(conn)

    def listen(self, name: str) -> None:
        """Be told of what the schema's triggers announce as `name` (shared_schema.py), from
        now on: `wait` returns when it happens."""
        from psycopg import sql  # not at the top: see _connection

        channel = sql.Identifier(f"{self.schema}_{name}")
        with self._translated():
            self._connection().execute(sql.SQL("LISTEN {}").format(channel))

    def wait(self, seconds: float) -> bool:
        """Whether something listened for was announced within `seconds`."""
        with self._translated():
            return any(True for _ in self._connection().notifies(timeout=seconds, stop_after=1))

    def try_lock(self, name: str) -> bool:
        """Take the session lock `name` if no session holds it: held until `unlock`, or until
        this process's connection ends, so that a process that dies gives it up."""
        with self._translated():
            row = (
                self._connection()
                .execute("SELECT pg_try_advisory_lock(%s) AS taken", (self._key(name),))
                .fetchone()
            )
        if row and row["taken"]:
            self._locks.add(name)
            return True
        return False

    def unlock(self, name: str) -> None:
        self._locks.discard(name)
        with self._translated():
            self._connection().execute("SELECT pg_advisory_unlock(%s)", (self._key(name),))

    def lock_held(self, name: str) -> bool:
        """Whether any session, of any host, holds the session lock `name`. pg_locks shows a
        bigint key as its high and low 32 bits."""
        key = self._key(name) & 0xFFFFFFFFFFFFFFFF
        with self._translated():
            row = (
                self._connection()
                .execute(
                    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND classid = %s AND objid = %s AND objsubid = 1 AND database ="
                    " (SELECT oid FROM pg_database WHERE datname = current_database())) AS held",
                    (key >> 32, key & 0xFFFFFFFF),
                )
                .fetchone()
            )
        return bool(row and row["held"])

    def _key(self, name: str) -> int:
        digest = hashlib.sha256(f"wtpool:{self.schema}:{name}".encode()).digest()
        return int.from_bytes(digest[:8], "big", signed=True)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> ControlPlane:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- connecting ---------------------------------------------------------------------

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is not None and not self._conn.closed:
            return self._conn
        if self._locks:
            # The session that held them is gone, and with it the locks: another process may
            # hold them by now, so this one must not go on as if it still did.
            lost = ", ".join(sorted(self._locks))
            self._locks.clear()
            raise WtpoolError(
                mask(
                    f"the connection to the control plane at {self.conninfo} was lost, and "
                    f"with it the lock on {lost}",
                    self.conninfo,
                ),
                "this process stops there; the next `wtpool queue --run` on any host settles "
                "what it left from git",
            )
        import psycopg  # not at the top: a local store never pays for the import
        from psycopg.rows import dict_row

        try:
            conn = psycopg.connect(
                self.conninfo,
                autocommit=True,
                connect_timeout=10,
                row_factory=dict_row,
                application_name="wtpool",
                # A host that vanishes (suspended, cut off) is noticed within about a minute,
                # by this side and, below, by the server, which then frees its locks.
                keepalives=1,
                keepalives_idle=KEEPALIVE_IDLE,
                keepalives_interval=KEEPALIVE_INTERVAL,
                keepalives_count=KEEPALIVE_COUNT,
            )
        except psycopg.OperationalError as exc:
            raise self._unreachable(exc) from exc
        except psycopg.ProgrammingError as exc:  # a malformed connection string
            raise WtpoolError(
                mask(f"invalid state.url {self.conninfo}: {first_line(exc)}", self.conninfo),
                "give a postgresql://USER@HOST:PORT/DATABASE URL, or key=value pairs",
                ExitCode.USAGE,
            ) from exc
        try:
            conn.execute(
                "SELECT set_config('lock_timeout', %s, false),"
                " set_config('tcp_keepalives_idle', %s, false),"
                " set_config('tcp_keepalives_interval', %s, false),"
                " set_config('tcp_keepalives_count', %s, false)",
                (
                    f"{int(self.lock_timeout * 1000)}ms",
                    str(KEEPALIVE_IDLE),
                    str(KEEPALIVE_INTERVAL),
                    str(KEEPALIVE_COUNT),
                ),
            )
            self._migrate(conn)
            conn.execute("SELECT set_config('search_path', %s, false)", (self.schema,))
            if self.host is not None:
                with conn.transaction():
                    hosts.register(Adapted(conn), self.host, self.host_ttl)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn

    def _migrate(self, conn: psycopg.Connection[Any]) -> None:
        from psycopg import sql

        # Most opens find the schema current: one read, and no lock.
        if self._version(conn) == len(MIGRATIONS):
            return
        schema = sql.Identifier(self.schema)
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._lock_key,))
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema))
            conn.execute("SELECT set_config('search_path', %s, true)", (self.schema,))
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = conn.execute("SELECT version FROM schema_version FOR UPDATE").fetchone()
            version = row["version"] if row else 0
            self._check_not_newer(version)
            if version == 0:
                self._check_empty(conn)
            for script in MIGRATIONS[version:]:  # whole: a function body holds semicolons
                conn.execute(script)  # type: ignore[call-overload]
            conn.execute("DELETE FROM schema_version")
            conn.execute("INSERT INTO schema_version VALUES (%s)", (len(MIGRATIONS),))

    def _version(self, conn: psycopg.Connection[Any]) -> int:
        table = f"{self.schema}.schema_version"
        found = conn.execute("SELECT to_regclass(%s) AS t", (table,)).fetchone()
        if found is None or found["t"] is None:
            return 0
        from psycopg import sql

        row = conn.execute(
            sql.SQL("SELECT version FROM {}.schema_version").format(sql.Identifier(self.schema))
        ).fetchone()
        version = row["version"] if row else 0
        self._check_not_newer(version)
        return int(version)

    def _check_empty(self, conn: psycopg.Connection[Any]) -> None:
        """A schema wtpool has not made yet must hold nothing: tables of someone else's would
        make the migration fail halfway, or worse, be written to."""
        found = conn.execute(
            "SELECT count(*) AS n FROM pg_tables WHERE schemaname = %s"
            " AND tablename <> 'schema_version'",
            (self.schema,),
        ).fetchone()
        if found is not None and found["n"]:
            raise WtpoolError(
                mask(
                    f"schema {self.schema} at {self.conninfo} holds tables, but is no wtpool "
                    "control plane",
                    self.conninfo,
                ),
                "name a schema of wtpool's own in state.schema",
                ExitCode.USAGE,
            )

    def _check_not_newer(self, version: int) -> None:
        if version > len(MIGRATIONS):
            raise WtpoolError(
                mask(
                    f"the control plane's schema {self.schema} at {self.conninfo} has version "
                    f"{version}, newer than this wtpool understands ({len(MIGRATIONS)})",
                    self.conninfo,
                ),
                "upgrade wtpool on this machine to the version the other machines run",
            )

    # --- errors -------------------------------------------------------------------------

    @contextmanager
    def _translated(self) -> Iterator[None]:
        import psycopg  # not at the top: see _connection

        try:
            yield
        except psycopg.Error as exc:
            if self._conn is not None and self._conn.closed:
                self._conn = None  # the next transaction connects again
            raise self._translate(exc) from exc

    def _translate(self, exc: BaseException) -> WtpoolError:
        import psycopg  # not at the top: see _connection

        sqlstate = getattr(exc, "sqlstate", None)
        where = mask(f"the control plane at {self.conninfo} (schema {self.schema})", self.conninfo)
        if sqlstate == LOCK_NOT_AVAILABLE:
            return WtpoolError(
                f"another wtpool process held {where} for over {self.lock_timeout:g} s",
                "try again, or raise timeouts.state_lock in wtpool.yaml",
            )
        if sqlstate == INSUFFICIENT_PRIVILEGE:
            return WtpoolError(
                mask(f"{where} refused: {first_line(exc)}", self.conninfo),
                f"the role in state.url needs CREATE on the database, or the schema "
                f"{self.schema} created for it by one that has (GRANT ALL ON SCHEMA)",
            )
        if isinstance(exc, psycopg.OperationalError):
            return self._unreachable(exc)
        return WtpoolError(mask(f"{where} refused: {first_line(exc)}", self.conninfo))

    def _unreachable(self, exc: BaseException) -> WtpoolError:
        return WtpoolError(
            mask(
                f"cannot reach the control plane at {self.conninfo}: {first_line(exc)}",
                self.conninfo,
            ),
            _hint_for(exc),
        )


def _hint_for(exc: BaseException) -> str:
    """What to look at, from libpq's words: a server refuses the URL's credentials or database
    the same way it refuses anything else, and a bad host or port fails before any server."""
    text = str(exc)
    if getattr(exc, "sqlstate", None) in CREDENTIALS or any(
        words in text for words in ("password authentication failed", 'role "')
    ):
        return "check the user and password in state.url (or WTPOOL_STATE_URL)"
    if 'database "' in text and "does not exist" in text:
        return "create that database on the server, or name one that exists in state.url"
    if any(words in text for words in ("resolve host", "translate host", "invalid", "sslmode")):
        return "check the host, port and options in state.url (or WTPOOL_STATE_URL)"
    return (
        "check that the server in state.url (or WTPOOL_STATE_URL) is running; commands on "
        "this machine's slots alone still work"
    )


class Adapted:
    """A psycopg connection as protocol.Connection: `?` placeholders, rows by name."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Cursor:
        cursor = self._conn.cursor()
        cursor.execute(_placeholders(sql), tuple(parameters))  # type: ignore[call-overload]
        return cursor  # type: ignore[return-value]

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Cursor:
        cursor = self._conn.cursor()
        cursor.executemany(_placeholders(sql), [tuple(p) for p in parameters])  # type: ignore[call-overload]
        return cursor  # type: ignore[return-value]


def _placeholders(sql: str) -> str:
    """The query modules' `?` as psycopg's `%s`; a literal `%` doubled. Their SQL never holds
    a `?` or `%` inside a string literal (tests/store/test_seam.py)."""
    return sql.replace("%", "%%").replace("?", "%s")

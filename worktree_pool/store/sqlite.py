"""The SQLite state store at `.agent-worktrees/state.db`.

It records intent (which slot is claimed by whom, which requests wait); git and the filesystem
remain the truth, and `wtpool doctor` reconciles the two. Many wtpool processes use the store at
once, so it runs in WAL mode with a busy timeout, and every change is one `BEGIN IMMEDIATE`
transaction: the write lock is taken up front, so two processes can never both read "slot 3 is
idle" and both claim it.

This is the one module that knows the store is SQLite: the connection and its pragmas, the
migrations runner, transactions, and turning SQLite's errors into WtpoolErrors. It implements
protocol.Store; the queries themselves live in the per-table modules beside it.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from worktree_pool.errors import WtpoolError
from worktree_pool.store import guard_facts
from worktree_pool.store.schema import MIGRATIONS
from worktree_pool.util.private import replace_private

STATE_FILE_MODE = 0o600
POOL_DIR_MODE = 0o700


class StateStore:
    def __init__(self, path: Path, busy_timeout: float) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self.guard_facts = guard_facts.facts_path(path)
        self._conn = self._connect()

    @classmethod
    def create(cls, path: Path, busy_timeout: float) -> StateStore:
        """Open the store, creating it (0600) if it does not exist yet."""
        fd = os.open(path, os.O_RDWR | os.O_CREAT, STATE_FILE_MODE)
        try:
            os.fchmod(fd, STATE_FILE_MODE)
        finally:
            os.close(fd)
        return cls(path, busy_timeout)

    def _connect(self) -> sqlite3.Connection:
        try:
            # isolation_level=None: we issue BEGIN ourselves, so Python's sqlite3 module never
            # opens a deferred transaction behind our back.
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            self._migrate(conn)
        except sqlite3.DatabaseError as exc:
            raise self._translate(exc) from exc
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        # Most opens find the schema current; checking that with a plain read keeps every
        # wtpool invocation from queueing for the write lock just to start up.
        if self._version(conn) == len(MIGRATIONS):
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = conn.execute("SELECT version FROM schema_version").fetchone()
            version = row[0] if row else 0
            self._check_not_newer(version)
            for script in MIGRATIONS[version:]:
                for statement in script.split(";"):
                    if statement.strip():
                        conn.execute(statement)
            if row is None:
                conn.execute("INSERT INTO schema_version VALUES (?)", (len(MIGRATIONS),))
            elif version != len(MIGRATIONS):
                conn.execute("UPDATE schema_version SET version = ?", (len(MIGRATIONS),))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _version(self, conn: sqlite3.Connection) -> int:
        try:
            row = conn.execute("SELECT version FROM schema_version").fetchone()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return 0
            raise
        version = row[0] if row else 0
        self._check_not_newer(version)
        return version

    def _check_not_newer(self, version: int) -> None:
        if version > len(MIGRATIONS):
            raise WtpoolError(
                f"state store {self.path} has schema version {version}, newer than this "
                f"wtpool understands ({len(MIGRATIONS)})",
                "upgrade wtpool",
            )

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic change: the write lock is held from the first read to the commit.

        The commit guard's facts (guard_facts.py) are withdrawn before anything changes and
        written again from what was committed, each under the lock."""
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.DatabaseError as exc:
            raise self._translate(exc) from exc
        try:
            try:
                self._withdraw_guard_facts()
                yield self._conn
            except sqlite3.DatabaseError as exc:
                self._conn.execute("ROLLBACK")
                raise self._translate(exc) from exc
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            try:
                self._conn.execute("COMMIT")
            except sqlite3.DatabaseError as exc:
                raise self._translate(exc) from exc
        finally:
            self._publish_guard_facts()

    def _withdraw_guard_facts(self) -> None:
        try:
            self.guard_facts.unlink(missing_ok=True)
        except OSError as exc:  # nothing may change while the shell guard trusts the file
            raise WtpoolError(
                f"state store {self.path} is read-only: {self.guard_facts.name} beside it "
                f"cannot be removed ({exc.strerror})",
                "give your user write access to the store's directory",
            ) from exc

    def _publish_guard_facts(self) -> None:
        """Write the guard's facts from the committed state, holding the write lock so that no
        change can slip in between the read and the write. Best effort, and never waiting: a
        writer that holds the lock publishes after its own commit, and missing facts only send
        commits to the Python guard."""
        conn = self._conn
        conn.execute("PRAGMA busy_timeout = 0")
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.DatabaseError:  # busy, or still inside a transaction that failed
            return
        else:
            try:
                replace_private(self.guard_facts, guard_facts.render(conn, time.time()))
            except (OSError, WtpoolError, sqlite3.DatabaseError):
                pass
            finally:
                conn.execute("ROLLBACK")
        finally:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A consistent read of several tables, without blocking writers (WAL)."""
        try:
            self._conn.execute("BEGIN")
        except sqlite3.DatabaseError as exc:
            raise self._translate(exc) from exc
        try:
            yield self._conn
        except sqlite3.DatabaseError as exc:
            raise self._translate(exc) from exc
        finally:
            self._conn.execute("ROLLBACK")

    def close(self) -> None:
        self._conn.close()

    # A command holds the store for its whole run and closes it on every way out:
    # `with open_store(repo) as store:`.
    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _translate(self, exc: sqlite3.DatabaseError) -> WtpoolError:
        text = str(exc)
        if "locked" in text or "busy" in text:
            return WtpoolError(
                f"another wtpool process held the state store for over {self.busy_timeout:g} s",
                "try again, or raise timeouts.state_lock in wtpool.yaml",
            )
        if "readonly" in text or "read-only" in text:
            return WtpoolError(
                f"state store {self.path} is read-only",
                "give your user write access to it and to its directory",
            )
        if isinstance(exc, sqlite3.OperationalError) and "unable to open" in text:
            return WtpoolError(
                f"cannot open state store {self.path}: {text}",
                "the store and its directory must be writable (not read-only, immutable, or "
                "on a read-only file system): wtpool writes beside it even to read",
            )
        return WtpoolError(
            f"state store {self.path} is corrupt: {text}",
            f"move it aside (mv {self.path} {self.path}.corrupt), then run `wtpool init`,"
            " which adopts the slots that exist on disk",
        )


@contextmanager
def read_only(path: Path, timeout: float) -> Iterator[sqlite3.Connection]:
    """A read-only connection that never writes and never waits for a writer (WAL readers
    do not block): for the commit guard. Errors are sqlite3.Error, left to the caller, since
    for the guard a missing or older store simply holds nothing."""
    conn = sqlite3.connect(path.as_uri() + "?mode=ro", uri=True, timeout=timeout)
    conn.row_factory = sqlite3.Row
    try:
        yield conn
    finally:
        conn.close()


# What a read_only connection's queries raise: for the guard, a missing or older store.
ReadError = sqlite3.Error

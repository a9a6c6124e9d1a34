"""The SQLite state store at `.agent-worktrees/state.db`.

It records intent (which slot is claimed by whom, which requests wait); git and the filesystem
remain the truth, and `wtpool doctor` reconciles the two. Many wtpool processes use the store at
once, so it runs in WAL mode with a busy timeout, and every change is one `BEGIN IMMEDIATE`
transaction: the write lock is taken up front, so two processes can never both read "slot 3 is
idle" and both claim it.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from worktree_pool.errors import WtpoolError

# Agent mail. It appears twice in MIGRATIONS, hence IF NOT EXISTS: see the last one.
MESSAGES_TABLE = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sender TEXT NOT NULL,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    thread TEXT NOT NULL,
    created_at TEXT NOT NULL,
    read_at TEXT,
    acked_at TEXT
);
CREATE INDEX IF NOT EXISTS messages_recipient ON messages (recipient, id);
"""

# Each entry upgrades the schema by one version; never edit one that has shipped.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE pool (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        min_slots INTEGER NOT NULL,
        max_slots INTEGER NOT NULL,
        base_branch TEXT NOT NULL,
        closing_pid INTEGER,
        created_at TEXT NOT NULL
    );
    CREATE TABLE slots (
        name TEXT PRIMARY KEY,
        number INTEGER NOT NULL UNIQUE,
        state TEXT NOT NULL
            CHECK (state IN ('preparing', 'idle', 'busy', 'releasing', 'removing')),
        branch TEXT,
        agent TEXT UNIQUE,
        task TEXT UNIQUE,
        owner_pid INTEGER,
        acquired_at TEXT,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE queue (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        agent TEXT NOT NULL UNIQUE,
        task TEXT UNIQUE,
        requested_at TEXT NOT NULL
    );
    """,
    # A slot's scope, and a queued request's: a JSON list of patterns, NULL for the whole tree.
    """
    ALTER TABLE slots ADD COLUMN scope TEXT;
    ALTER TABLE queue ADD COLUMN scope TEXT;
    """,
    # The track a spawned slot works on, and its agent process: the pid with the process's
    # create time, so a recycled pid is never taken for the agent. A queued spawn remembers
    # whether to start the agent when it gets its slot.
    """
    ALTER TABLE slots ADD COLUMN track TEXT;
    ALTER TABLE slots ADD COLUMN agent_pid INTEGER;
    ALTER TABLE slots ADD COLUMN agent_started REAL;
    ALTER TABLE queue ADD COLUMN track TEXT;
    ALTER TABLE queue ADD COLUMN launch INTEGER NOT NULL DEFAULT 0;
    """,
    # A random id for the pool, which marks the databases it creates as its own; and those
    # databases, so cleanup can find them even when a slot's record is gone.
    """
    ALTER TABLE pool ADD COLUMN pool_id TEXT;
    UPDATE pool SET pool_id = lower(hex(randomblob(8)));
    CREATE TABLE databases (
        name TEXT PRIMARY KEY,
        slot TEXT,
        kind TEXT NOT NULL CHECK (kind IN ('template', 'slot')),
        created_at TEXT NOT NULL
    );
    """,
    # The level each limit was at when last checked: an alert is written when it changes, so
    # a limit that stays crossed is reported once, not on every refresh of every monitor.
    """
    CREATE TABLE limit_levels (
        resource TEXT PRIMARY KEY,
        level TEXT NOT NULL CHECK (level IN ('ok', 'warning', 'critical')),
        since TEXT NOT NULL
    );
    """,
    # The newest sample taken by the daemon or a monitor, for `wtpool status` to show.
    """
    CREATE TABLE latest_sample (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        taken_at TEXT NOT NULL,
        levels TEXT NOT NULL
    );
    """,
    # File reservations: times are seconds since the epoch, so that "active" is one comparison
    # with the clock and expiry needs no one to run anything.
    """
    CREATE TABLE reservations (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        agent TEXT NOT NULL,
        patterns TEXT NOT NULL,
        rules TEXT NOT NULL,  -- the patterns compiled for the commit guard (stdlib only)
        exclusive INTEGER NOT NULL,
        reason TEXT,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        released_at REAL
    );
    CREATE INDEX reservations_active ON reservations (released_at, expires_at);
    """,
    MESSAGES_TABLE,
    # The merge queue, and the lock that lets one process at a time work through it. An
    # entry keeps the commit it was asked to land (`tip`) and, before the base moves, the
    # commit that will land it (`candidate`): after a crash, whether the base contains the
    # candidate says whether the landing happened.
    """
    CREATE TABLE merges (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        slot TEXT,
        agent TEXT,
        task TEXT,
        branch TEXT NOT NULL,
        tip TEXT NOT NULL,
        base TEXT NOT NULL,
        scope TEXT,
        priority INTEGER NOT NULL,
        depends_on TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN
            ('queued', 'merging', 'merged', 'conflict', 'rejected', 'failed-tests', 'failed')),
        release INTEGER NOT NULL DEFAULT 0,
        reason TEXT,
        paths TEXT NOT NULL DEFAULT '[]',
        output TEXT,
        candidate TEXT,
        previous TEXT,  -- the base the candidate was built to replace
        landed TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,  -- runs that ended in an error
        notes TEXT NOT NULL DEFAULT '[]',
        enqueued_at TEXT NOT NULL,
        finished_at TEXT
    );
    CREATE INDEX merges_state ON merges (state, priority, id);
    CREATE TABLE merge_processor (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        pid INTEGER NOT NULL,
        started REAL NOT NULL,
        since TEXT NOT NULL
    );
    """,
    # Pools made before the merge queue (up to 4376d08) had another migration where mail is
    # now, so their version skips it: this gives them the table, and is a no-op for the rest.
    MESSAGES_TABLE,
    # Whether a slot's database is a clone no agent has been given yet (hand_out_database).
    # Unknown, as for every slot of an older pool, means no: the next claim clones afresh.
    """
    ALTER TABLE slots ADD COLUMN database_fresh INTEGER NOT NULL DEFAULT 0;
    """,
    # Database names unique to the pool: the start of each of its names (NULL for a pool made
    # before, whose names start with the repository directory's name alone). And which records
    # were written just before their CREATE DATABASE, once the server showed the name free:
    # such a database is the pool's with or without its comment (a kill between CREATE and
    # COMMENT leaves none). Older records were written before that check, so they prove nothing.
    """
    ALTER TABLE pool ADD COLUMN database_prefix TEXT;
    ALTER TABLE databases ADD COLUMN intent INTEGER NOT NULL DEFAULT 0;
    """,
)

STATE_FILE_MODE = 0o600
POOL_DIR_MODE = 0o700


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# SQLite's INTEGER is a signed 64-bit number: a larger Python int cannot even be bound.
MAX_ROW_ID = 2**63 - 1


def is_row_id(value: int) -> bool:
    """Whether `value` can name a row: an id typed by a user is checked with this before it
    reaches SQL, where a number out of range raises OverflowError."""
    return 0 < value <= MAX_ROW_ID


class StateStore:
    def __init__(self, path: Path, busy_timeout: float) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
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
        """One atomic change: the write lock is held from the first read to the commit."""
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.DatabaseError as exc:
            raise self._translate(exc) from exc
        try:
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


@dataclass(frozen=True)
class LatestSample:
    """The newest sample's time and levels (limits.record_sample writes it): here, so that
    `status` reads it without loading the monitor's code."""

    taken_at: str
    levels: dict[str, str]  # resource -> level


def latest_sample(conn: sqlite3.Connection) -> LatestSample | None:
    row = conn.execute("SELECT taken_at, levels FROM latest_sample").fetchone()
    return None if row is None else LatestSample(row["taken_at"], json.loads(row["levels"]))

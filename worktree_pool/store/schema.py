"""The state store's schema: the migrations that build it, one version at a time.

Tables (see each migration for its columns and why they exist):
    pool            the one pool row: bounds, base branch, id, the cleanup closing it
    slots           one row per slot: its state (see slots.py), agent, task, scope, process
    queue           claim requests waiting for a slot, first come first served
    databases       the pool's ledger of the databases it creates (db.slots)
    limit_levels    each limit's level when last checked, so alerts fire on a change only
    latest_sample   the newest resource sample, for `wtpool status`
    reservations    file reservations (agents.reservations); where a control plane is
                    shared, a copy of its active ones, for the commit guard
    messages        agent mail
    merges          the merge queue; merge_processor, the lock of the process running it
                    (both shared where a control plane is: shared_schema.py)
    landed_tasks    every task the merge queue landed, and the commit that landed it
    pinned_scopes   scopes the user pinned to tasks (`wtpool tracks pin`)
    trusted_hooks   the repository's hooks the user trusted (`wtpool trust`), by digest
    claims          which slot of which pool holds each task (claims.py)
    audit_log       every reservation change and message sent (audit_log.py)
    hosts           empty: the hosts of a shared control plane live there (hosts.py)
    schema_version  how many of MIGRATIONS have run

SQLite's dialect is used freely here: a PostgreSQL backend brings its own schema.
"""

from __future__ import annotations

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
    # What wtpool knows of tasks beyond their source. Every task the merge queue landed, so that
    # readiness treats it as closed until the source says so (without bd installed nothing else
    # tells it); and the scopes a user pinned to tasks, which win over whatever the source or
    # inference would give.
    """
    CREATE TABLE landed_tasks (
        task TEXT PRIMARY KEY,
        commit_id TEXT,
        landed_at TEXT
    );
    CREATE TABLE pinned_scopes (
        task TEXT PRIMARY KEY,
        patterns TEXT NOT NULL,  -- a JSON list, as values.encode_scope writes it
        pinned_at TEXT
    );
    """,
    # Slots a setup hook failed in: why, and where its log is (NULL: in service). Such a slot
    # is never handed out until `wtpool refresh` runs its hooks again successfully. And the
    # repository's hooks the user accepted with `wtpool trust`, by their digest: a changed
    # hooks section has another digest, and is not run until trusted again.
    """
    ALTER TABLE slots ADD COLUMN out_of_service TEXT;
    CREATE TABLE trusted_hooks (
        digest TEXT PRIMARY KEY,
        hooks TEXT NOT NULL,  -- what was trusted, as JSON, to show
        trusted_at TEXT NOT NULL
    );
    """,
    # Which slot of which pool holds each task: one row per task, so that a second claim is
    # refused by the key (claims.py), here as in a shared control plane (shared_schema.py).
    # Tasks slots held before this version are claimed for them. `hosts` is written only in a
    # shared control plane; here it stays empty, so that claims.py's queries run on both. A
    # message's pool (its sender's, origin.py): where mail is shared, the host it came from.
    """
    CREATE TABLE claims (
        task TEXT PRIMARY KEY,
        pool_id TEXT NOT NULL,
        slot TEXT NOT NULL,
        agent TEXT,
        track TEXT,
        scope TEXT,  -- the slot's scope, as values.encode_scope writes it: for overlap checks
        claimed_at TEXT NOT NULL
    );
    CREATE INDEX claims_slot ON claims (pool_id, slot);
    CREATE TABLE hosts (id TEXT PRIMARY KEY, pool_id TEXT NOT NULL);  -- shared state only
    ALTER TABLE messages ADD COLUMN pool_id TEXT;
    INSERT INTO claims (task, pool_id, slot, agent, track, scope, claimed_at)
        SELECT task, coalesce((SELECT pool_id FROM pool), ''), name, agent, track, scope,
               coalesce(acquired_at, updated_at)
        FROM slots WHERE task IS NOT NULL;
    """,
    # The merge queue's entries, its processor and reservations carry their pool, as in a
    # shared control plane, where one host's processor may land another's entries: those whose
    # branch was pushed to merge.remote when they were queued (`pushed`); what follows such a
    # landing on the entry's own host (its slot released, its task closed) waits for it
    # (`follow_up`). Where reservations are shared, this table is the copy the commit guard
    # reads (split.py keeps it). The audit log, until now `.agent-worktrees/audit.jsonl`, is a
    # table, written in the transaction of the change it records, and shared like the rest.
    """
    ALTER TABLE merges ADD COLUMN pool_id TEXT;
    ALTER TABLE merges ADD COLUMN pushed INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE merges ADD COLUMN follow_up INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE merge_processor ADD COLUMN pool_id TEXT;
    UPDATE merges SET pool_id = coalesce((SELECT pool_id FROM pool), '');
    UPDATE merge_processor SET pool_id = coalesce((SELECT pool_id FROM pool), '');
    ALTER TABLE reservations ADD COLUMN pool_id TEXT;
    UPDATE reservations SET pool_id = coalesce((SELECT pool_id FROM pool), '');
    CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        event TEXT NOT NULL,
        details TEXT NOT NULL,  -- JSON
        pool_id TEXT
    );
    """,
)

"""The state store: what wtpool records about its pool, and every SQL statement it runs on it.

The store records intent (which slot is claimed by whom, which requests wait, which branches
queue to land); git and the filesystem remain the truth, and `wtpool doctor` reconciles the
two. Nothing outside this package runs SQL on it: components call named query functions
(`slots.find_slot(conn, agent=...)`, `queue.enqueue(conn, ...)`, `reservations.active(conn,
now)`), each inside the one transaction the caller opens with `store.transaction()` (a change,
holding the write lock from the first read to the commit) or `store.snapshot()` (a consistent
read). A query function never opens, commits or rolls back a transaction of its own.

The seam: callers hold a `protocol.Store` and pass around a `protocol.Connection`. The backend
is SQLite (`sqlite.StateStore`), and, where `state.url` names a control plane that several
machines share, `split.SplitStore`: this machine's SQLite store for what is local, PostgreSQL
(`postgres.ControlPlane`) for what is shared, each statement sent to the side whose tables it
names. No caller changes; tests/store/test_seam.py keeps SQL here.

What is shared, and why (shared_schema.py has the tables): what two machines must agree on to
not do the same work twice or undo each other's: which task each slot holds (claims), which
tasks landed, the scopes pinned to tasks, and who the hosts are. What stays local is what only
one machine can act on: its slots and their worktrees, its agent processes, its slot
databases, its resource samples, its queue of claim requests. Mail is shared too: an agent's
name is its address on every host; so are file reservations (a path held is held from every
host; each host keeps a copy of the active ones for its commit guard, which reads them on
every commit without a server), the merge queue (any host lands an entry whose branch was
pushed to the remote), and the audit log.

Modules:
    protocol.py    Store and Connection protocols, and the rules query modules follow
    sqlite.py      the SQLite backend: connection, pragmas, migrations runner, transactions,
                   error translation, the commit guard's read-only connection
    schema.py      MIGRATIONS, one schema version each, and what each table holds
    sql.py         the one keyword-to-SQL builder, with a column whitelist per table
    values.py      how values are stored: times, row ids, scopes
    slots.py       the slots table, the Slot record and its states
    queue.py       the queue table: claim requests waiting for a slot
    pool.py        the pool row: bounds, base, id, the cleanup closing it
    databases.py   the ledger of the databases the pool creates
    reservations.py file reservations as stored
    mail.py        agent mail as stored
    merges.py      the merge queue's entries and its processor lock
    audit_log.py   the audit log: every reservation change and message sent
    limits.py      each limit's last level, and the newest resource sample
    guard_facts.py who holds which slot and which paths, as a file the shell guard reads
    tasks.py       the landed-task ledger, and the scopes pinned to tasks
    trust.py       the digests of the repository hooks the user trusted
    claims.py      which slot of which pool holds each task: one row per task, never two
    hosts.py       the hosts of a shared control plane, and their heartbeats
    shared_schema.py  the control plane's tables on PostgreSQL, and which tables they are
    postgres.py    the control plane: connection, schema migrations, the write lock, errors
    split.py       a machine's local store and the control plane, behind one Store
    origin.py      which pool a row of a shared table comes from

Modules the commit guard imports (sqlite, slots, reservations and what they import) use the
standard library, store modules and util's standard-library modules only: the guard runs on
every commit.
"""

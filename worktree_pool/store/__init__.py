"""The state store, `.agent-worktrees/state.db`: what wtpool intends (which slot is claimed by
whom, which requests wait, what is queued to land), kept in SQLite.

Invariants: git and the filesystem are the truth and the store records intent (`wtpool doctor`
reconciles the two); many processes use it at once, so it runs in WAL mode with a busy timeout,
and every change is one `BEGIN IMMEDIATE` transaction that takes the write lock up front; its
files are private (0600); a store from a newer wtpool is refused, an older one migrated.

    sqlite.py  the store: opening, migrations, transactions and snapshots
    slots.py   the pool, slot and queue records, and the states a slot moves through
"""

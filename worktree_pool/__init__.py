"""wtpool: a pool of git worktrees for running several coding agents on one repository.

The library is layered, top to bottom; a module imports only from its own package or from
packages below it (import-linter checks it: `.venv/bin/lint-imports`, contracts in
pyproject.toml). Components return values and raise `WtpoolError`; only `cli/` prints.

    cli/        the `wtpool` command: typer, rendering (rich only here), the one error boundary
    coord/      verbs that span components: spawn, cleanup, doctor, leaks, report, watch, daemon
    merge/      the merge queue: entries, landing, the gate, integration without a checkout
    pool/       slots: create, claim, release, scale, hand off, salvage, repair git's records
    tasks/      the task graph, its sources, tracks, what spawn picks    (one layer with monitor/:
    monitor/    resource samples, disk usage, safety limits (no UI)       neither imports the other)
    agents/     agent processes and their runner, file reservations, mail, the audit log
    scope/      scope patterns, exact overlap, sparse views, hooks, the commit guard
    db/         PostgreSQL: the embedded server, per-slot databases cloned from a template
    store/      the state store behind one Protocol: every SQL statement it runs, per component
    git/        every git call, finding the repository, the base's ignore rules
    config/     settings (frozen dataclasses) and their YAML loader, byte sizes
    util/       names, bounded input, private files, redaction, JSON values, test points
    errors.py   `WtpoolError`, the one error type (message, hint, exit code)

Where this differs from the first sketch of the layers, and why: agents/ sits below tasks/ and
monitor/ (the monitor counts agents' processes), and scope/ below agents/ (reservations are scope
patterns checked for overlap); db/ sits above store/ (the pool's ledger of its databases is in
the store) and store/ above git/ (records carry the repository's paths); util/ sits below
config/, because the config loader checks scope patterns with util/pattern_syntax.py, the same
check every other entry point of a pattern uses.

Entry points sit outside the layers, run and never imported (a contract says so):
`__main__.py` (`python -m worktree_pool`), `guard.py` (slot hooks run `python -I -m
worktree_pool.guard`) and `agent_runner.py` (agents are found by that command line). Hooks and
agents started by any version of wtpool expect them at these paths: they stay here.
"""

__version__ = "0.1.0"

"""Verbs that span the whole pool: they call pool, merge, tasks, agents, monitor and db, and
nothing calls them but the CLI.

Invariants: cleanup, doctor and leaks never destroy work (what is unique to a slot goes to a
salvage branch first; a directory wtpool cannot vouch for is reported, never deleted); git and
the disk are the truth and the state store records intent, so doctor's repairs either complete
an interrupted step or undo it; doctor and leaks share one list of checks, not two.

    cleanup.py      `wtpool cleanup`: save every slot's work, remove the slots, close the pool
    consistency.py  doctor's own checks of the state against git and the disk, and their repairs
    control_plane.py  doctor's checks of task claims, and of hosts of a control plane gone silent
    daemon.py       `wtpool daemon`: the sampler in the background
    daemon_lock.py  one daemon per pool: its lock and pid file, and stopping it at cleanup
    doctor.py       `wtpool doctor`: consistency's checks, then every check of leaks
    fleet.py        `wtpool hosts`: the machines sharing this repository's control plane
    findings.py     what doctor and leaks find, the report that collects it, and its repair
    leaks.py        `wtpool leaks`: databases, worktrees and processes the pool left behind
    notify.py       `hooks.on_state_change`, run when an agent's state changes
    reaching.py     `wtpool attach`, `send` and `logs`: reaching agents in their slots
    report.py       `wtpool report`: one text to attach to a bug report, secrets masked
    spawn.py        `wtpool spawn` and `assign`: tracks become claimed slots with agents in them
    watch.py        `wtpool check` and `monitor`: assess the limits, tend the pool, build frames
    widening.py     `wtpool filter set|add` checked against other slots' scopes and reservations
"""

"""The commands, one module per group; each owns its typer app, and `cli/lazy.py` imports a
module only when one of its commands runs.

Invariants: a command parses, opens the repository and the store (`with open_store(repo) as
store:`, so no path leaves it open), calls one library function and renders its result; it
never orchestrates.

    pool.py     `init`
    status.py   `status`, alone so the command agents call most imports the least
    claims.py   `acquire`, `release`
    scale.py    `scale`
    cleanup.py  `cleanup`
    health.py   `doctor`, `report`, `leaks`
    filter.py   `filter show|set|add|clear|verify`
    tracks.py   `tracks analyze|recommend|conflicts`
    spawn.py    `spawn`, `assign`, `stop`
    merge.py    `merge`, `queue`
    db.py       `db list|url|reset`
    monitor.py  `check`, `monitor`
    reserve.py  `reserve`, `reservations`, `renew`, `unreserve`
    mail.py     `mail send|inbox|read|ack`
    daemon.py   `daemon start|stop|status`, and the `daemon run` the start detaches
    config.py   `config`
    demo.py     `demo`
    environment.py  `env`, `run`, `refresh`, `trust`
    agents.py   `attach`, `send`, `logs`
    fleet.py    `hosts`
"""

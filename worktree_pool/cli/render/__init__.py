"""What people read: tables, frames and messages built from library results with rich
on a terminal, and as plain text into a pipe.

Invariants: text wtpool did not write (a task title, a branch or file name, a message, a gate's
output) is shown escaped (`printable`, `escape`), so it never acts on the terminal; tables fit
80 columns, long values fold instead of widening them; JSON goes out through `print_json`.

    common.py   the console, tables, escaping and JSON output every view uses
    plain.py    the same markup and tables as plain text, for a pipe, without rich
    pool.py     `init`, `status`, `acquire`, `release`, `scale`, `filter` and `db`
    cleanup.py  `cleanup`, `doctor` and `leaks`
    agents.py   file reservations and mail
    config.py   `wtpool config`: the YAML in effect, headed by where it came from
    report.py   `wtpool report`: one text, each part as its own command shows it
    merges.py   what `merge` and `queue` print
    monitor.py  `wtpool check`'s table and the `wtpool monitor` frame, once or live
    tracks.py   what `tracks`, `spawn` and `stop` print
    environment.py  what `env`, `refresh` and `trust` print
    progress.py what long work shows while it runs: bars on stderr, after a second
    fleet.py    `wtpool hosts`: the hosts of a shared control plane
"""

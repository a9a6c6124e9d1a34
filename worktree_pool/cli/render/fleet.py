"""What `wtpool hosts` prints for a person."""

from __future__ import annotations

from typing import TYPE_CHECKING

from worktree_pool.cli.render.common import console, escape, table

if TYPE_CHECKING:
    from worktree_pool.coord.fleet import FleetReport


def show_fleet(report: FleetReport) -> None:
    if report.control_plane is None:
        console.print(
            "the state is local to this machine: no control plane is shared (see state.url)"
        )
        return
    console.print(f"control plane {escape(report.control_plane)}, schema {report.schema}")
    if not report.hosts:
        console.print("no hosts: none has used it since its last cleanup")
        return
    rows = table("host", "where", "heard from", "slots", "claims")
    for host in report.hosts:
        heard = f"{_duration(host.silent_for)} ago"
        if host.stale:
            heard = f"[red]{heard}: stale[/]"
        name = escape(host.id) + (" (this host)" if host.id == report.this_host else "")
        where = escape(f"{host.hostname}:{host.repository}")
        slots = f"{host.busy}/{host.slots} in use"
        rows.add_row(name, where, heard, slots, escape(" ".join(host.claims)) or "-")
    console.print(rows)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"

"""What `wtpool report` prints: one text for a bug report, each part as its own command shows
it (scripts use `--json`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from worktree_pool.cli.render.cleanup import show_leaks
from worktree_pool.cli.render.common import console, escape
from worktree_pool.cli.render.monitor import alert_line, show_check
from worktree_pool.cli.render.pool import show_status

if TYPE_CHECKING:
    from worktree_pool.coord.report import Report


def show_report(report: Report) -> None:
    """The whole report as text: a heading per part, each part as its command shows it."""
    console.print("# wtpool report")
    console.print("\n## versions")
    for name, value in report.versions.items():
        console.print(f"{escape(name)}: {escape(value)}")
    console.print("\n## environment")
    for name, value in report.environment.items() or [("(none)", "")]:
        console.print(f"{escape(name)} {escape(value)}".rstrip())
    console.print("\n## configuration")
    console.print(escape(report.config.rstrip(), lines=True), markup=True)
    parts: list[tuple[str, object, Callable[[Any], None]]] = [
        ("status", report.status, show_status),
        ("check", report.check, show_check),
        ("leaks", report.leaks, show_leaks),
    ]
    for name, value, show in parts:
        console.print(f"\n## {name}")
        if name in report.errors:
            console.print(f"error: {escape(report.errors[name])}")
        elif value is not None:
            show(value)
    console.print("\n## last alerts")
    for alert in report.alerts or []:
        console.print(alert_line(alert))
    if not report.alerts:
        console.print("(none)")

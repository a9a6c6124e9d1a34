"""What `merge` and `queue` print for a person (scripts use `--json`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from worktree_pool.cli.render.common import console, escape, printable, table
from worktree_pool.cli.render.tracks import scope_summary

if TYPE_CHECKING:
    from worktree_pool.merge.queue import EnqueueResult, QueueReport
    from worktree_pool.store.merges import MergeEntry

_COLOURS = {
    "merged": "green",
    "conflict": "red",
    "rejected": "red",
    "failed-tests": "red",
    "failed": "red",
}
SHOWN_PATHS = 20


def show_merge(result: EnqueueResult) -> None:
    entry = result.entry
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")
    if entry.state not in ("queued", "merging"):
        show_entry(entry)
        return
    verb = "updated" if result.already_queued else "queued"
    console.print(
        f"{verb} {escape(entry.branch)} at {entry.tip[:12]} (entry {entry.id}, "
        f"priority {entry.priority}) to land on {escape(entry.base)}"
    )
    console.print("  the queue runs in the background: `wtpool queue` shows how it goes")


def show_entry(entry: MergeEntry) -> None:
    """One settled entry, as `merge --wait` ends."""
    state = f"[{_COLOURS.get(entry.state, 'default')}]{entry.state}[/]"
    console.print(f"{escape(entry.branch)}: {state}")
    if entry.landed:
        console.print(f"  {escape(entry.base)} is now at {entry.landed[:12]}")
    if entry.reason:
        console.print(f"  {escape(entry.reason)}")
    for path in entry.paths[:SHOWN_PATHS]:
        console.print(f"    {escape(path)}")
    if len(entry.paths) > SHOWN_PATHS:
        console.print(f"    ... and {len(entry.paths) - SHOWN_PATHS} more")
    if entry.output:
        console.print("  the end of the gate's output:")
        console.print(printable(entry.output[-1500:], lines=True), markup=False)
    for note in entry.notes:
        console.print(f"  {escape(note)}")


def show_queue(report: QueueReport) -> None:
    if not report.entries:
        console.print("the merge queue is empty")
    else:
        # A shared queue holds every host's entries: each row says whose it is.
        shared = any(entry.host for entry in report.entries)
        headers = ("ID", "STATE", "BRANCH", "TASK", "PRI", "SCOPE", "RESULT")
        grid = table(*headers[:2], *(("HOST",) if shared else ()), *headers[2:])
        for entry in report.entries:
            colour = _COLOURS.get(entry.state, "default")
            result = entry.landed[:12] if entry.landed else entry.reason or ""
            host = (escape(entry.host or "?"),) if shared else ()
            grid.add_row(
                str(entry.id),
                f"[{colour}]{entry.state}[/]",
                *host,
                escape(entry.branch),
                escape(entry.task or ""),
                str(entry.priority),
                escape(scope_summary(entry.scope, 2)),
                escape(result),
            )
        console.print(grid)
    if report.processor is not None:
        on = f" on {escape(report.processor_host)}" if report.processor_host else ""
        console.print(f"being worked through by process {report.processor}{on}")
    elif report.ran is not None:
        console.print(f"landed or settled {report.ran} entr{'y' if report.ran == 1 else 'ies'}")

"""What `cleanup`, `doctor` and `leaks` print for a person (scripts use `--json`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from worktree_pool.cli.render.common import console, escape
from worktree_pool.cli.render.pool import show_others_stopped

if TYPE_CHECKING:
    from worktree_pool.coord.cleanup import CleanupResult
    from worktree_pool.coord.findings import DoctorReport


def show_cleanup(result: CleanupResult) -> None:
    if result.stopped_daemon:
        console.print("stopped the pool's daemon")
    for stopped in result.stopped_agents:
        if stopped.outcome in ("stopped", "killed"):
            console.print(f"stopped the agent in {stopped.slot} ({stopped.outcome})")
        show_others_stopped(stopped.slot, stopped.strays, stopped.spared)
    if result.stopped_unrecorded:
        pids = ", ".join(map(str, result.stopped_unrecorded))
        console.print(f"stopped process(es) {pids}: started by an agent no slot had recorded")
    for slot in result.slots:
        if not slot.removed:
            console.print(f"[red]kept {slot.name}: {escape(slot.error)}[/]")
            continue
        if slot.stale is not None:
            console.print(f"{slot.name}'s directory was gone: {escape(slot.stale.describe())}")
            continue
        if slot.salvage_branch and slot.work:
            console.print(
                f"saved {escape(slot.work.summary(result.base))} from {slot.name} "
                f"to branch [bold]{escape(slot.salvage_branch)}[/]"
            )
        elif slot.discarded and slot.work:
            files = sorted({*slot.work.staged, *slot.work.unstaged, *slot.work.untracked})
            console.print(f"[red]discarded from {slot.name}: {len(files)} changed path(s)[/]")
            for path in files:
                console.print(f"  {escape(path)}")
            for commit in slot.discarded_commits:
                console.print(f"  commit {escape(commit)}")
        if slot.work and slot.work.unmerged_commits and slot.branch and not slot.salvage_branch:
            console.print(
                f"{slot.name}'s {slot.work.unmerged_commits} commit(s) not in "
                f"{escape(result.base)} stay on branch {escape(slot.branch)}"
            )
        console.print(f"removed {slot.name}")
    for branch in result.deleted_branches:
        console.print(f"deleted merged branch {escape(branch)}")
    for database in result.dropped_databases:
        console.print(f"dropped database {escape(database)}")
    if result.released_reservations:
        console.print(f"released {len(result.released_reservations)} file reservation(s)")
    if result.stopped_server:
        console.print("stopped the pool's embedded PostgreSQL server")
    if result.database_error:
        console.print(
            f"[red]databases kept: {escape(result.database_error)}; run `wtpool cleanup` again[/]"
        )
    for path in result.left_alone:
        console.print(f"left alone {escape(path)}: wtpool did not create it")
    for warning in result.warnings:
        console.print(f"[yellow]warning: {escape(warning)}[/]")
    for agent in result.dropped_requests:
        console.print(f"dropped the queued request of agent {escape(agent)}")
    for branch in result.dropped_merges:
        console.print(f"dropped {escape(branch)} from the merge queue; the branch is kept")
    if not (
        result.slots
        or result.deleted_branches
        or result.dropped_databases
        or result.stopped_server
        or result.stopped_daemon
    ):
        console.print("nothing to clean up")


def show_doctor(
    report: DoctorReport, command: str = "doctor", nothing: str = "no problems"
) -> None:
    if not report.findings:
        console.print(f"{nothing} found")
        return
    for finding in report.findings:
        mark = (
            "[green]fixed[/]"
            if finding.fixed
            else "[blue]note[/]"
            if finding.informational
            else "[red]found[/]"
        )
        console.print(f"{mark} {finding.kind}: {escape(finding.detail)}")
        console.print(f"      repair: {escape(finding.repair)}")
    if not report.fix and not report.healthy:
        console.print(f"run `wtpool {command} --fix` to repair")


def show_leaks(report: DoctorReport) -> None:
    show_doctor(report, "leaks", "no leaks")

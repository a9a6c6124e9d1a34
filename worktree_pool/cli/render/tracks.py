"""What `tracks`, `spawn` and `stop` print for a person (scripts use `--json`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from worktree_pool.cli.render.common import console, escape, table

if TYPE_CHECKING:
    from worktree_pool.agents.stopping import StopResult
    from worktree_pool.coord.spawn import SpawnResult
    from worktree_pool.tasks.explaining import Explanation, Pin
    from worktree_pool.tasks.planning import Analysis, ConflictReport, Recommendation
    from worktree_pool.tasks.selection import Skip

# A real graph has hundreds of tracks; past this many lines, a summary says what was left out.
SHOWN = 20


def scope_summary(patterns: tuple[str, ...] | None, width: int = 3) -> str:
    if patterns is None:
        return "(whole tree)"
    shown = ", ".join(patterns[:width])
    return shown + (f" +{len(patterns) - width} more" if len(patterns) > width else "")


def _relative(path: str | None) -> str:
    """Slots live at <repo>/.agent-worktrees/<slot>; the short form keeps the table narrow."""
    if path is None:
        return ""
    parts = Path(path).parts
    return str(Path(*parts[-2:])) if len(parts) >= 2 else path


def _warnings(warnings: list[str]) -> None:
    for warning in warnings:
        console.print(f"[yellow]warning: {escape(warning)}[/]")


def _skipped(skipped: list[Skip]) -> None:
    for skip in skipped[:SHOWN]:
        console.print(f"  skipped {escape(skip.track)}: {escape(skip.reason)}")
    if len(skipped) > SHOWN:
        console.print(f"  ... and {len(skipped) - SHOWN} more skipped (see --json)")


def show_analysis(analysis: Analysis) -> None:
    console.print(
        f"{escape(analysis.source)}: {analysis.tasks} tasks, {analysis.ready} ready, "
        f"{len(analysis.tracks)} tracks of unfinished work"
    )
    if analysis.ready:
        share = analysis.ready_whole_tree / analysis.ready
        console.print(
            f"{analysis.ready_whole_tree} of the {analysis.ready} ready tasks ({share:.0%}) have "
            "the whole tree as scope; `wtpool tracks explain TASK` says why"
        )
    rows = table("track", "prio", "tasks", "ready", "scope", "scope from", "assigned")
    for track in analysis.tracks[:SHOWN]:
        rows.add_row(
            escape(track.id),
            str(track.priority),
            str(len(track.tasks)),
            escape(", ".join(track.ready[:3])) + (" ..." if len(track.ready) > 3 else ""),
            escape(track.scope_problem or scope_summary(track.patterns)),
            escape(", ".join(f"{n} {source}" for source, n in track.scope_sources.items())),
            escape(track.assigned_to or ""),
        )
    console.print(rows)
    if len(analysis.tracks) > SHOWN:
        console.print(f"... and {len(analysis.tracks) - SHOWN} more tracks (see --json)")
    for track in analysis.tracks[:SHOWN]:
        console.print(f"\n[bold]{escape(track.id)}[/]")
        for task in track.tasks:
            mark = escape(f"[{'ready' if task.ready else task.status}]")
            console.print(
                f"  {escape(task.id)} {mark} {escape(task.title)}  [dim]scope from "
                f"{escape(task.scope_source)}: {escape(scope_summary(task.patterns))}[/]"
            )
    if analysis.landed_not_closed:
        landed = analysis.landed_not_closed
        console.print(
            f"\n{len(landed)} landed, not yet closed in the source (treated as closed; close "
            "them there):"
        )
        for task in landed[:SHOWN]:
            console.print(
                f"  {escape(task.id)} {escape(task.title)}  [dim]landed as "
                f"{escape(task.commit[:12])}[/]"
            )
        if len(landed) > SHOWN:
            console.print(f"  ... and {len(landed) - SHOWN} more (see --json)")
    if analysis.dangling:
        console.print(f"\n{len(analysis.dangling)} dependencies on ids not in the graph:")
        for ref in analysis.dangling[:SHOWN]:
            console.print(
                f"  {escape(ref.task)} -> {escape(ref.target)} ({escape(ref.kind)}); blocks nothing"
            )
    _warnings(analysis.warnings)


def show_recommendation(result: Recommendation) -> None:
    if not result.picks:
        console.print("no track can be picked now")
    rows = table("track", "task", "prio", "scope")
    for pick in result.picks:
        rows.add_row(
            escape(pick.track),
            escape(pick.task),
            str(pick.priority),
            escape(scope_summary(pick.patterns)),
        )
    if result.picks:
        console.print(f"spawn {result.mode} would pick {len(result.picks)} track(s):")
        console.print(rows)
    _skipped(result.skipped)
    _warnings(result.warnings)


def show_conflicts(report: ConflictReport) -> None:
    if not report.conflicts:
        console.print(f"no two of the {report.tracks} tracks overlap")
    for conflict in report.conflicts[:SHOWN]:
        files = (
            f"{conflict.tracked_count} tracked file(s) in both, e.g. " + ", ".join(conflict.tracked)
            if conflict.tracked_count
            else "no tracked file in both yet"
        )
        console.print(
            f"{escape(conflict.first)} and {escape(conflict.second)} overlap at "
            f"{escape(conflict.example)}: "
            f"{escape(files)}"
        )
    if len(report.conflicts) > SHOWN:
        console.print(f"... and {len(report.conflicts) - SHOWN} more pairs (see --json)")
    _warnings(report.warnings)


def show_spawn(result: SpawnResult) -> None:
    verb = "would spawn" if result.dry_run else "spawned"
    if result.spawned:
        held = any(item.held_by for item in result.spawned)
        columns = ("slot", "task", "track", "branch", "scope", "agent", "path")
        rows = table(*columns, *(("held by others",) if held else ()))
        for item in result.spawned:
            cells = [
                item.slot or "-",
                escape(item.task),
                escape(item.track),
                escape(item.branch),
                escape(scope_summary(item.patterns)),
                f"pid {item.agent_pid}" if item.agent_pid else "",
                escape(_relative(item.path)),
            ]
            if held:  # who holds part of this slot's files exclusively: it cannot commit those
                cells.append(f"[yellow]{escape(', '.join(item.held_by))}[/]")
            rows.add_row(*cells)
        console.print(f"{verb} {len(result.spawned)} of {result.requested} ({result.mode}):")
        console.print(rows)
    for item in result.queued:
        why = f" because a limit is critical ({escape(item.held_back)})" if item.held_back else ""
        console.print(
            f"queued {escape(item.track)} (task {escape(item.task)}) as number {item.position} "
            f"in line{why}; it "
            "gets the next free slot, and its agent starts then"
        )
    if result.shortfall and (result.spawned or result.queued):
        console.print(f"not {result.requested}: {result.shortfall}")
    _skipped(result.skipped)
    _warnings(result.warnings)


def show_stop(results: list[StopResult]) -> None:
    if not results:
        console.print("no agent was started in this pool")
    for result in results:
        code = f", exit code {result.exit_code}" if result.exit_code is not None else ""
        pid = f" (process {result.pid})" if result.pid else ""
        console.print(f"{result.slot}: {result.outcome}{pid}{code}")


def show_explanation(explanation: Explanation) -> None:
    for task in explanation.tasks:
        sure = f", confidence {task.confidence:.2f}" if task.confidence is not None else ""
        console.print(f"[bold]{escape(task.id)}[/] {escape(task.title)}")
        console.print(
            f"  scope from {escape(task.source)}{sure}: {escape(', '.join(task.patterns))}"
        )
        for item in task.evidence[:SHOWN]:
            chose = scope_summary(item.patterns or item.paths)
            console.print(f"  - {escape(item.kind)}: {escape(item.detail)} -> {escape(chose)}")
        if len(task.evidence) > SHOWN:
            console.print(f"  ... and {len(task.evidence) - SHOWN} more (see --json)")
        for note in task.notes:
            console.print(f"  [yellow]note: {escape(note)}[/]")


def show_pin(pin: Pin) -> None:
    if pin.patterns:
        was = f" (was {', '.join(pin.replaced)})" if pin.replaced else ""
        console.print(
            f"pinned {escape(pin.task)} to {escape(', '.join(pin.patterns))}{escape(was)}"
        )
    else:
        console.print(f"unpinned {escape(pin.task)} (was {escape(', '.join(pin.replaced or ()))})")

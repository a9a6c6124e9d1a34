"""What the pool's commands print for a person: init, status, acquire, release, scale, its
databases and a slot's filter (scripts use `--json`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from worktree_pool.cli.render.common import console, escape, table

if TYPE_CHECKING:
    from worktree_pool.agents.activity import Activity
    from worktree_pool.agents.process import AgentProcess
    from worktree_pool.db.inventory import DatabaseInfo
    from worktree_pool.pool.claims import AcquireResult, ReleaseResult
    from worktree_pool.pool.lifecycle import InitResult
    from worktree_pool.pool.scaling import ScaleResult
    from worktree_pool.pool.status import StatusReport
    from worktree_pool.scope.filters import FilterReport, VerifyReport


def show_init(result: InitResult) -> None:
    console.print(
        f"pool at {escape(result.pool_dir)}: base [bold]{escape(result.base)}[/], "
        f"{result.min} to {result.max} slots"
    )
    if result.config_written:
        console.print(f"wrote the default configuration to {escape(result.config_written)}")
    if result.bounds_changed:
        console.print(f"bounds changed to {result.min}..{result.max}")
    for name in result.adopted:
        console.print(f"adopted existing worktree {name}")
    for stale in result.stale_records:
        console.print(f"{escape(stale.path)} was gone: {escape(stale.describe())}")
    if result.created:
        console.print(f"created {', '.join(result.created)}")
    elif not (result.adopted or result.bounds_changed or result.stale_records):
        console.print("nothing to do: the pool already exists")
    show_warnings(result.warnings)


def show_status(report: StatusReport) -> None:
    pool = report.pool
    console.print(
        f"[bold]{escape(pool.root)}[/]  base [bold]{escape(pool.base)}[/]  "
        f"slots {pool.size} (min {pool.min}, max {pool.max})  "
        f"waiting for a slot {len(report.queue)}"
        + (f"  host [bold]{escape(pool.host)}[/]" if pool.host else "")
    )
    if pool.closing_pid is not None:
        console.print(
            f"[red]closed: `wtpool cleanup` (process {pool.closing_pid}) is ending the session; "
            "if it was interrupted, run it again or `wtpool doctor --fix`[/]"
        )
    rows = table("slot", "state", "agent", "task", "branch", "head", "dirty", "process")
    for slot in report.worktrees:
        if slot.dirty is None:
            dirty = "not a worktree" if slot.present else "missing"
        else:
            dirty = "yes" if slot.dirty else ""
        rows.add_row(
            slot.name,
            "[red]out of service[/]" if slot.out_of_service else _state_style(slot.state),
            escape(slot.agent or ""),
            escape(slot.task or ""),
            escape(slot.branch or ("detached" if slot.head else "")),
            (slot.head or "")[:10],
            dirty,
            _process(slot.agent_process, slot.activity),
        )
    console.print(rows)
    for slot in report.worktrees:
        if slot.out_of_service:
            console.print(
                f"[red]{slot.name} is out of service: {escape(slot.out_of_service)}[/]; once "
                f"fixed, `wtpool refresh {slot.name}`"
            )
        if slot.env_file is not None and slot.env_file != report.pool.env_file:
            console.print(
                f"{slot.name}: the repository tracks {escape(report.pool.env_file)}, so the "
                f"slot's variables are in {escape(slot.env_file)}"
            )
    for position, request in enumerate(report.queue, start=1):
        task = f" for task {escape(request.task)}" if request.task else ""
        console.print(
            f"queued #{position}: agent {escape(request.agent)}{task} since {request.requested_at}"
        )
    if report.sample is not None:
        colours = {"ok": "green", "warning": "yellow", "critical": "red"}
        levels = ", ".join(
            f"{resource} [{colours.get(level, 'white')}]{level}[/]"
            for resource, level in report.sample.levels.items()
        )
        console.print(f"resources at {report.sample.taken_at}: {levels}")


def _process(process: AgentProcess | None, activity: Activity | None) -> str:
    if process is None or activity is None:
        return ""
    if process.state == "running":
        colour = "yellow" if activity.state == "waiting" else "green"
        return f"[{colour}]{activity.label}[/] {process.pid}"
    colour = "green" if activity.exit_code == 0 else "red"
    return f"[{colour}]{activity.label}[/]"


def _state_style(state: str) -> str:
    colour = {"idle": "green", "busy": "yellow"}.get(state, "red")
    return f"[{colour}]{state}[/]"


def show_acquire(result: AcquireResult) -> None:
    for warning in result.warnings if result.queued else ():
        console.print(f"[yellow]warning: {escape(warning)}[/]")
    if result.queued:
        again = " (already queued)" if result.already_held else ""
        why = (
            f"a limit is critical ({escape(result.held_back)})"
            if result.held_back
            else "the pool is at its maximum"
        )
        console.print(
            f"queued{again}: agent {escape(result.agent)} is number {result.queue_position} in "
            "line; "
            f"{why}. Run the same command again to check."
        )
        return
    how = (
        "already held"
        if result.already_held
        else "created and acquired"
        if result.created
        else "acquired"
    )
    console.print(f"{how} [bold]{result.slot}[/] for agent {escape(result.agent)}")
    console.print(f"  path:   {escape(result.path)}")
    console.print(f"  branch: {escape(result.branch)}" + (" (resumed)" if result.resumed else ""))
    if result.scope is not None:
        console.print(f"  scope:  {escape(', '.join(result.scope))}")
    for warning in result.warnings:
        console.print(f"[yellow]warning: {escape(warning)}[/]")


def show_release(result: ReleaseResult) -> None:
    if result.was_idle:
        console.print(f"{result.slot} was already idle")
        return
    console.print(
        f"released {result.slot}" + (f" from agent {escape(result.agent)}" if result.agent else "")
    )
    if result.salvage_branch:
        branch = escape(result.salvage_branch)
        console.print(f"  saved {escape(result.saved or '')} to branch [bold]{branch}[/]")
    if result.branch_kept:
        console.print(
            f"  kept branch {escape(result.branch_kept)}: it holds commits not yet merged"
        )
    if result.branch_deleted:
        console.print(
            f"  deleted branch {escape(result.branch_deleted)}: the base already contains it"
        )
    if result.handed_to:
        console.print(f"  handed {result.slot} to queued agent {escape(result.handed_to)}")
    if result.handoff_error:
        console.print(f"  [red]{escape(result.handoff_error)}[/]")
    show_others_stopped(result.slot, result.stopped_processes, result.spared_processes)
    show_warnings(result.warnings)


def show_warnings(warnings: list[str]) -> None:
    for warning in warnings:
        console.print(f"[yellow]warning: {escape(warning)}[/]")


def show_others_stopped(slot: str, strays: list[int], spared: list[int]) -> None:
    """The processes found in the slot besides its agent's: stopped, or left alone."""
    if strays:
        console.print(f"  stopped process(es) {', '.join(map(str, strays))}, which ran in {slot}")
    if spared:
        console.print(
            f"  [yellow]left alone process(es) {', '.join(map(str, spared))} in {slot}: each "
            "has a terminal or is another user's[/]"
        )


def show_scale(result: ScaleResult) -> None:
    if result.created:
        console.print(f"created {', '.join(result.created)}")
    if result.removed:
        console.print(f"removed {', '.join(result.removed)}")
    for kept in result.kept:
        console.print(f"kept {kept.name}: {escape(kept.reason)}")
    console.print(f"pool size {result.before} -> {result.after} (target {result.target})")
    show_warnings(result.warnings)


def show_databases(databases: list[DatabaseInfo]) -> None:
    if not databases:
        console.print("no databases yet: the first claim creates them")
        return
    rows = table("slot", "database", "size", "connections")
    for db in databases:
        size = f"{db.size_bytes / 1_048_576:.1f} MB"
        rows.add_row(db.slot or "(template)", escape(db.database), size, str(db.connections))
    console.print(rows)


def _show_build(report: VerifyReport) -> None:
    built = report.build
    if built is None:
        return
    command = escape(" ".join(built.command))
    if built.ok:
        console.print(f"{report.slot}: builds ({command}, {built.seconds:.1f} s)")
        return
    how = f"exit code {built.exit_code}" if built.exit_code is not None else "did not finish"
    console.print(f"[red]{report.slot}: does not build[/] ({command}: {how})")
    for line in built.output.splitlines():
        console.print(f"  {escape(line)}")


def show_filter(report: FilterReport) -> None:
    if report.patterns is None:
        console.print(f"{report.slot}: no scope; it shows and may commit every file")
    elif not report.patterns:
        console.print(f"{report.slot}: empty; it shows only the root's files, ready for a scope")
    else:
        scope = ", ".join(escape(p) for p in report.patterns) or "(empty)"
        always = ", ".join(escape(p) for p in report.always_include)
        console.print(f"{report.slot}: write scope {scope}")
        console.print(f"  always included: {always}")
        if report.view:
            console.print("  also in view, to build with (read-only unless marked):")
        for path in report.view:
            mark = " [green](writable lock file)[/]" if path.writable else ""
            console.print(f"    {escape(path.pattern)}{mark}  [dim]{escape(path.reason)}[/]")
        for problem in report.view_problems:
            console.print(f"  [yellow]build context: {escape(problem)}[/]")
    index = ", sparse index" if report.sparse_index else ""
    console.print(f"  mode: {report.mode}{index}")
    console.print(f"  visible files: {report.visible_files} of {report.tracked_files} tracked")
    if report.note:
        console.print(f"  [yellow]{escape(report.note)}[/]")
    for warning in report.warnings:
        console.print(f"[yellow]warning: {escape(warning)}[/]")


def show_verify(report: VerifyReport) -> None:
    _show_build(report)
    if not report.problems:
        console.print(f"{report.slot}: filter and guard are in place")
        return
    for problem in report.problems:
        mark = "[green]fixed[/]" if report.fixed else "[red]found[/]"
        console.print(f"{mark} {report.slot}: {escape(problem)}")
    if not report.fixed:
        console.print(f"run `wtpool filter verify --fix {report.slot}` to repair")

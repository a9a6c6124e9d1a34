"""Turning library results into what a person reads, or into JSON for scripts.

JSON is the dataclass itself: its fields, plus its derived properties (`complete`, `healthy`),
so scripts never have to recompute what the table shows.
"""

from __future__ import annotations

import json
import os
import re
import sys
from typing import TYPE_CHECKING, Any

from worktree_pool.util.jsonable import to_jsonable

if TYPE_CHECKING:
    from rich.table import Table

    from worktree_pool.agents.process import AgentProcess
    from worktree_pool.agents.reservations import Reservation, ReserveResult
    from worktree_pool.coord.cleanup import CleanupResult
    from worktree_pool.coord.daemon import DaemonStatus
    from worktree_pool.coord.findings import DoctorReport
    from worktree_pool.db.inventory import DatabaseInfo
    from worktree_pool.pool.claims import AcquireResult, ReleaseResult
    from worktree_pool.pool.lifecycle import InitResult, StatusReport
    from worktree_pool.pool.scaling import ScaleResult
    from worktree_pool.scope.filters import FilterReport, VerifyReport
    from worktree_pool.store.mail import Message


class _LazyConsole:
    """rich's Console, made on first use: `--json` output never needs rich, and importing it
    costs about 30 ms on every invocation of a CLI that agents call constantly."""

    def __init__(self) -> None:
        self._console: Any = None

    def print(self, *objects: Any, **options: Any) -> None:
        if self._console is None:
            from rich.console import Console

            # Piped output (logs, CI, an agent reading it) is not limited to 80 columns the way
            # rich assumes, and a table folded into a narrow column is hard to read or grep.
            piped = not sys.stdout.isatty() and "COLUMNS" not in os.environ
            self._console = Console(highlight=False, soft_wrap=True, width=120 if piped else None)
        # A guard for text a renderer forgot to pass through escape(): wtpool's own strings
        # hold no control character but the newline.
        shown = [printable(o, lines=True) if isinstance(o, str) else o for o in objects]
        self._console.print(*shown, **options)


console = _LazyConsole()


def table(*columns: str) -> Table:
    """A borderless table; columns fold rather than cut, since a cut-off branch or task name is
    of no use to anyone."""
    from rich.table import Table

    made = Table(box=None, header_style="bold", pad_edge=False)
    for column in columns:
        made.add_column(column, overflow="fold")
    return made


# What must never reach the terminal as it is: C0 and C1 control characters and DEL (an escape
# sequence can move the cursor, rewrite the screen or the window title; U+009B is a CSI on
# its own), the controls that reorder text on screen (bidi overrides), and lone surrogates
# (a file name that is not UTF-8, as Python decodes it).
_HIDDEN = "\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff"
_ONE_LINE = re.compile(f"[{_HIDDEN}]")
_LINES = re.compile(f"(?![\n\t])[{_HIDDEN}]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str, *, lines: bool = False) -> str:
    """Text from outside wtpool (a task file, a branch or file name, a message, a command's
    output) as the terminal may show it: each character in _HIDDEN is shown as an escape
    (`\\x1b`, `\\n`, `\\u202e`; a byte of a non-UTF-8 file name as `\\xff`), so it can
    neither act on the terminal nor start a line that looks like wtpool's. With `lines`,
    newlines and tabs are kept, for text that is shown as lines (a message body)."""
    return (_LINES if lines else _ONE_LINE).sub(_escaped, text)


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if char in _NAMED:
        return _NAMED[char]
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: the byte the file name holds
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape(text: str, *, lines: bool = False) -> str:
    """Text from outside wtpool, ready for rich: printable (see there), and its `[...]` shown
    rather than taken for markup. Every renderer passes such text through here."""
    from rich.markup import escape as escape_markup

    return escape_markup(printable(text, lines=lines))


def print_json(value: Any) -> None:
    print(json.dumps(to_jsonable(value), indent=2))


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


def show_status(report: StatusReport) -> None:
    pool = report.pool
    console.print(
        f"[bold]{escape(pool.root)}[/]  base [bold]{escape(pool.base)}[/]  "
        f"slots {pool.size} (min {pool.min}, max {pool.max})  queue {len(report.queue)}"
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
            _state_style(slot.state),
            escape(slot.agent or ""),
            escape(slot.task or ""),
            escape(slot.branch or ("detached" if slot.head else "")),
            (slot.head or "")[:10],
            dirty,
            _process(slot.agent_process),
        )
    console.print(rows)
    for slot in report.worktrees:
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


def _process(process: AgentProcess | None) -> str:
    if process is None:
        return ""
    if process.state == "running":
        return f"[green]running[/] {process.pid}"
    if process.state == "exited":
        colour = "green" if process.exit_code == 0 else "red"
        return f"[{colour}]exited {process.exit_code}[/]"
    return "[red]missing[/]"


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


def show_databases(databases: list[DatabaseInfo]) -> None:
    if not databases:
        console.print("no databases yet: the first claim creates them")
        return
    rows = table("slot", "database", "size", "connections")
    for db in databases:
        size = f"{db.size_bytes / 1_048_576:.1f} MB"
        rows.add_row(db.slot or "(template)", escape(db.database), size, str(db.connections))
    console.print(rows)


def show_filter(report: FilterReport) -> None:
    if report.patterns is None:
        console.print(f"{report.slot}: no scope; it shows and may commit every file")
    else:
        scope = ", ".join(escape(p) for p in report.patterns) or "(empty)"
        always = ", ".join(escape(p) for p in report.always_include)
        console.print(f"{report.slot}: scope {scope}")
        console.print(f"  always included: {always}")
    index = ", sparse index" if report.sparse_index else ""
    console.print(f"  mode: {report.mode}{index}")
    console.print(f"  visible files: {report.visible_files} of {report.tracked_files} tracked")
    if report.note:
        console.print(f"  [yellow]{escape(report.note)}[/]")
    for warning in report.warnings:
        console.print(f"[yellow]warning: {escape(warning)}[/]")


def show_verify(report: VerifyReport) -> None:
    if not report.problems:
        console.print(f"{report.slot}: filter and guard are in place")
        return
    for problem in report.problems:
        mark = "[green]fixed[/]" if report.fixed else "[red]found[/]"
        console.print(f"{mark} {report.slot}: {escape(problem)}")
    if not report.fixed:
        console.print(f"run `wtpool filter verify --fix {report.slot}` to repair")


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


def show_daemon(status: DaemonStatus) -> None:
    if status.running:
        console.print(f"the daemon runs: process {status.pid}, since {status.started_at}")
    else:
        console.print("the daemon is not running")
    if status.last_sample:
        console.print(f"  newest sample: {status.last_sample}")
    console.print(f"  log: {escape(status.log)}")


def show_reserve(result: ReserveResult) -> None:
    reservation = result.reservation
    kind = "exclusively" if reservation.exclusive else "shared"
    console.print(
        f"reserved #{reservation.id} for {escape(reservation.agent)} ({kind}) until "
        f"{reservation.expires_at}: {escape(', '.join(reservation.patterns))}"
    )
    for conflict in result.conflicts:
        console.print(
            f"[yellow]conflict ({result.mode}): {escape(conflict.holder.agent)} holds "
            f"{escape(', '.join(conflict.holder.patterns))} (#{conflict.holder.id}); both take "
            f"{escape(conflict.path)}[/]"
        )


def show_reservations(reservations: list[Reservation]) -> None:
    if not reservations:
        console.print("no reservations")
        return
    rows = table("id", "agent", "patterns", "kind", "expires", "state", "reason")
    for item in reservations:
        state = "active" if item.active else "released" if item.released_at else "expired"
        rows.add_row(
            str(item.id),
            escape(item.agent),
            escape(", ".join(item.patterns)),
            "exclusive" if item.exclusive else "shared",
            item.expires_at,
            state,
            escape(item.reason or ""),
        )
    console.print(rows)


def show_sent(message: Message) -> None:
    console.print(
        f"sent #{message.id} to {escape(message.recipient)} (thread {escape(message.thread)}): "
        f"{escape(message.subject)}"
    )


def show_inbox(messages: list[Message]) -> None:
    if not messages:
        console.print("no messages")
        return
    rows = table("id", "from", "subject", "thread", "sent", "state")
    for message in messages:
        state = "acked" if message.acked_at else "read" if message.read_at else "unread"
        rows.add_row(
            str(message.id),
            escape(message.sender),
            escape(message.subject),
            escape(message.thread),
            message.created_at,
            state,
        )
    console.print(rows)


def show_message(message: Message) -> None:
    console.print(f"#{message.id} from {escape(message.sender)} to {escape(message.recipient)}")
    console.print(f"subject: {escape(message.subject)}")
    console.print(f"thread:  {escape(message.thread)}   sent {message.created_at}")
    console.print()
    console.print(escape(message.body, lines=True), markup=True)

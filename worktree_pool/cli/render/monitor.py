"""What people see of the monitor: `wtpool check`'s table, and the frame `wtpool monitor` draws,
once (`--once`) or live until `q` or Ctrl-C, and `wtpool daemon`'s state.

A frame is built from an assessment (limits.py) and from per-slot facts that are remembered
between frames (slot_facts.py), so drawing one stays cheap on large repositories. Everything
fits 80 columns: long values fold instead of widening the table.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import termios
import threading
import time
import tty
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from worktree_pool.cli.render.common import console, escape, printable, rich_table, table
from worktree_pool.config.sizes import format_size
from worktree_pool.monitor.limits import Alert, Assessment, Finding, Level

if TYPE_CHECKING:
    from types import FrameType

    from rich.console import RenderableType

    from worktree_pool.coord.daemon import DaemonStatus
    from worktree_pool.coord.watch import Frame
    from worktree_pool.monitor.slot_facts import SlotFacts

_COLOURS = {Level.OK: "green", Level.WARNING: "yellow", Level.CRITICAL: "red"}
_GAUGE_WIDTH = 20


def show_check(assessment: Assessment) -> None:
    console.print(_limits_table(assessment.findings))
    if assessment.sample.database_error:
        console.print(f"[red]database: {escape(assessment.sample.database_error)}[/]")
    for alert in assessment.alerts:
        console.print(alert_line(alert))
    for finding in assessment.warnings + assessment.critical:
        console.print(f"[{_COLOURS[finding.level]}]{escape(finding.message)}[/]")
    for holder in assessment.port_conflicts:
        console.print(f"[yellow]{escape(holder.describe())}[/]")


def _limits_table(findings: list[Finding], make: Callable[..., Any] = table) -> Any:
    shown = make("resource", "level", "gauge", "detail")
    for finding in findings:
        colour = _COLOURS[finding.level]
        shown.add_row(
            finding.resource,
            f"[{colour}]{finding.level}[/]",
            _gauge(finding),
            escape(finding.detail),
        )
    return shown


def _gauge(finding: Finding) -> str:
    """A bar of the value against the critical level, coloured by the level it is at."""
    share = min(1.0, finding.value / finding.critical) if finding.critical > 0 else 0.0
    filled = round(share * _GAUGE_WIDTH)
    colour = _COLOURS[finding.level]
    return f"[{colour}]{'█' * filled}[/][dim]{'░' * (_GAUGE_WIDTH - filled)}[/]"


def alert_line(alert: Alert) -> str:
    colour = _COLOURS.get(Level(alert.level), "white")
    return (
        f"[dim]{_clock(alert.at)}[/] [{colour}]{alert.resource} {alert.previous} -> "
        f"{alert.level}[/]: {escape(alert.detail)}"
    )


def _clock(iso: str) -> str:
    """2026-11-22T19:16:10+00:00 as 2026-11-22 19:16:10Z: shorter, and still unambiguous."""
    return iso.replace("T", " ").removesuffix("+00:00") + ("Z" if iso.endswith("+00:00") else "")


def render_frame(frame: Frame) -> RenderableType:
    from rich.console import Group
    from rich.text import Text

    sample = frame.assessment.sample
    busy = sum(1 for slot in frame.slots if slot.agent_state)
    header = Text.from_markup(
        f"[bold]wtpool monitor[/]  {escape(frame.repository)}\n"
        f"[dim]{_clock(frame.refreshed_at)}  slots {len(frame.slots)} "
        f"(min {sample.pool.min}, max {sample.pool.max})  busy {busy}  "
        f"queued {len(frame.queue)}  q quits[/]"
    )
    parts: list[Any] = [
        header,
        _slots_table(frame.slots),
        _limits_table(frame.assessment.findings, rich_table),
    ]
    if sample.database_error:
        parts.append(Text.from_markup(f"[red]database: {escape(sample.database_error)}[/]"))
    parts += [
        Text.from_markup(f"[yellow]{escape(holder.describe())}[/]")
        for holder in frame.assessment.port_conflicts
    ]
    if frame.queue:
        parts.append(Text("queue: " + printable(", ".join(frame.queue))))
    if frame.queue_error:
        parts.append(Text.from_markup(f"[red]queue: {escape(frame.queue_error)}[/]"))
    parts += [Text.from_markup(f"[yellow]{escape(note)}[/]") for note in frame.notes]
    if frame.alerts:
        parts.append(Text.from_markup("[bold]last alerts[/]"))
        parts += [Text.from_markup(alert_line(alert)) for alert in frame.alerts]
    return Group(*parts)


def _slots_table(slots: list[SlotFacts]) -> Any:
    shown = rich_table("slot", "task", "agent", "branch", "+/-", "dirty", "disk", "db")
    for slot in slots:
        shown.add_row(
            slot.name.removeprefix("pool-"),
            escape(slot.task or ""),
            escape(slot.agent_state or ""),
            escape(slot.branch or "(idle)"),
            "" if slot.ahead is None else f"+{slot.ahead}/-{slot.behind}",
            "?" if slot.dirty is None else str(slot.dirty),
            "?" if slot.disk_bytes is None else format_size(slot.disk_bytes),
            "" if slot.db_connections is None else str(slot.db_connections),
        )
    return shown


def print_frame(frame: Frame) -> None:
    console.print(render_frame(frame), soft_wrap=False)  # wrapped, to fit 80 columns


def run_live(build: Callable[[], Frame], interval: float) -> None:
    """Redraw every `interval` seconds until `q` or Ctrl-C; the terminal is restored either
    way."""
    from rich.console import Console
    from rich.live import Live

    screen = Console()
    with (
        _interrupts() as interrupted,
        _keys() as pressed,
        Live(console=screen, screen=False, auto_refresh=False) as live,
        contextlib.suppress(KeyboardInterrupt),
    ):
        while True:
            live.update(render_frame(build()), refresh=True)
            if interrupted.is_set() or pressed(interval) in ("q", "Q"):
                return


@contextlib.contextmanager
def _interrupts() -> Iterator[threading.Event]:
    """Ctrl-C raises KeyboardInterrupt as usual, and is also remembered. Python drops an
    interrupt that lands in a finalizer (it prints "Exception ignored"), which would leave the
    loop drawing; remembered, it stops the loop after the frame. A handler of our own also
    receives the Ctrl-C that a shell without job control starts us ignoring."""
    interrupted = threading.Event()

    def on_interrupt(signum: int, frame: FrameType | None) -> None:
        interrupted.set()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield interrupted
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def _keys() -> Iterator[Callable[[float], str | None]]:
    """A way to wait up to some seconds for one key press, with the terminal in cbreak mode
    (keys arrive without Enter, and Ctrl-C still interrupts) and restored afterwards."""
    if not sys.stdin.isatty():
        yield lambda seconds: (time.sleep(seconds), None)[1]
        return
    descriptor = sys.stdin.fileno()
    saved = termios.tcgetattr(descriptor)
    try:
        tty.setcbreak(descriptor)

        def pressed(seconds: float) -> str | None:
            ready, _, _ = select.select([descriptor], [], [], seconds)
            return os.read(descriptor, 1).decode(errors="replace") if ready else None

        yield pressed
    finally:
        termios.tcsetattr(descriptor, termios.TCSADRAIN, saved)


def show_daemon(status: DaemonStatus) -> None:
    if status.running:
        console.print(f"the daemon runs: process {status.pid}, since {status.started_at}")
    else:
        console.print("the daemon is not running")
    if status.last_sample:
        console.print(f"  newest sample: {status.last_sample}")
    console.print(f"  log: {escape(status.log)}")

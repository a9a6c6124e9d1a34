"""The `wtpool` command: parse arguments, call one library function, render its result.

All failures end in `main()`: a `WtpoolError` or a usage error becomes one `error:` line (and a
`hint:` line) on stderr with exit code 1 or 2; anything unexpected becomes one line too, and only
`--debug` shows the traceback.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from worktree_pool import __version__
from worktree_pool.agents import stopping as agents
from worktree_pool.cli.render import common as render
from worktree_pool.config.display import for_display, render_config
from worktree_pool.config.settings import DATABASE_MODE_VARIABLE, Mode
from worktree_pool.coord import cleanup as coordinator
from worktree_pool.errors import ExitCode, WtpoolError, bad_input
from worktree_pool.git.repo import Repository, open_repository
from worktree_pool.pool import claims, scaling
from worktree_pool.pool import lifecycle as pool
from worktree_pool.scope import filters
from worktree_pool.store.sqlite import StateStore
from worktree_pool.util.inputs import read_text_bounded
from worktree_pool.util.names import validate_name
from worktree_pool.util.redact import mask

app = typer.Typer(
    name="wtpool",
    help="A pool of git worktrees so several coding agents can work on one repository.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

_options: dict[str, Path | None] = {"config": None}

JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
LenientOption = Annotated[
    bool,
    typer.Option("--lenient", help="Skip malformed lines of the task file with a warning."),
]
ModeArgument = Annotated[
    Mode,
    typer.Argument(
        help="independent: only tracks whose scopes overlap nothing in use; all: any ready track."
    ),
]


def _version(value: bool) -> None:
    if value:
        print(f"wtpool {__version__}")
        raise typer.Exit()


@app.callback()
def _global_options(
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Config file to use instead of <repo>/wtpool.yaml."),
    ] = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show a traceback when something fails.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    # --debug is read straight from argv by main(), which must know it even when parsing fails.
    _options["config"] = config


def _repository() -> Repository:
    try:
        cwd = Path.cwd()
    except FileNotFoundError as exc:
        raise WtpoolError(
            "the current directory no longer exists", "cd to your repository and try again"
        ) from exc
    return open_repository(cwd, _options["config"])


def _store(repo: Repository) -> StateStore:
    return pool.open_store(repo)


def _emit(result: Any, as_json: bool, show: Callable[[Any], None]) -> None:
    render.print_json(result) if as_json else show(result)


@app.command()
def init(
    minimum: Annotated[int | None, typer.Option("--min", help="Fewest slots (default 3).")] = None,
    maximum: Annotated[int | None, typer.Option("--max", help="Most slots (default 10).")] = None,
    base: Annotated[
        str | None, typer.Option("--base", help="Base branch (default: the current branch).")
    ] = None,
    json: JsonOption = False,
) -> None:
    """Create the pool in this repository, or top it up to its minimum. Safe to rerun."""
    _emit(pool.init_pool(_repository(), minimum, maximum, base), json, render.show_init)


@app.command()
def status(json: JsonOption = False) -> None:
    """Show the pool, every slot and the queue."""
    repo = _repository()
    _emit(pool.pool_status(repo, _store(repo)), json, render.show_status)


@app.command()
def acquire(
    agent: Annotated[str, typer.Option("--agent", help="Name of the agent taking the slot.")],
    task: Annotated[str | None, typer.Option("--task", help="Task the agent works on.")] = None,
    scope: Annotated[
        list[str] | None,
        typer.Option("--scope", help="Pattern the slot shows and may commit (repeatable)."),
    ] = None,
    adhoc: Annotated[
        bool, typer.Option("--adhoc", help="Allow a --task that is in no task source.")
    ] = False,
    json: JsonOption = False,
) -> None:
    """Give an agent a slot: an idle one, a new one below max, or a place in the queue."""
    repo = _repository()
    patterns = tuple(scope) if scope else None
    claim = claims.acquire(repo, _store(repo), agent, task, patterns, adhoc=adhoc)
    _emit(claim, json, render.show_acquire)


@app.command()
def release(
    slot: Annotated[
        str | None, typer.Argument(help="Slot to release (default: the slot you are in).")
    ] = None,
    json: JsonOption = False,
) -> None:
    """Take a slot back: save unique work, reset it to the base, hand it to the queue."""
    repo = _repository()
    _emit(claims.release(repo, _store(repo), slot), json, render.show_release)


@app.command()
def merge(
    target: Annotated[
        str | None,
        typer.Argument(help="Slot or task whose branch to land (default: the slot you are in)."),
    ] = None,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            help="Land it in this process, or wait while another does; exit 1 unless merged.",
        ),
    ] = False,
    release: Annotated[
        bool, typer.Option("--release", help="Release the slot once its branch has landed.")
    ] = False,
    priority: Annotated[
        int | None,
        typer.Option("--priority", help="0 (most urgent) to 4; default: the task's priority."),
    ] = None,
    json: JsonOption = False,
) -> int:
    """Queue a finished branch to land on the base; the queue never loses a commit."""
    import dataclasses

    from worktree_pool.cli.render import merges as render_merges
    from worktree_pool.merge import landing  # only merges need them
    from worktree_pool.merge import queue as merge_queue

    repo = _repository()
    store = _store(repo)
    queued = merge_queue.enqueue(repo, store, target, release=release, priority=priority)
    if not wait:
        merge_queue.start_background_run(repo)
        _emit(queued, json, render_merges.show_merge)
        return ExitCode.OK
    entry = merge_queue.wait_until_settled(
        store, queued.entry.id, lambda: landing.run_queue(repo, store) is not None
    )
    _emit(dataclasses.replace(queued, entry=entry), json, render_merges.show_merge)
    return ExitCode.OK if entry.state == merge_queue.MergeState.MERGED else ExitCode.FAILED


@app.command()
def queue(
    run: Annotated[
        bool,
        typer.Option("--run", help="Work through the queue in this process until it is empty."),
    ] = False,
    json: JsonOption = False,
) -> None:
    """The merge queue's entries and their states."""
    from worktree_pool.cli.render import merges as render_merges
    from worktree_pool.merge import landing
    from worktree_pool.merge import queue as merge_queue

    repo = _repository()
    store = _store(repo)
    ran = landing.run_queue(repo, store) if run else None
    report = merge_queue.QueueReport(
        merge_queue.list_entries(store),
        merge_queue.processor(store),
        None if ran is None else len(ran.processed),
    )
    _emit(report, json, render_merges.show_queue)


filter_app = typer.Typer(
    help="Show or change what a slot shows and may commit (its scope).", no_args_is_help=True
)
app.add_typer(filter_app, name="filter")

SlotArgument = Annotated[
    str | None, typer.Argument(help="The slot (default: the slot you are in).")
]
PatternsArgument = Annotated[
    list[str], typer.Argument(help="gitignore-style patterns, relative to the repository root.")
]


@filter_app.command("show")
def filter_show(slot: SlotArgument = None, json: JsonOption = False) -> None:
    """The slot's patterns, mode, and visible against tracked files."""
    repo = _repository()
    report = filters.show_filter(repo, _store(repo), _slot(repo, slot))
    _emit(report, json, render.show_filter)


@filter_app.command("set")
def filter_set(slot: str, patterns: PatternsArgument, json: JsonOption = False) -> None:
    """Replace the slot's scope with these patterns."""
    repo = _repository()
    report = filters.set_filter(repo, _store(repo), validate_name("slot", slot), patterns)
    _emit(report, json, render.show_filter)


@filter_app.command("add")
def filter_add(slot: str, patterns: PatternsArgument, json: JsonOption = False) -> None:
    """Widen the slot's scope with these patterns."""
    repo = _repository()
    name = validate_name("slot", slot)
    report = filters.set_filter(repo, _store(repo), name, patterns, add=True)
    _emit(report, json, render.show_filter)


@filter_app.command("clear")
def filter_clear(slot: SlotArgument = None, json: JsonOption = False) -> None:
    """Remove the slot's scope: it shows, and may commit, every file."""
    repo = _repository()
    report = filters.clear_filter(repo, _store(repo), _slot(repo, slot))
    _emit(report, json, render.show_filter)


@filter_app.command("verify")
def filter_verify(
    slot: SlotArgument = None,
    fix: Annotated[bool, typer.Option("--fix", help="Re-apply the filter and guard.")] = False,
    json: JsonOption = False,
) -> int:
    """Check that git still applies the slot's scope and guard; exit 1 if not (unless fixed)."""
    repo = _repository()
    report = filters.verify_filter(repo, _store(repo), _slot(repo, slot), fix=fix)
    _emit(report, json, render.show_verify)
    return ExitCode.OK if report.healthy else ExitCode.FAILED


def _slot(repo: Repository, name: str | None) -> str:
    return claims.slot_argument(repo, name)


tracks_app = typer.Typer(
    help="Read the task graph: its independent tracks, what spawn would pick, and overlaps.",
    no_args_is_help=True,
)
app.add_typer(tracks_app, name="tracks")


@tracks_app.command("analyze")
def tracks_analyze(json: JsonOption = False, lenient: LenientOption = False) -> None:
    """Each track's tasks, readiness and scope (and where it came from), and dangling ids."""
    from worktree_pool.cli.render import tracks as render_tracks
    from worktree_pool.tasks import planning  # only these commands need them

    repo = _repository()
    analysis = planning.analyze(repo, pool.open_store_if_any(repo), lenient)
    _emit(analysis, json, render_tracks.show_analysis)


@tracks_app.command("recommend")
def tracks_recommend(
    count: Annotated[
        int | None, typer.Argument(help="How many tracks (default: as many as possible).")
    ] = None,
    mode: ModeArgument = Mode.INDEPENDENT,
    json: JsonOption = False,
    lenient: LenientOption = False,
) -> None:
    """The tracks `wtpool spawn` would pick now, and why the others would be skipped."""
    from worktree_pool.cli.render import tracks as render_tracks
    from worktree_pool.tasks import planning  # only these commands need them

    if count is not None and count < 1:
        raise bad_input(f"count must be at least 1, got {count}")
    repo = _repository()
    result = planning.recommend(repo, pool.open_store_if_any(repo), count, mode, lenient)
    _emit(result, json, render_tracks.show_recommendation)


@tracks_app.command("conflicts")
def tracks_conflicts(json: JsonOption = False, lenient: LenientOption = False) -> None:
    """Pairs of tracks whose scopes overlap, with a path and the tracked files both match."""
    from worktree_pool.cli.render import tracks as render_tracks
    from worktree_pool.tasks import planning  # only these commands need them

    _emit(planning.find_conflicts(_repository(), lenient), json, render_tracks.show_conflicts)


@app.command()
def spawn(
    count: Annotated[int, typer.Argument(help="How many tracks to start (1-64).")],
    mode: ModeArgument = Mode.INDEPENDENT,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be spawned; change nothing.")
    ] = False,
    json: JsonOption = False,
    lenient: LenientOption = False,
) -> int:
    """Give up to COUNT ready tracks a slot each: branch, scope, guard, brief, and agent."""
    from worktree_pool.cli.render import tracks as render_tracks  # only these commands need them
    from worktree_pool.coord import spawn as spawning

    repo = _repository()
    result = spawning.spawn(repo, _store(repo), count, mode, dry_run=dry_run, lenient=lenient)
    _emit(result, json, render_tracks.show_spawn)
    if result.spawned or result.queued:
        return ExitCode.OK
    return _fail(
        f"nothing to spawn: {result.shortfall}",
        "`wtpool tracks recommend` shows each track's reason; `spawn N all` ignores overlap",
        ExitCode.FAILED,
    )


@app.command()
def assign(
    agent: Annotated[str, typer.Argument(help="Name of the agent.")],
    task: Annotated[str, typer.Argument(help="The task it starts on; it gets the whole track.")],
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Assign even if the task is not ready, or the track is taken or overlaps.",
        ),
    ] = False,
    json: JsonOption = False,
    lenient: LenientOption = False,
) -> None:
    """Put a named agent on the track of a task, in a slot of its own."""
    from worktree_pool.coord import spawn as spawning  # only these commands need them

    repo = _repository()
    result = spawning.assign(repo, _store(repo), agent, task, force=force, lenient=lenient)
    _emit(result, json, render.show_acquire)


@app.command()
def stop(
    slot: Annotated[str | None, typer.Argument(help="The slot whose agent to stop.")] = None,
    every: Annotated[bool, typer.Option("--all", help="Stop every slot's agent.")] = False,
    json: JsonOption = False,
) -> None:
    """Stop an agent spawn started: SIGTERM to all its processes, SIGKILL after agent.stop_grace."""
    from worktree_pool.cli.render import tracks as render_tracks  # only these commands need them

    if (slot is None) == (not every):
        raise bad_input("name one slot, or pass --all", "e.g. `wtpool stop pool-wt-1`")
    repo = _repository()
    name = validate_name("slot", slot) if slot is not None else None
    _emit(agents.stop_agents(repo, _store(repo), name), json, render_tracks.show_stop)


db_app = typer.Typer(help="Each slot's PostgreSQL database.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("list")
def db_list(json: JsonOption = False) -> None:
    """The pool's databases: slot, database, size and connections."""
    from worktree_pool.db import slots as slot_databases

    repo = _repository()
    _emit(slot_databases.list_databases(repo, _store(repo)), json, render.show_databases)


@db_app.command("url")
def db_url(
    slot: Annotated[str, typer.Argument(help="The slot.")],
    reveal: Annotated[
        bool, typer.Option("--reveal", help="Print the password instead of ***.")
    ] = False,
) -> None:
    """The slot's DATABASE_URL."""
    from worktree_pool.db import slots as slot_databases

    repo = _repository()
    url = slot_databases.database_url(repo, _store(repo), validate_name("slot", slot))
    # A URL may come from the repository's wtpool.yaml: shown, never acted on by the terminal.
    print(render.printable(url if reveal else mask(url)))


@db_app.command("reset")
def db_reset(slot: Annotated[str, typer.Argument(help="The slot.")]) -> None:
    """Drop the slot's database and clone it again from the template."""
    from worktree_pool.db import slots as slot_databases

    repo = _repository()
    url = slot_databases.reset_database(repo, _store(repo), validate_name("slot", slot))
    print(f"{slot}: a fresh clone of the template at {render.printable(mask(url))}")


class Direction(StrEnum):
    UP = "up"
    DOWN = "down"


@app.command()
def scale(
    direction: Annotated[Direction | None, typer.Argument(help="up or down.")] = None,
    by: Annotated[int | None, typer.Option("--by", help="Slots to add or remove (1).")] = None,
    to: Annotated[int | None, typer.Option("--to", help="Target number of slots.")] = None,
    json: JsonOption = False,
) -> None:
    """Grow or shrink the pool within its bounds; only idle, clean slots are removed."""
    if (direction is None) == (to is None):
        raise bad_input("use either `scale up|down [--by K]` or `scale --to N`")
    if by is not None and direction is None:
        raise bad_input("--by goes with `scale up` or `scale down`")
    step = by if by is not None else 1
    repo = _repository()
    result = scaling.scale_pool(
        repo,
        _store(repo),
        up=step if direction == Direction.UP else None,
        down=step if direction == Direction.DOWN else None,
        to=to,
    )
    _emit(result, json, render.show_scale)


@app.command()
def cleanup(
    force: Annotated[
        bool, typer.Option("--force", help="Do not save unique work; list what is discarded.")
    ] = False,
    json: JsonOption = False,
) -> int:
    """End the session: save unique work to salvage branches, then remove every slot."""
    result = coordinator.cleanup(_repository(), force=force)
    _emit(result, json, render.show_cleanup)
    return ExitCode.OK if result.complete else ExitCode.FAILED


@app.command()
def doctor(
    fix: Annotated[bool, typer.Option("--fix", help="Repair what is found.")] = False,
    json: JsonOption = False,
) -> int:
    """Compare the state with git and the disk; exit 1 while problems remain."""
    from worktree_pool.coord import doctor as health  # only this command needs it (and merge)

    report = health.doctor(_repository(), fix=fix)
    _emit(report, json, render.show_doctor)
    return ExitCode.OK if report.healthy else ExitCode.FAILED


@app.command()
def check(
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 1 on warnings too, not only on critical.")
    ] = False,
    json: JsonOption = False,
) -> int:
    """Take one sample of the resources against the limits; exit 1 when one is critical."""
    from worktree_pool.cli.render import (
        monitor as dashboard,  # only the monitor's commands need them
    )
    from worktree_pool.monitor import limits

    repo = _repository()
    assessment = limits.assess(repo, _store(repo))
    _emit(assessment, json, dashboard.show_check)
    # A server that cannot be asked is as bad as a full one: nothing says it has room.
    failing = assessment.critical or assessment.sample.database_error
    return ExitCode.FAILED if failing or (strict and assessment.warnings) else ExitCode.OK


@app.command()
def monitor(
    interval: Annotated[
        float | None,
        typer.Option(
            "--interval",
            help="Seconds between refreshes (default monitor.interval).",
            min=0.1,
            max=1e9,  # as monitor.interval: a wait past what the clock can count is no wait
        ),
    ] = None,
    once: Annotated[bool, typer.Option("--once", help="Print one frame and exit.")] = False,
    json: JsonOption = False,
) -> None:
    """The live dashboard of the pool and its resources; q or Ctrl-C quits."""
    from worktree_pool.cli.render import (
        monitor as dashboard,  # only the monitor's commands need them
    )
    from worktree_pool.coord import watch as monitoring

    repo = _repository()
    watcher = monitoring.Monitor(repo, _store(repo), background=not (once or json))
    if json:
        render.print_json(watcher.frame())
    elif once:
        dashboard.print_frame(watcher.frame())
    else:
        dashboard.run_live(watcher.frame, interval or repo.config.monitor.interval)


@app.command()
def reserve(
    agent: Annotated[str, typer.Argument(help="The agent taking the files.")],
    patterns: Annotated[list[str], typer.Argument(help="Patterns of the files (git's syntax).")],
    ttl: Annotated[
        float | None, typer.Option("--ttl", help="Seconds it lasts (reservations.ttl).")
    ] = None,
    shared: Annotated[
        bool, typer.Option("--shared", help="Shared: only exclusive holders conflict.")
    ] = False,
    reason: Annotated[str | None, typer.Option("--reason", help="Why, for the others.")] = None,
    json: JsonOption = False,
) -> None:
    """Reserve files for an agent; refused (enforce mode) if another agent holds them."""
    from worktree_pool.agents import reservations

    repo = _repository()
    result = reservations.reserve(
        repo, _store(repo), agent, tuple(patterns), ttl=ttl, shared=shared, reason=reason
    )
    _emit(result, json, render.show_reserve)


@app.command("reservations")
def reservations_command(
    all_: Annotated[bool, typer.Option("--all", help="Released and expired ones too.")] = False,
    json: JsonOption = False,
) -> None:
    """The active reservations: agent, patterns, kind, expiry."""
    from worktree_pool.agents import reservations

    repo = _repository()
    found = reservations.list_reservations(repo, _store(repo), include_inactive=all_)
    _emit(found, json, render.show_reservations)


@app.command()
def renew(
    agent: Annotated[str, typer.Argument(help="The agent whose reservations to extend.")],
    by: Annotated[
        float | None, typer.Option("--by", help="Seconds from now (reservations.ttl).")
    ] = None,
    json: JsonOption = False,
) -> None:
    """Extend an agent's active reservations."""
    from worktree_pool.agents import reservations

    repo = _repository()
    _emit(reservations.renew(repo, _store(repo), agent, by), json, render.show_reservations)


@app.command()
def unreserve(
    agent: Annotated[
        str | None, typer.Argument(help="The agent whose reservations to release.")
    ] = None,
    patterns: Annotated[
        list[str] | None, typer.Argument(help="Only these patterns (default: all).")
    ] = None,
    reservation_id: Annotated[
        int | None, typer.Option("--id", help="One stale reservation, whoever holds it.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Needed with --id.")] = False,
    json: JsonOption = False,
) -> None:
    """Release an agent's reservations (or some patterns), or, with --id N --force, a stale
    one whose holder left the pool; its holder is mailed."""
    from worktree_pool.agents import reservations

    repo = _repository()
    store = _store(repo)
    if reservation_id is not None:
        if agent is not None or not force:
            raise WtpoolError(
                "use `wtpool unreserve --id N --force` alone: it releases one stale reservation",
                code=ExitCode.USAGE,
            )
        released = [reservations.force_release(repo, store, reservation_id)]
    elif agent is None:
        raise WtpoolError("name the agent, or give --id N --force", code=ExitCode.USAGE)
    else:
        released = reservations.unreserve(repo, store, agent, tuple(patterns or ()))
    _emit(released, json, render.show_reservations)


mail_app = typer.Typer(help="Messages between agents.", no_args_is_help=True)
app.add_typer(mail_app, name="mail")


@mail_app.command("send")
def mail_send(
    sender: Annotated[str, typer.Option("--from", help="The sending agent.")],
    recipient: Annotated[str, typer.Option("--to", help="The receiving agent.")],
    subject: Annotated[str, typer.Option("--subject", help="One line.")],
    body: Annotated[str | None, typer.Option("--body", help="The text.")] = None,
    body_file: Annotated[
        Path | None, typer.Option("--body-file", help="Read the text from this file.")
    ] = None,
    thread: Annotated[str | None, typer.Option("--thread", help="Thread to reply in.")] = None,
    json: JsonOption = False,
) -> None:
    """Send a message to an agent."""
    from worktree_pool.agents import mail

    if body is not None and body_file is not None:
        raise WtpoolError("give --body or --body-file, not both", code=ExitCode.USAGE)
    if body_file is not None:  # at most one byte past the limit is read, even of /dev/zero
        body = read_text_bounded(body_file, mail.MAX_BODY, "message body")
    repo = _repository()
    message = mail.send(repo, _store(repo), sender, recipient, subject, body or "", thread)
    _emit(message, json, render.show_sent)


@mail_app.command("inbox")
def mail_inbox(
    agent: Annotated[str, typer.Argument(help="Whose messages.")],
    unread: Annotated[bool, typer.Option("--unread", help="Only those not read yet.")] = False,
    json: JsonOption = False,
) -> None:
    """An agent's messages, oldest first."""
    from worktree_pool.agents import mail

    repo = _repository()
    _emit(mail.inbox(repo, _store(repo), agent, unread=unread), json, render.show_inbox)


@mail_app.command("read")
def mail_read(
    message_id: Annotated[int, typer.Argument(help="The message's number.")],
    json: JsonOption = False,
) -> None:
    """Show a message, and mark it read."""
    from worktree_pool.agents import mail

    repo = _repository()
    _emit(mail.read_message(repo, _store(repo), message_id), json, render.show_message)


@mail_app.command("ack")
def mail_ack(
    message_id: Annotated[int, typer.Argument(help="The message's number.")],
    json: JsonOption = False,
) -> None:
    """Acknowledge a message."""
    from worktree_pool.agents import mail

    repo = _repository()
    _emit(mail.ack(repo, _store(repo), message_id), json, render.show_message)


daemon_app = typer.Typer(help="The sampler in the background: start, stop, status.")
app.add_typer(daemon_app, name="daemon")


@daemon_app.command("start")
def daemon_start(json: JsonOption = False) -> None:
    """Start the background sampler for this pool; refused while one runs."""
    from worktree_pool.coord import daemon  # only these commands need it

    repo = _repository()
    _emit(daemon.start_daemon(repo, _store(repo)), json, render.show_daemon)


@daemon_app.command("stop")
def daemon_stop(json: JsonOption = False) -> None:
    """Stop the background sampler and wait until it has exited."""
    from worktree_pool.coord import daemon

    repo = _repository()
    _emit(daemon.stop_daemon(repo, _store(repo)), json, render.show_daemon)


@daemon_app.command("status")
def daemon_status(json: JsonOption = False) -> int:
    """Whether the background sampler runs; exit 1 when it does not."""
    from worktree_pool.coord import daemon

    repo = _repository()
    status = daemon.daemon_status(repo, _store(repo))
    _emit(status, json, render.show_daemon)
    return ExitCode.OK if status.running else ExitCode.FAILED


@daemon_app.command("run", hidden=True)
def daemon_run() -> None:
    """The daemon itself, as `daemon start` runs it."""
    from worktree_pool.coord import daemon

    repo = _repository()
    daemon.run_daemon(repo, _store(repo))


@app.command()
def report(json: JsonOption = False) -> None:
    """One text for a bug report: versions, config, status, check, leaks, alerts."""
    from worktree_pool.cli.render import monitor as dashboard
    from worktree_pool.coord.report import gather

    repo = _repository()
    store = pool.open_store_if_any(repo)
    try:
        _emit(gather(repo, store), json, dashboard.show_report)
    finally:
        if store is not None:
            store.close()


@app.command()
def leaks(
    fix: Annotated[bool, typer.Option("--fix", help="Repair what is found, saving work.")] = False,
    json: JsonOption = False,
) -> int:
    """Find what the pool left behind: databases, worktrees, processes, locks, branches."""
    from worktree_pool.coord.leaks import find_leaks  # only this command needs it

    repo = _repository()
    report = find_leaks(repo, _store(repo), fix=fix)
    _emit(report, json, render.show_leaks)
    return ExitCode.OK if report.healthy else ExitCode.FAILED


@app.command()
def config(json: JsonOption = False) -> None:
    """Show the configuration in effect and the file it came from."""
    repo = _repository()
    overridden = (
        {"database.mode": DATABASE_MODE_VARIABLE} if os.environ.get(DATABASE_MODE_VARIABLE) else {}
    )
    if json:
        source = str(repo.config_path) if repo.config_path else None
        config = render.to_jsonable(for_display(repo.config))
        render.print_json({"source": source, "config": config, "overridden": overridden})
        return
    print(f"# from {render.printable(str(repo.config_path or 'the built-in defaults'))}")
    for key, variable in overridden.items():
        print(f"# {key} from {variable}")
    print(render_config(for_display(repo.config)), end="")


@app.command()
def demo(
    keep: Annotated[
        bool, typer.Option("--keep", help="Keep the throwaway repository to look around.")
    ] = False,
) -> None:
    """Run a short session in a throwaway repository and show each step."""
    from worktree_pool.cli.demo import run_demo  # only the demo needs it

    run_demo(keep=keep)


def _fail(message: str, hint: str | None, code: int) -> int:
    """One `error:` line, and one `hint:` line: a message may quote what it refuses (a file
    name, a task's title), whose line breaks and control characters must not reach the
    terminal, and any error (a library's, quoting a URL) may carry a password."""
    print(f"error: {render.printable(mask(' '.join(message.split())))}", file=sys.stderr)
    if hint:
        print(f"hint: {render.printable(mask(' '.join(hint.split())))}", file=sys.stderr)
    return code


def run(argv: list[str]) -> int:
    debug = "--debug" in argv
    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="wtpool", standalone_mode=False)
    except WtpoolError as exc:
        if debug:
            traceback.print_exc()
        return _fail(exc.message, exc.hint, exc.code)
    except typer.TyperException as exc:
        message = exc.format_message()
        ctx = getattr(exc, "ctx", None)
        if "\n" in message:  # `wtpool` alone: the "error" is the help text
            print(message, file=sys.stderr)
            return exc.exit_code
        hint = f"see `{ctx.command_path} --help`" if ctx is not None else None
        return _fail(message, hint, exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        return _fail("interrupted", None, 130)
    except Exception as exc:
        if debug:
            traceback.print_exc()
        return _fail(
            f"unexpected {type(exc).__name__}: {exc}",
            None if debug else "rerun with --debug for the traceback, and report it",
            ExitCode.FAILED,
        )
    return int(code or 0)


def main() -> None:
    sys.exit(run(sys.argv[1:]))

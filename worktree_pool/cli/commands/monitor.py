"""`wtpool check` and `monitor`: the resources against their limits, once or live."""

from __future__ import annotations

from typing import Annotated

import typer

from worktree_pool.cli.invocation import repository
from worktree_pool.cli.options import JsonOption, commands, emit
from worktree_pool.cli.render.common import print_json
from worktree_pool.cli.render.monitor import print_frame, run_live, show_check
from worktree_pool.coord.watch import Monitor
from worktree_pool.errors import ExitCode
from worktree_pool.monitor.limits import assess
from worktree_pool.pool.opening import open_store

app = commands()


@app.command()
def check(
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 1 on warnings too, not only on critical.")
    ] = False,
    json: JsonOption = False,
) -> int:
    """Take one sample of the resources against the limits; exit 1 when one is critical."""
    repo = repository()
    with open_store(repo) as store:
        assessment = assess(repo, store, ports=True)
        emit(assessment, json, show_check)
    # A server that cannot be asked is as bad as a full one: nothing says it has room.
    failing = assessment.critical or assessment.sample.database_error
    warned = assessment.warnings or assessment.port_conflicts
    return ExitCode.FAILED if failing or (strict and warned) else ExitCode.OK


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
    repo = repository()
    with open_store(repo) as store:
        watcher = Monitor(repo, store, background=not (once or json))
        if json:
            print_json(watcher.frame())
        elif once:
            print_frame(watcher.frame())
        else:
            run_live(watcher.frame, interval or repo.config.monitor.interval)

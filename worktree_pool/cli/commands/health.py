"""`wtpool doctor`, `leaks` and `report`: find what is wrong with the pool, and say it."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Annotated

import typer

from worktree_pool.cli.invocation import repository
from worktree_pool.cli.options import JsonOption, commands, emit
from worktree_pool.cli.render.cleanup import show_doctor, show_leaks
from worktree_pool.cli.render.report import show_report
from worktree_pool.coord import doctor as health
from worktree_pool.coord.leaks import find_leaks
from worktree_pool.coord.report import gather
from worktree_pool.errors import ExitCode
from worktree_pool.pool.opening import open_store, open_store_if_any

app = commands()


@app.command()
def doctor(
    fix: Annotated[bool, typer.Option("--fix", help="Repair what is found.")] = False,
    json: JsonOption = False,
) -> int:
    """Compare the state with git and the disk; exit 1 while problems remain."""
    report = health.doctor(repository(), fix=fix)
    emit(report, json, show_doctor)
    return ExitCode.OK if report.healthy else ExitCode.FAILED


@app.command()
def report(json: JsonOption = False) -> None:
    """One text for a bug report: versions, config, status, check, leaks, alerts."""
    repo = repository()
    # A report is wanted most when something is broken, the pool itself too: no store, no error.
    with open_store_if_any(repo) or nullcontext() as store:
        emit(gather(repo, store), json, show_report)


@app.command()
def leaks(
    fix: Annotated[bool, typer.Option("--fix", help="Repair what is found, saving work.")] = False,
    json: JsonOption = False,
) -> int:
    """Find what the pool left behind: databases, worktrees, processes, locks, branches."""
    repo = repository()
    with open_store(repo) as store:
        report = find_leaks(repo, store, fix=fix)
        emit(report, json, show_leaks)
    return ExitCode.OK if report.healthy else ExitCode.FAILED

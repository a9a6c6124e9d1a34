"""`wtpool reserve`, `reservations`, `renew` and `unreserve`: agents' claims on files; and
`audit`, the log of every reservation change and message sent."""

from __future__ import annotations

from typing import Annotated

import typer

from worktree_pool.agents import reservations
from worktree_pool.agents.audit import audit_trail
from worktree_pool.cli.invocation import repository
from worktree_pool.cli.options import JsonOption, commands, emit
from worktree_pool.cli.render.agents import show_audit, show_reservations, show_reserve
from worktree_pool.errors import ExitCode, WtpoolError
from worktree_pool.pool.opening import open_store

app = commands()


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
    repo = repository()
    with open_store(repo) as store:
        result = reservations.reserve(
            repo, store, agent, tuple(patterns), ttl=ttl, shared=shared, reason=reason
        )
        emit(result, json, show_reserve)


@app.command("reservations")
def reservations_command(
    all_: Annotated[bool, typer.Option("--all", help="Released and expired ones too.")] = False,
    json: JsonOption = False,
) -> None:
    """The active reservations: agent, patterns, kind, expiry."""
    repo = repository()
    with open_store(repo) as store:
        found = reservations.list_reservations(repo, store, include_inactive=all_)
        emit(found, json, show_reservations)


@app.command()
def renew(
    agent: Annotated[str, typer.Argument(help="The agent whose reservations to extend.")],
    by: Annotated[
        float | None, typer.Option("--by", help="Seconds from now (reservations.ttl).")
    ] = None,
    json: JsonOption = False,
) -> None:
    """Extend an agent's active reservations."""
    repo = repository()
    with open_store(repo) as store:
        emit(reservations.renew(repo, store, agent, by), json, show_reservations)


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
    repo = repository()
    with open_store(repo) as store:
        if reservation_id is not None:
            if agent is not None or not force:
                raise WtpoolError(
                    "use `wtpool unreserve --id N --force` alone: it releases one stale "
                    "reservation",
                    code=ExitCode.USAGE,
                )
            released = [reservations.force_release(repo, store, reservation_id)]
        elif agent is None:
            raise WtpoolError("name the agent, or give --id N --force", code=ExitCode.USAGE)
        else:
            released = reservations.unreserve(repo, store, agent, tuple(patterns or ()))
        emit(released, json, show_reservations)


@app.command()
def audit(
    limit: Annotated[int, typer.Option("--limit", help="How many of the newest events.")] = 50,
    json: JsonOption = False,
) -> None:
    """The audit log: reservation changes and messages sent, newest last, on every host."""
    repo = repository()
    with open_store(repo, reading=True) as store:
        emit(audit_trail(repo, store, limit), json, show_audit)

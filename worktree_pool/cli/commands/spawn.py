"""`wtpool spawn`, `assign` and `stop`: start agents on tracks of the task graph, and stop them."""

from __future__ import annotations

from typing import Annotated

import typer

from worktree_pool.agents.stopping import stop_agents
from worktree_pool.cli.invocation import repository
from worktree_pool.cli.options import JsonOption, LenientOption, ModeArgument, commands, emit
from worktree_pool.cli.render.pool import show_acquire
from worktree_pool.cli.render.tracks import show_spawn, show_stop
from worktree_pool.config.settings import Mode
from worktree_pool.coord import spawn as spawning
from worktree_pool.errors import ExitCode, WtpoolError, bad_input
from worktree_pool.pool.opening import open_store
from worktree_pool.util.names import validate_name

app = commands()


@app.command()
def spawn(
    count: Annotated[int, typer.Argument(help="How many tracks to start (1-64).")],
    mode: ModeArgument = Mode.INDEPENDENT,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be spawned; change nothing.")
    ] = False,
    json: JsonOption = False,
    lenient: LenientOption = False,
) -> None:
    """Give up to COUNT ready tracks a slot each: branch, scope, guard, brief, and agent."""
    repo = repository()
    with open_store(repo) as store:
        result = spawning.spawn(repo, store, count, mode, dry_run=dry_run, lenient=lenient)
        emit(result, json, show_spawn)
    if not (result.spawned or result.queued):
        raise WtpoolError(
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
    repo = repository()
    with open_store(repo) as store:
        result = spawning.assign(repo, store, agent, task, force=force, lenient=lenient)
        emit(result, json, show_acquire)


@app.command()
def stop(
    slot: Annotated[str | None, typer.Argument(help="The slot whose agent to stop.")] = None,
    every: Annotated[bool, typer.Option("--all", help="Stop every slot's agent.")] = False,
    json: JsonOption = False,
) -> None:
    """Stop an agent spawn started: SIGTERM to all its processes, SIGKILL after agent.stop_grace."""
    if (slot is None) == (not every):
        raise bad_input("name one slot, or pass --all", "e.g. `wtpool stop pool-wt-1`")
    repo = repository()
    name = validate_name("slot", slot) if slot is not None else None
    with open_store(repo) as store:
        emit(stop_agents(repo, store, name), json, show_stop)

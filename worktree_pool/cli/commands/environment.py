"""`wtpool env`, `run`, `refresh` and `trust`: a slot's environment, and the hooks and copies
that make it."""

from __future__ import annotations

from typing import Annotated

import typer

from worktree_pool.cli.invocation import repository
from worktree_pool.cli.options import JsonOption, SlotArgument, commands, emit
from worktree_pool.cli.render import environment as render
from worktree_pool.pool import environment, slot_hooks
from worktree_pool.pool import refresh as refreshing
from worktree_pool.pool.claims import slot_argument
from worktree_pool.pool.opening import open_store

app = commands()


@app.command()
def env(
    slot: SlotArgument = None,
    shell: Annotated[
        bool, typer.Option("--shell", help="Print `export` lines, for eval in a shell.")
    ] = False,
    json: JsonOption = False,
) -> None:
    """Print a slot's environment: WTPOOL_SLOT, WTPOOL_TASK, its ports, its database."""
    repo = repository()
    with open_store(repo, reading=True) as store:
        found = environment.environment_of(repo, store, slot_argument(repo, slot))
    emit(found, json, render.shell_lines if shell else render.dotenv_lines)


@app.command(context_settings={"allow_interspersed_args": False})
def run(
    slot: Annotated[str, typer.Argument(help="The slot to run in.")],
    command: Annotated[list[str], typer.Argument(help="The command, after `--`.")],
) -> None:
    """Run a command in a slot with the slot's environment: wtpool run pool-wt-1 -- npm test."""
    repo = repository()
    if command[:1] == ["--"]:  # the parser stops at the slot, and leaves the separator
        command = command[1:]
    with open_store(repo, reading=True) as store:
        code = environment.run_in_slot(repo, store, slot, command)
    raise typer.Exit(code)


@app.command()
def refresh(slot: SlotArgument = None, json: JsonOption = False) -> None:
    """Copy the `copy:` entries into a slot again; put a slot out of service back in service."""
    repo = repository()
    with open_store(repo) as store:
        result = refreshing.refresh_slot(repo, store, slot_argument(repo, slot))
    emit(result, json, render.show_refresh)


@app.command()
def trust(json: JsonOption = False) -> None:
    """Let the hooks in this repository's wtpool.yaml run, as they are now."""
    emit(slot_hooks.trust_hooks(repository()), json, render.show_trust)

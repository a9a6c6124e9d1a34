"""`wtpool attach`, `send` and `logs`: reaching an agent, and reading what it printed."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from worktree_pool.cli.invocation import repository
from worktree_pool.cli.options import JsonOption, SlotArgument, commands, emit
from worktree_pool.cli.render import agents as render
from worktree_pool.coord import reaching
from worktree_pool.pool.claims import slot_argument
from worktree_pool.pool.opening import open_store

app = commands()


@app.command()
def attach(slot: SlotArgument = None) -> None:
    """Attach this terminal to the tmux session of a slot's agent (agent.terminal: tmux)."""
    repo = repository()
    terminal = sys.stdin.isatty() and sys.stdout.isatty()
    with open_store(repo, reading=True) as store:
        argv, environment = reaching.attach_command(
            repo, store, slot_argument(repo, slot), terminal=terminal
        )
    sys.stdout.flush()
    os.execvpe(argv[0], argv, environment)


@app.command()
def send(
    target: Annotated[str | None, typer.Argument(help="The slot (omit with --all).")] = None,
    text: Annotated[str | None, typer.Argument(help="The text to type, then Enter.")] = None,
    to_all: Annotated[
        bool, typer.Option("--all", help="Type it into every slot whose agent runs in tmux.")
    ] = False,
    json: JsonOption = False,
) -> None:
    """Type a line into an agent's tmux session: wtpool send pool-wt-1 'run the tests'."""
    repo = repository()
    with open_store(repo, reading=True) as store:
        sent = reaching.send(repo, store, target, text, to_all=to_all)
    emit(sent, json, render.show_typed)


@app.command()
def logs(
    slot: SlotArgument = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing until the agent ends.")
    ] = False,
) -> None:
    """Print the output of a slot's agent (`-f`: until it ends, or Ctrl-C, which is no error)."""
    repo = repository()
    with open_store(repo, reading=True) as store:
        chunks = reaching.agent_output(repo, store, slot_argument(repo, slot), follow=follow)
    try:
        for chunk in chunks:
            sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
    except KeyboardInterrupt:  # how one stops following, as with tail -f
        return
    except BrokenPipeError:  # `wtpool logs SLOT | head` has read enough
        # Python would complain once more, flushing at exit, to the same closed pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())

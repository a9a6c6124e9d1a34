"""What every command module shares: the options many commands take (`--json`, `--lenient`),
the repository the command runs in (found from the current directory and `--config`), and
printing a result as text or as JSON."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

from worktree_pool.cli.render.common import print_json
from worktree_pool.config.settings import Mode

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
SlotArgument = Annotated[
    str | None, typer.Argument(help="The slot (default: the slot you are in).")
]


def commands(**settings: Any) -> typer.Typer:
    """The typer app of one command module: a group (given a name) or the root's commands.

    Help is plain text, as the root's: typer would otherwise format a group's help with rich."""
    return typer.Typer(rich_markup_mode=None, add_completion=False, **settings)


def emit(result: Any, as_json: bool, show: Callable[[Any], None]) -> None:
    print_json(result) if as_json else show(result)

"""`wtpool filter show|set|add|clear|verify`: what a slot shows and may commit (its scope)."""

from __future__ import annotations

from typing import Annotated

import typer

from worktree_pool.cli.invocation import repository
from worktree_pool.cli.options import JsonOption, SlotArgument, commands, emit
from worktree_pool.cli.render.pool import show_filter, show_verify
from worktree_pool.coord.widening import check_widening
from worktree_pool.errors import ExitCode
from worktree_pool.pool.claims import slot_argument
from worktree_pool.pool.opening import open_store
from worktree_pool.scope import filters
from worktree_pool.util.names import validate_name

app = commands(
    name="filter",
    help="Show or change what a slot shows and may commit (its scope).",
    no_args_is_help=True,
)

PatternsArgument = Annotated[
    list[str], typer.Argument(help="gitignore-style patterns, relative to the repository root.")
]


@app.command("show")
def filter_show(slot: SlotArgument = None, json: JsonOption = False) -> None:
    """The slot's patterns, mode, and visible against tracked files."""
    repo = repository()
    with open_store(repo) as store:
        report = filters.show_filter(repo, store, slot_argument(repo, slot))
        emit(report, json, show_filter)


ForceOption = Annotated[
    bool,
    typer.Option(
        "--force", help="Widen even where another slot may write or an agent holds files."
    ),
]


@app.command("set")
def filter_set(
    slot: str, patterns: PatternsArgument, force: ForceOption = False, json: JsonOption = False
) -> None:
    """Replace the slot's write scope with these patterns."""
    _set(slot, patterns, force, json, add=False)


@app.command("add")
def filter_add(
    slot: str, patterns: PatternsArgument, force: ForceOption = False, json: JsonOption = False
) -> None:
    """Widen the slot's write scope with these patterns, once no other slot or exclusive
    reservation has them."""
    _set(slot, patterns, force, json, add=True)


def _set(slot: str, patterns: list[str], force: bool, json: bool, *, add: bool) -> None:
    repo = repository()
    name = validate_name("slot", slot)
    with open_store(repo) as store:
        if not force:
            check_widening(store, name, tuple(patterns))
        report = filters.set_filter(repo, store, name, patterns, add=add)
        emit(report, json, show_filter)


@app.command("clear")
def filter_clear(slot: SlotArgument = None, json: JsonOption = False) -> None:
    """Remove the slot's scope: it shows, and may commit, every file."""
    repo = repository()
    with open_store(repo) as store:
        report = filters.clear_filter(repo, store, slot_argument(repo, slot))
        emit(report, json, show_filter)


@app.command("verify")
def filter_verify(
    slot: SlotArgument = None,
    fix: Annotated[bool, typer.Option("--fix", help="Re-apply the filter and guard.")] = False,
    build: Annotated[
        bool, typer.Option("--build", help="Also run scope.build_command in the slot.")
    ] = False,
    json: JsonOption = False,
) -> int:
    """Check that git still applies the slot's scope and guard, and with --build that the slot
    builds; exit 1 if not (unless fixed)."""
    repo = repository()
    with open_store(repo) as store:
        name = slot_argument(repo, slot)
        report = filters.verify_filter(repo, store, name, fix=fix, build=build)
        emit(report, json, show_verify)
    return ExitCode.OK if report.healthy else ExitCode.FAILED

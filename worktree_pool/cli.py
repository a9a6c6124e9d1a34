"""The `wtpool` command: parse arguments, call one library function, render its result.

All failures end in `main()`: a `WtpoolError` or a usage error becomes one `error:` line (and a
`hint:` line) on stderr with exit code 1 or 2; anything unexpected becomes one line too, and only
`--debug` shows the traceback.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from worktree_pool import __version__, render
from worktree_pool.errors import ExitCode, WtpoolError
from worktree_pool.repo import Repository, open_repository

if TYPE_CHECKING:
    from worktree_pool.state import StateStore

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
    from worktree_pool.pool import open_store

    return open_store(repo)


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
    from worktree_pool.pool import init_pool

    result = init_pool(_repository(), minimum, maximum, base)
    render.print_json(result) if json else render.show_init(result)


@app.command()
def status(json: JsonOption = False) -> None:
    """Show the pool, every slot and the queue."""
    from worktree_pool.pool import pool_status

    repo = _repository()
    report = pool_status(repo, _store(repo))
    render.print_json(report) if json else render.show_status(report)


@app.command()
def acquire(
    agent: Annotated[str, typer.Option("--agent", help="Name of the agent taking the slot.")],
    task: Annotated[str | None, typer.Option("--task", help="Task the agent works on.")] = None,
    json: JsonOption = False,
) -> None:
    """Give an agent a slot: an idle one, a new one below max, or a place in the queue."""
    from worktree_pool.claims import acquire as acquire_slot

    repo = _repository()
    result = acquire_slot(repo, _store(repo), agent, task)
    render.print_json(result) if json else render.show_acquire(result)


@app.command()
def release(
    slot: Annotated[
        str | None, typer.Argument(help="Slot to release (default: the slot you are in).")
    ] = None,
    json: JsonOption = False,
) -> None:
    """Take a slot back: save unique work, reset it to the base, hand it to the queue."""
    from worktree_pool.claims import release as release_slot

    repo = _repository()
    result = release_slot(repo, _store(repo), slot)
    render.print_json(result) if json else render.show_release(result)


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
    from worktree_pool.errors import bad_input
    from worktree_pool.pool import scale_pool

    if (direction is None) == (to is None):
        raise bad_input("use either `scale up|down [--by K]` or `scale --to N`")
    if by is not None and direction is None:
        raise bad_input("--by goes with `scale up` or `scale down`")
    step = by if by is not None else 1
    repo = _repository()
    result = scale_pool(
        repo,
        _store(repo),
        up=step if direction == Direction.UP else None,
        down=step if direction == Direction.DOWN else None,
        to=to,
    )
    render.print_json(result) if json else render.show_scale(result)


@app.command()
def cleanup(
    force: Annotated[
        bool, typer.Option("--force", help="Do not save unique work; list what is discarded.")
    ] = False,
    json: JsonOption = False,
) -> int:
    """End the session: save unique work to salvage branches, then remove every slot."""
    from worktree_pool.coordinator import cleanup as clean

    result = clean(_repository(), force=force)
    render.print_json(result) if json else render.show_cleanup(result)
    return ExitCode.OK if result.complete else ExitCode.FAILED


@app.command()
def doctor(
    fix: Annotated[bool, typer.Option("--fix", help="Repair what is found.")] = False,
    json: JsonOption = False,
) -> int:
    """Compare the state with git and the disk; exit 1 while problems remain."""
    from worktree_pool.doctor import doctor as examine

    report = examine(_repository(), fix=fix)
    render.print_json(report) if json else render.show_doctor(report)
    return ExitCode.OK if report.healthy else ExitCode.FAILED


@app.command()
def config(json: JsonOption = False) -> None:
    """Show the configuration in effect and the file it came from."""
    from worktree_pool.config import render_config

    repo = _repository()
    if json:
        render.print_json(
            {
                "source": str(repo.config_path) if repo.config_path else None,
                "config": render.to_jsonable(repo.config),
            }
        )
        return
    print(f"# from {repo.config_path or 'the built-in defaults'}")
    print(render_config(repo.config), end="")


@app.command()
def demo(
    keep: Annotated[
        bool, typer.Option("--keep", help="Keep the throwaway repository to look around.")
    ] = False,
) -> None:
    """Run a short session in a throwaway repository and show each step."""
    from worktree_pool.demo import run_demo

    run_demo(keep=keep)


def _fail(message: str, hint: str | None, code: int) -> int:
    print(f"error: {' '.join(message.split())}", file=sys.stderr)
    if hint:
        print(f"hint: {' '.join(hint.split())}", file=sys.stderr)
    return code


def run(argv: list[str]) -> int:
    debug = "--debug" in argv
    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="wtpool", standalone_mode=False)
    except WtpoolError as exc:
        if debug:
            raise
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
            raise
        return _fail(
            f"unexpected {type(exc).__name__}: {exc}",
            "rerun with --debug for the traceback, and report it",
            ExitCode.FAILED,
        )
    return int(code or 0)


def main() -> None:
    sys.exit(run(sys.argv[1:]))

"""The `wtpool` command: the typer root, its global options, and the one error boundary.

Each command lives in a module of `cli/commands/`, which owns its typer app; the root knows
every command only by name and imports its module when the command runs (or when `--help`
lists them all), so `wtpool --version` imports no command module and `wtpool status` only the
pool's. A command parses, calls one library function, and renders the result.

All failures end in `run()`: a `WtpoolError` or a usage error becomes one `error:` line (and a
`hint:` line) on stderr with exit code 1 or 2; anything unexpected becomes one line too, and only
`--debug` shows the traceback.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Annotated

import typer

from worktree_pool import __version__
from worktree_pool.cli import invocation
from worktree_pool.cli.failure import fail, unexpected
from worktree_pool.cli.lazy import LazyGroup
from worktree_pool.cli.render.progress import DelayedProgress
from worktree_pool.errors import WtpoolError
from worktree_pool.util.progress import reporting_to

# Command -> its module in cli/commands/, in the order `wtpool --help` lists them.
COMMANDS = {
    "init": "pool",
    "status": "status",
    "acquire": "claims",
    "release": "claims",
    "merge": "merge",
    "queue": "merge",
    "spawn": "spawn",
    "assign": "spawn",
    "stop": "spawn",
    "scale": "scale",
    "cleanup": "cleanup",
    "doctor": "health",
    "check": "monitor",
    "monitor": "monitor",
    "reserve": "reserve",
    "reservations": "reserve",
    "renew": "reserve",
    "unreserve": "reserve",
    "audit": "reserve",
    "report": "health",
    "leaks": "health",
    "config": "config",
    "demo": "demo",
    "filter": "filter",
    "tracks": "tracks",
    "db": "db",
    "mail": "mail",
    "daemon": "daemon",
    "hosts": "fleet",
    "env": "environment",
    "run": "environment",
    "refresh": "environment",
    "trust": "environment",
    "attach": "agents",
    "send": "agents",
    "logs": "agents",
}


class _Root(LazyGroup):
    modules = COMMANDS


app = typer.Typer(
    name="wtpool",
    cls=_Root,
    help="A pool of git worktrees so several coding agents can work on one repository.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


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
    # --debug is read straight from argv by run(), which must know it even when parsing fails.
    invocation.current.config = config


def run(argv: list[str]) -> int:
    debug = "--debug" in argv
    command = typer.main.get_command(app)
    progress = DelayedProgress()
    try:
        with reporting_to(progress):
            code = command.main(args=argv, prog_name="wtpool", standalone_mode=False)
    except WtpoolError as exc:
        if debug:
            traceback.print_exc()
        return fail(exc.message, exc.hint, exc.code)
    except typer.TyperException as exc:
        message = exc.format_message()
        ctx = getattr(exc, "ctx", None)
        if "\n" in message:  # `wtpool` alone: the "error" is the help text
            print(message, file=sys.stderr)
            return exc.exit_code
        hint = f"see `{ctx.command_path} --help`" if ctx is not None else None
        return fail(message, hint, exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        return fail("interrupted", None, 130)
    except Exception as exc:
        return unexpected(exc, debug)
    finally:
        progress.close()
    return int(code or 0)


def main() -> None:
    sys.exit(run(sys.argv[1:]))

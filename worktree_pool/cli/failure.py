"""How a failed command ends: one `error:` line and perhaps one `hint:` line on stderr, and an
exit code. Shared by the typer root (app.py) and the commands answered before it (quick.py), so
both fail alike; it imports neither typer nor rich."""

from __future__ import annotations

import sys

from worktree_pool.cli.render.common import printable
from worktree_pool.errors import ExitCode
from worktree_pool.util.redact import mask


def fail(message: str, hint: str | None, code: int) -> int:
    """One `error:` line, and one `hint:` line: a message may quote what it refuses (a file
    name, a task's title), whose line breaks and control characters must not reach the
    terminal, and any error (a library's, quoting a URL) may carry a password."""
    print(f"error: {printable(mask(' '.join(message.split())))}", file=sys.stderr)
    if hint:
        print(f"hint: {printable(mask(' '.join(hint.split())))}", file=sys.stderr)
    return code


def unexpected(exc: Exception, debug: bool) -> int:
    """A failure wtpool did not foresee: one line, and the traceback only with --debug."""
    if debug:
        import traceback

        traceback.print_exc()
    return fail(
        f"unexpected {type(exc).__name__}: {exc}",
        None if debug else "rerun with --debug for the traceback, and report it",
        ExitCode.FAILED,
    )

"""The commands answered before typer is imported: `wtpool --version` and `wtpool status`
(with or without `--json`), exactly as typed.

Agents run these two constantly, and typer (which brings pydantic to parse options) costs more
to import than either takes to answer. Any other form of them (`--help`, `--config`, a typo)
goes to typer as usual, so the quick path never has to parse anything. Failures end as every
command's do (failure.py).
"""

from __future__ import annotations

import os
import sys

from worktree_pool import __version__
from worktree_pool.cli.failure import fail, unexpected
from worktree_pool.errors import WtpoolError


def answer(argv: list[str]) -> int | None:
    """Run argv if it is one of the quick forms and return its exit code; None if it is not."""
    if argv == ["--version"]:
        print(f"wtpool {__version__}")
        return 0
    if argv not in (["status"], ["status", "--json"]):
        return None
    try:
        show_status(as_json=argv[1:] == ["--json"])
    except WtpoolError as exc:
        return fail(exc.message, exc.hint, exc.code)
    except KeyboardInterrupt:
        return fail("interrupted", None, 130)
    except BrokenPipeError:
        # `wtpool status | head -3`: the reader has gone. Quiet, exit 1, as click ends every
        # other command then; Python's flush at exit must not meet the closed pipe again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as exc:
        return unexpected(exc, debug=False)
    return 0


def show_status(as_json: bool) -> None:
    """`wtpool status`: the pool, every slot and the queue."""
    from worktree_pool.cli.invocation import repository
    from worktree_pool.cli.render.common import print_json
    from worktree_pool.cli.render.pool import show_status as render
    from worktree_pool.pool.opening import open_store
    from worktree_pool.pool.status import pool_status

    repo = repository()
    with open_store(repo, reading=True) as store:
        report = pool_status(repo, store)
    print_json(report) if as_json else render(report)

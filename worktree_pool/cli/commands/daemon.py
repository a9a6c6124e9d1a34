"""`wtpool daemon start|stop|status` (and the hidden `run`): the sampler in the background."""

from __future__ import annotations

from worktree_pool.cli.invocation import repository
from worktree_pool.cli.options import JsonOption, commands, emit
from worktree_pool.cli.render.monitor import show_daemon
from worktree_pool.coord import daemon
from worktree_pool.errors import ExitCode
from worktree_pool.pool.opening import open_store

app = commands(name="daemon", help="The sampler in the background: start, stop, status.")


@app.command("start")
def daemon_start(json: JsonOption = False) -> None:
    """Start the background sampler for this pool; refused while one runs."""
    repo = repository()
    with open_store(repo) as store:
        emit(daemon.start_daemon(repo, store), json, show_daemon)


@app.command("stop")
def daemon_stop(json: JsonOption = False) -> None:
    """Stop the background sampler and wait until it has exited."""
    repo = repository()
    with open_store(repo) as store:
        emit(daemon.stop_daemon(repo, store), json, show_daemon)


@app.command("status")
def daemon_status(json: JsonOption = False) -> int:
    """Whether the background sampler runs; exit 1 when it does not."""
    repo = repository()
    with open_store(repo) as store:
        status = daemon.daemon_status(repo, store)
        emit(status, json, show_daemon)
    return ExitCode.OK if status.running else ExitCode.FAILED


@app.command("run", hidden=True)
def daemon_run() -> None:
    """The daemon itself, as `daemon start` runs it."""
    repo = repository()
    with open_store(repo) as store:
        daemon.run_daemon(repo, store)

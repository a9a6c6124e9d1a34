"""Runs one agent command and records how it ended.

    python -I -m worktree_pool.agent_runner EXIT_FILE -- COMMAND...

wtpool starts this as the leader of a new process group, with the slot as its directory and
the slot's log as its output. The agent is its child, in the same group. When the agent ends,
for whatever reason, its exit code goes to EXIT_FILE (as JSON), so that `wtpool status` can say
"exited 3" long after the wtpool process that started it has gone.

`wtpool stop` sends SIGTERM to the whole group. The agent gets it and should end; this runner
only notes it and keeps waiting, so that the agent's exit is still recorded. Standard library
only: it starts for every agent.

In a tmux pane (`agent.terminal: tmux`), the runner is the pane's command, and the agent reads
the pane's terminal (which `wtpool send` types into). The pane's environment is the tmux
server's, so launch hands the agent's environment over in a private file named by
ENVIRONMENT_FILE_VARIABLE; the runner reads it, deletes it, and keeps only the pane's own
terminal variables (TERM, TMUX, TMUX_PANE) from the pane. When the pane goes (its session or
window killed), the kernel hangs up the runner alone; it passes SIGHUP on to the agent's group,
so that the agent ends as it would in a terminal that closed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from worktree_pool.util.private import write_private
from worktree_pool.util.processes import GROUP_VARIABLE

# Names the file that holds the agent's environment, for a runner that tmux started.
ENVIRONMENT_FILE_VARIABLE = "WTPOOL_RUNNER_ENVIRONMENT"
# What a tmux pane's environment says of its terminal: the pane's, never the caller's.
_TERMINAL_VARIABLES = ("TERM", "TMUX", "TMUX_PANE", "COLORTERM", "COLUMNS", "LINES")


def _keep_waiting(signum: int, frame: FrameType | None) -> None:
    """A handler rather than SIG_IGN: ignored signals would stay ignored in the agent."""


def _hang_up_group(signum: int, frame: FrameType | None) -> None:
    """The runner's terminal (a tmux pane) went away: the session was killed, or its window
    closed. As a shell does for its jobs, pass the hangup on to the agent's group, which the
    kernel gives only to the runner, then keep waiting, to record how the agent ended."""
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # not to the runner itself again
    try:
        os.killpg(os.getpgrp(), signal.SIGHUP)
    finally:
        signal.signal(signal.SIGHUP, _hang_up_group)


def record_exit(exit_file: Path, code: int, **extra: object) -> None:
    record = {"code": code, "finished_at": datetime.now(UTC).isoformat(timespec="seconds")}
    temporary = exit_file.with_suffix(".tmp")
    write_private(temporary, json.dumps({**record, **extra}) + "\n")
    os.replace(temporary, exit_file)


def main(argv: list[str]) -> int:
    exit_file, separator, *command = argv
    if separator != "--" or not command:
        print("usage: agent_runner EXIT_FILE -- COMMAND...", file=sys.stderr)
        return 2
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, _keep_waiting)
    in_terminal = sys.stdin.isatty()
    if in_terminal:
        signal.signal(signal.SIGHUP, _hang_up_group)
    try:
        environment = _agent_environment()
    except (OSError, ValueError) as exc:
        print(f"wtpool: cannot read the agent's environment: {exc}", flush=True)
        record_exit(Path(exit_file), 127)
        return 127
    try:
        # In a terminal (a tmux pane), the agent reads it: `wtpool send` types there.
        stdin = None if in_terminal else subprocess.DEVNULL
        code = subprocess.Popen(command, stdin=stdin, env=environment).wait()
    except OSError as exc:
        print(f"wtpool: cannot start {command[0]}: {exc}", flush=True)
        code = 127
    record_exit(Path(exit_file), code)
    return code if code >= 0 else 128 - code


def _agent_environment() -> dict[str, str]:
    environment = dict(os.environ)
    given = environment.pop(ENVIRONMENT_FILE_VARIABLE, None)
    if given:
        with open(given, encoding="utf-8") as handle:
            handed = json.load(handle)
        os.unlink(given)
        pane = {k: environment[k] for k in _TERMINAL_VARIABLES if k in environment}
        environment = {k: v for k, v in handed.items() if k not in _TERMINAL_VARIABLES} | pane
    # Every process the agent starts inherits this, even one that leaves the group and the
    # session (setsid, a double fork) or the slot: by it, wtpool finds all that the agent
    # started, and tells it from a shell that merely sourced .env.worktree.
    return {**environment, GROUP_VARIABLE: str(os.getpgrp())}

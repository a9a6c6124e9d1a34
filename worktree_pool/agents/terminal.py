"""Agents in terminals you can reach: a tmux session per slot (`agent.terminal: tmux`).

Each slot's agent runs in the session `wtpool-<slot>` of a tmux server of the pool's own (a
socket named after the repository, `tmux -L wtpool-<hash>`), so neither the user's own tmux
sessions nor another repository's pool are ever touched. The pane's command is the same runner
as without tmux: tmux gives each pane a session and process group of its own, led by the runner,
so stopping the group, the exit record and the agent's membership work as they always have. The
pane's output is piped into the slot's log as well (`pipe-pane`), so `wtpool logs` and the
agent's state read it the same way.

Why it is done the way it is:

- The session, its options and the pipe are made by one tmux command line (commands joined
  by `;`), which the server runs before it reads anything from the new pane: made one by one,
  an agent's first lines could be printed before the pipe existed, and be missing from the log.
- tmux reads an argument that ends in `;` as the end of a command, so every argument is
  escaped (see _literal); an agent's command or a line sent may end in one.
- Every tmux command runs from `/`, without an agent's mark (GROUP_VARIABLE) or the pool's:
  the server started by the first one keeps that directory and environment. A server whose
  directory were a slot would count as a stray process there, and clearing that slot would
  end every agent's session; one with an agent's mark would be stopped with that agent.
- The agent's environment does not travel on tmux's command line (`-e` would show a
  DATABASE_URL's password to anyone who lists processes, and the panes would otherwise get the
  server's environment, from whichever command started it): launch writes it to a private
  file that the runner reads and deletes (see runner.ENVIRONMENT_FILE_VARIABLE).
- `remain-on-exit` is turned off for the session, whatever the user's tmux.conf says, so that
  a session ends with its agent.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from worktree_pool.errors import WtpoolError
from worktree_pool.git.repo import Repository
from worktree_pool.git.run import environment_without_locations
from worktree_pool.util.processes import GROUP_VARIABLE, POOL_PROCESS_VARIABLE
from worktree_pool.util.shell import shell_quote

SESSION_PREFIX = "wtpool-"
# Separates commands on one tmux command line.
_THEN = ";"


def session_name(slot: str) -> str:
    return f"{SESSION_PREFIX}{slot}"


def _target(slot: str) -> str:
    """The slot's session exactly (`=`: not a session whose name merely starts with it)."""
    return f"={session_name(slot)}"


def tmux_argv(repo: Repository, *args: str) -> list[str]:
    """A tmux command on the pool's own server."""
    digest = hashlib.sha1(str(repo.root).encode()).hexdigest()[:12]
    return ["tmux", "-L", f"wtpool-{digest}", *args]


def _literal(arg: str) -> str:
    """`arg` as tmux's command line reads it back: a final `;` escaped, or tmux would take it
    for the end of a command (and `\\;` for a literal `;`, so the escape is the same)."""
    return arg[:-1] + "\\;" if arg.endswith(";") else arg


def _tmux(
    repo: Repository, *commands: Sequence[str], check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run tmux commands (each a list of arguments) as one command line on the pool's server."""
    if shutil.which("tmux") is None:
        raise WtpoolError("agent.terminal is tmux, but tmux is not installed", "install tmux")
    args: list[str] = []
    for command in commands:
        args += [*([_THEN] if args else []), *(_literal(arg) for arg in command)]
    # Never passed on to the tmux server (see the module's docstring).
    environment = environment_without_locations(GROUP_VARIABLE, POOL_PROCESS_VARIABLE)
    done = subprocess.run(
        tmux_argv(repo, *args),
        capture_output=True,
        text=True,
        env=environment,
        cwd="/",
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if check and done.returncode != 0:
        detail = done.stderr.strip().splitlines()[-1:] or [f"exit {done.returncode}"]
        raise WtpoolError(f"tmux {commands[0][0]} failed: {detail[0]}")
    return done


def start_session(
    repo: Repository, slot: str, argv: list[str], cwd: Path, env: dict[str, str], log: Path
) -> int:
    """Run `argv` in the slot's session, in `cwd`, with `env` added to the pane's environment
    (which is the server's: see the module's docstring) and its output also appended to
    `log`; the pane's pid, which leads the pane's session and process group."""
    if session_alive(repo, slot):
        raise WtpoolError(
            f"tmux session {session_name(slot)} already runs",
            f"stop its agent first: wtpool stop {slot}",
        )
    variables = [f"-e{key}={value}" for key, value in env.items()]
    pane = f"{_target(slot)}:"  # the session's one window
    new = ["new-session", "-d", "-P", "-F", "#{pane_pid}", "-s", session_name(slot), "-c", str(cwd)]
    shown = _tmux(
        repo,
        [*new, "-x", "200", "-y", "50", *variables, "--", *argv],
        ["set-option", "-w", "-t", pane, "remain-on-exit", "off"],
        ["pipe-pane", "-o", "-t", pane, f"cat >> {shell_quote(str(log))}"],
    ).stdout
    try:
        return int(shown.split()[0])
    except (IndexError, ValueError):
        kill_session(repo, slot)
        raise WtpoolError(f"tmux did not say which process runs in {slot}: {shown!r}") from None


def session_alive(repo: Repository, slot: str) -> bool:
    if shutil.which("tmux") is None:
        return False
    return _tmux(repo, ["has-session", "-t", _target(slot)], check=False).returncode == 0


def require_session(repo: Repository, slot: str) -> str:
    """The target of the slot's session, or a one-line error saying why there is none."""
    if not session_alive(repo, slot):
        raise WtpoolError(
            f"{slot} has no tmux session: its agent is not running in tmux",
            "agent.terminal: tmux makes spawn start agents in one; `wtpool logs "
            f"{slot}` shows an agent's output either way",
        )
    return _target(slot)


def send_text(repo: Repository, slot: str, text: str) -> None:
    """Type `text` into the slot's session, literally (`-l`: no key names), then Enter."""
    target = f"{require_session(repo, slot)}:"
    _tmux(repo, ["send-keys", "-t", target, "-l", "--", text], ["send-keys", "-t", target, "Enter"])


def live_sessions(repo: Repository) -> list[str]:
    """The slots whose sessions run on the pool's server."""
    if shutil.which("tmux") is None:
        return []
    listed = _tmux(repo, ["list-sessions", "-F", "#{session_name}"], check=False).stdout
    return sorted(
        name.removeprefix(SESSION_PREFIX)
        for name in listed.splitlines()
        if name.startswith(SESSION_PREFIX)
    )


def last_screen_line(repo: Repository, slot: str) -> str | None:
    """The last non-empty line the slot's pane shows; None without a session (one call: a
    missing session is a failed capture)."""
    if shutil.which("tmux") is None:
        return None
    screen = _tmux(repo, ["capture-pane", "-p", "-t", f"{_target(slot)}:"], check=False)
    if screen.returncode != 0:
        return None
    lines = [line.strip() for line in screen.stdout.splitlines() if line.strip()]
    return lines[-1] if lines else None


def kill_session(repo: Repository, slot: str) -> bool:
    """End the slot's session, if it has one (its pane's processes get SIGHUP); whether it
    had one."""
    if shutil.which("tmux") is None:
        return False
    return _tmux(repo, ["kill-session", "-t", _target(slot)], check=False).returncode == 0


def attach_argv(repo: Repository, slot: str) -> tuple[list[str], dict[str, str]]:
    """The command, and its environment, that attach this terminal to the slot's session.

    Inside another tmux, the pool's server is attached nested (TMUX is left out, or tmux
    would refuse): press the prefix key twice to reach the inner one, `C-b C-b d` detaches it.
    """
    target = require_session(repo, slot)
    environment = {k: v for k, v in os.environ.items() if k != "TMUX"}
    return tmux_argv(repo, "attach-session", "-t", target), environment

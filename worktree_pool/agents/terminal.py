"""Agents in terminals you can reach: a tmux session per slot (`agent.terminal: tmux`).

Each slot's agent runs in the session `wtpool-<slot>` of a tmux server of the pool's own (a
socket named after the repository, `tmux -L wtpool-<hash>`), so neither the user's own tmux
sessions nor another repository's pool are ever touched. The pane's command is the same runner
as without tmux: tmux gives each pane a session and process group of its own, led by the runner,
so stopping the group, the exit record and the agent's membership work as they always have. The
pane's output is piped into the slot's log as well (`pipe-pane`), so `wtpool logs` and the
agent's state read it the same way.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from worktree_pool.errors import WtpoolError
from worktree_pool.git.repo import Repository
from worktree_pool.git.run import LOCATION_VARIABLES
from worktree_pool.util.shell import shell_quote

SESSION_PREFIX = "wtpool-"


def session_name(slot: str) -> str:
    return f"{SESSION_PREFIX}{slot}"


def tmux_argv(repo: Repository, *args: str) -> list[str]:
    """A tmux command on the pool's own server."""
    digest = hashlib.sha1(str(repo.root).encode()).hexdigest()[:12]
    return ["tmux", "-L", f"wtpool-{digest}", *args]


def _tmux(repo: Repository, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    if shutil.which("tmux") is None:
        raise WtpoolError("agent.terminal is tmux, but tmux is not installed", "install tmux")
    # The server a first command starts keeps this environment for every pane: never the
    # caller's git location variables (see agents.process.launch).
    environment = {k: v for k, v in os.environ.items() if k not in LOCATION_VARIABLES}
    done = subprocess.run(
        tmux_argv(repo, *args), capture_output=True, text=True, env=environment, check=False
    )
    if check and done.returncode != 0:
        detail = done.stderr.strip().splitlines()[-1:] or [f"exit {done.returncode}"]
        raise WtpoolError(f"tmux {args[0]} failed: {detail[0]}")
    return done


def start_session(
    repo: Repository, slot: str, argv: list[str], cwd: Path, env: dict[str, str], log: Path
) -> int:
    """Run `argv` in the slot's session, its output also appended to `log`; the pane's pid."""
    name = session_name(slot)
    if session_alive(repo, slot):
        raise WtpoolError(f"tmux session {name} already runs", f"stop it first: wtpool stop {slot}")
    variables = [f"-e{key}={value}" for key, value in env.items()]
    _tmux(
        repo,
        "new-session",
        "-d",
        "-s",
        name,
        "-c",
        str(cwd),
        "-x",
        "200",
        "-y",
        "50",
        *variables,
        "--",
        *argv,
    )
    pane = f"={name}:"  # the session's one pane; `=`: that name exactly, not a prefix
    _tmux(repo, "pipe-pane", "-o", "-t", pane, f"cat >> {shell_quote(str(log))}")
    shown = _tmux(repo, "display-message", "-p", "-t", pane, "#{pane_pid}").stdout
    return int(shown.strip())


def session_alive(repo: Repository, slot: str) -> bool:
    if shutil.which("tmux") is None:
        return False
    return _tmux(repo, "has-session", "-t", f"={session_name(slot)}", check=False).returncode == 0


def require_session(repo: Repository, slot: str) -> str:
    """The slot's session, or a one-line error saying why there is none."""
    if not session_alive(repo, slot):
        raise WtpoolError(
            f"{slot} has no tmux session: its agent is not running in tmux",
            "agent.terminal: tmux makes spawn start agents in one; `wtpool logs "
            f"{slot}` shows an agent's output either way",
        )
    return f"={session_name(slot)}:"


def send_text(repo: Repository, slot: str, text: str) -> None:
    """Type `text` into the slot's session, then Enter."""
    target = require_session(repo, slot)
    _tmux(repo, "send-keys", "-t", target, "-l", "--", text)
    _tmux(repo, "send-keys", "-t", target, "Enter")


def live_sessions(repo: Repository) -> list[str]:
    """The slots whose sessions run on the pool's server."""
    if shutil.which("tmux") is None:
        return []
    listed = _tmux(repo, "list-sessions", "-F", "#{session_name}", check=False).stdout
    return sorted(
        name.removeprefix(SESSION_PREFIX)
        for name in listed.splitlines()
        if name.startswith(SESSION_PREFIX)
    )


def last_screen_line(repo: Repository, slot: str) -> str | None:
    """The last non-empty line the slot's pane shows, if it has a session."""
    if not session_alive(repo, slot):
        return None
    screen = _tmux(repo, "capture-pane", "-p", "-t", f"={session_name(slot)}:", check=False)
    lines = [line.strip() for line in screen.stdout.splitlines() if line.strip()]
    return lines[-1] if lines else None


def kill_session(repo: Repository, slot: str) -> None:
    if session_alive(repo, slot):
        _tmux(repo, "kill-session", "-t", f"={session_name(slot)}", check=False)


def attach_argv(repo: Repository, slot: str) -> list[str]:
    """The command that attaches this terminal to the slot's session."""
    return tmux_argv(repo, "attach-session", "-t", require_session(repo, slot).rstrip(":"))

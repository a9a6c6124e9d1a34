"""What an agent is doing: starting, working, waiting for someone, exited, or stopped.

- `starting`: it runs, has printed nothing yet, and started less than `agent.idle_after` ago;
- `working`: it printed something, or its processes used CPU time, in the last `idle_after`;
- `waiting`: it runs but is quiet: its last line of output matches `agent.waiting_pattern`
  (a prompt) and it has used no CPU since it printed that, or it has been quiet for longer than
  `idle_after`;
- `exited N`: it ended by itself with exit code N;
- `stopped`: it was ended by a signal (`wtpool stop`, a kill), or is gone with no record.

Output is the log's modification time (a tmux agent's pane is piped into the same log). CPU time
needs two looks: each look keeps the agent's total CPU time, and when it last changed, in
`.agent-worktrees/logs/<slot>.activity.json`, so that `status`, called once, can still tell an
agent that computes in silence from one that waits. The first look knows no earlier total, and
judges by output alone.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

from worktree_pool.agents.logs import activity_path, log_path
from worktree_pool.agents.membership import AgentGroup, members_of
from worktree_pool.agents.process import AgentProcess
from worktree_pool.agents.process_table import ProcessTable
from worktree_pool.agents.terminal import last_screen_line
from worktree_pool.git.repo import Repository
from worktree_pool.store.slots import Slot
from worktree_pool.util.private import replace_private

# The end of the log that is read for its last line.
_TAIL_BYTES = 8192
_ESCAPES = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])")
# The line the runner's launcher writes before the agent's own output.
_HEADER = "--- wtpool: "


@dataclass(frozen=True)
class Activity:
    state: str  # starting, working, waiting, exited, stopped
    exit_code: int | None = None  # for exited
    last_line: str | None = None  # the last line of output, escapes removed
    quiet_for: float | None = None  # seconds since the last output or CPU time

    @property
    def label(self) -> str:
        return f"exited {self.exit_code}" if self.state == "exited" else self.state


def agent_activity(
    repo: Repository, slot: Slot, process: AgentProcess | None, table: ProcessTable
) -> Activity | None:
    """The activity of the slot's agent (see agent_process); None when it has none."""
    if process is None:
        return None
    if process.state != "running":
        code = process.exit_code
        return Activity("exited", code) if code is not None and code >= 0 else Activity("stopped")
    settings = repo.config.agent
    now = time.time()
    log = log_path(repo, slot.name)
    output_at, line = _last_output(log)
    if settings.terminal == "tmux":
        line = last_screen_line(repo, slot.name) or line
    group = AgentGroup.of(slot)
    cpu_at = _cpu_changed_at(repo, slot.name, _cpu_total(group, table), now) if group else None
    active_at = max(filter(None, (output_at, cpu_at))) if (output_at or cpu_at) else now
    quiet = max(0.0, now - active_at)
    if line is None:  # nothing printed yet
        state = "starting" if quiet < settings.idle_after else "waiting"
    elif re.search(settings.waiting_pattern, line) and (cpu_at is None or cpu_at <= output_at):
        state = "waiting"
    else:
        state = "waiting" if quiet >= settings.idle_after else "working"
    return Activity(state, None, line, round(quiet, 1))


def _last_output(log: Path) -> tuple[float | None, str | None]:
    """When the agent last wrote to its log, and its last non-empty line (None: none yet)."""
    try:
        with log.open("rb") as handle:
            size = handle.seek(0, 2)
            handle.seek(max(0, size - _TAIL_BYTES))
            tail = handle.read().decode(errors="replace")
            written = log.stat().st_mtime
    except OSError:
        return None, None
    lines = [_ESCAPES.sub("", text).strip() for text in tail.replace("\r", "\n").split("\n")]
    shown = [text for text in lines if text]
    if not shown or shown[-1].startswith(_HEADER):
        return written, None
    return written, shown[-1]


def _cpu_total(group: AgentGroup, table: ProcessTable) -> float:
    import psutil  # only for a slot with a running agent

    total = 0.0
    for pid in members_of(group, table):
        with contextlib.suppress(psutil.Error):
            times = psutil.Process(pid).cpu_times()
            total += times.user + times.system
    return round(total, 2)


def _cpu_changed_at(repo: Repository, slot: str, total: float, now: float) -> float | None:
    """When the agent's CPU total last changed, as far as the looks so far know."""
    path = activity_path(repo, slot)
    try:
        seen = json.loads(path.read_text(encoding="utf-8"))
        previous, changed_at = float(seen["cpu"]), seen["changed_at"]
    except (OSError, ValueError, KeyError, TypeError):
        previous, changed_at = None, None
    if previous is not None and total == previous:
        return changed_at
    changed_at = now if previous is not None else None
    with contextlib.suppress(OSError):
        replace_private(path, json.dumps({"cpu": total, "changed_at": changed_at}))
    return changed_at

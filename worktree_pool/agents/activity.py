"""What an agent is doing: starting, working, waiting for someone, exited, or stopped.

- `starting`: it runs, has printed nothing yet, and started less than `agent.idle_after` ago;
- `working`: it printed something, or its processes used CPU time, in the last `idle_after`;
- `waiting`: it runs but is quiet: its last line of output matches `agent.waiting_pattern`
  (a prompt) and it has used no CPU since it printed that, or it has been quiet for longer than
  `idle_after`;
- `exited N`: it ended by itself with exit code N;
- `stopped`: wtpool stopped it (`stop`, `release`, `cleanup`), whatever exit code it then ended
  with (a shell whose child died of the SIGTERM first exits 143 on its own), or a signal ended
  it, or it is gone with no record.

Output is the log's modification time (a tmux agent's pane is piped into the same log); the
last line is the log's (escapes removed) or, in tmux, the last line the pane shows. CPU time
needs two looks: each look (status, monitor, the daemon) keeps the agent's total CPU time, when
it looked, and between which looks the total last changed, in
`.agent-worktrees/logs/<slot>.activity.json`, so that `status`, called once, can still tell an
agent that computes in silence from one that waits. The first look knows no earlier total, and
judges by output alone. A change between two looks is placed as late as it could be for
`working` (it counts as activity when the later look saw it) and as early as it could be for a
prompt (it may be the work that printed it): so an agent that works, then asks, is `waiting` at
the first look after it asked, not `idle_after` later.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

from worktree_pool.agents.logs import activity_path, log_path, stopped_path
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
    exit_code: int | None = None  # for exited, and for stopped when its end was recorded
    last_line: str | None = None  # the last line of output, escapes removed
    quiet_for: float | None = None  # seconds since the last output or CPU time

    @property
    def label(self) -> str:
        return f"exited {self.exit_code}" if self.state == "exited" else self.state


def agent_activity(
    repo: Repository,
    slot: Slot,
    process: AgentProcess | None,
    table: ProcessTable,
    cpu_seconds: float | None = None,
) -> Activity | None:
    """The activity of the slot's agent (see agent_process); None when it has none.
    `cpu_seconds`: the agent's CPU time, when the caller has summed it already (a monitor's
    sample reads every member's times anyway)."""
    if process is None:
        return None
    if process.state != "running":
        code = process.exit_code
        if code is None or code < 0 or stopped_path(repo, slot.name).exists():
            return Activity("stopped", code)
        return Activity("exited", code)
    settings = repo.config.agent
    now = time.time()
    log = log_path(repo, slot.name)
    output_at, line = _last_output(log)
    if settings.terminal == "tmux":
        line = last_screen_line(repo, slot.name) or line
    group = AgentGroup.of(slot)
    total = round(cpu_seconds, 2) if cpu_seconds is not None else None
    if total is None and group is not None:
        total = _cpu_total(group, table)
    cpu = _cpu_change(repo, slot.name, total, now) if total is not None else None
    cpu_at = cpu.at if cpu else None
    active_at = max(filter(None, (output_at, cpu_at))) if (output_at or cpu_at) else now
    quiet = max(0.0, now - active_at)
    if line is None:  # nothing printed yet
        state = "starting" if quiet < settings.idle_after else "waiting"
    elif re.search(settings.waiting_pattern, line) and not _cpu_since(cpu, output_at):
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


@dataclass(frozen=True)
class _CpuChange:
    """The last change the looks saw in the agent's CPU total: it happened after `after` (the
    look before, which saw the old total) and by `at` (the look that saw the new one)."""

    after: float
    at: float


def _cpu_since(change: _CpuChange | None, output_at: float | None) -> bool:
    """Whether the agent surely used CPU time after its last output. A change the looks place
    around the output may have been the work that printed it: that is not after it, or an
    agent that worked, then asked, would look busy until idle_after had passed."""
    return change is not None and output_at is not None and change.after > output_at


def _cpu_change(repo: Repository, slot: str, total: float, now: float) -> _CpuChange | None:
    """The last change of the agent's CPU total, as far as the looks so far know; each look
    keeps what it saw in the activity file."""
    path = activity_path(repo, slot)
    try:
        seen = json.loads(path.read_text(encoding="utf-8"))
        previous, looked_at = float(seen["cpu"]), float(seen["looked_at"])
        change = _CpuChange(*seen["change"]) if seen["change"] else None
    except (OSError, ValueError, KeyError, TypeError):
        previous, looked_at, change = None, None, None
    if previous is not None and looked_at is not None and total != previous:
        change = _CpuChange(looked_at, now)
    kept = [change.after, change.at] if change else None
    record = {"cpu": total, "looked_at": now, "change": kept}
    with contextlib.suppress(OSError):
        replace_private(path, json.dumps(record))
    return change

"""Telling someone when an agent's state changes: `hooks.on_state_change`.

A watcher (the daemon, or `monitor` while no daemon runs, so that one change is told once)
keeps each slot's last agent state and runs the hook for each change, with `WTPOOL_SLOT`,
`WTPOOL_STATE` (starting, working, waiting, exited N, stopped) and `WTPOOL_TASK` set. The states
found at its first look are where it starts from, not changes; so are the states it finds after
it has stopped looking for a while (see forget), since it cannot tell what it missed.

The hook runs in the background, in a session of its own, its output in
`.agent-worktrees/logs/notify.log`, so a slow notifier never holds a frame up. Nothing it does
stops the watcher: one that cannot start, exits non-zero or runs past `hooks.timeout` (then it
is stopped with all it started) is noted in notify.log and returned as a note, which the
monitor shows and the daemon logs. Like every repository hook, it runs only once trusted (see
pool/slot_hooks.py).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from worktree_pool.agents.logs import LOG_DIR
from worktree_pool.agents.process import program_path
from worktree_pool.errors import WtpoolError
from worktree_pool.git.repo import Repository
from worktree_pool.git.run import environment_without_locations
from worktree_pool.monitor.resources import AgentUse
from worktree_pool.pool.slot_hooks import hooks_in_effect
from worktree_pool.store.protocol import Store
from worktree_pool.store.slots import Slot
from worktree_pool.store.values import utc_now
from worktree_pool.util.private import open_private
from worktree_pool.util.processes import GROUP_VARIABLE

NOTIFY_LOG = "notify.log"
_KEY = "hooks.on_state_change"


@dataclass
class _Running:
    process: subprocess.Popen
    deadline: float  # time.monotonic()
    what: str  # the slot and state it tells of, for notes


class StateNotifier:
    def __init__(self, repo: Repository, store: Store) -> None:
        self.repo = repo
        self.store = store
        self._seen: dict[str, str] | None = None
        self._running: list[_Running] = []
        self._told_untrusted = False

    def forget(self) -> None:
        """Start again from the next look (which is then not a change): while another watcher
        tells of changes, this one's memory goes stale."""
        self._seen = None

    def observe(self, agents: list[AgentUse], slots: list[Slot]) -> list[str]:
        """Run the hook for each agent whose state changed since the last look; return what
        went wrong, in words. Never raises for a hook: the watcher must go on."""
        states = {agent.slot: agent.activity for agent in agents if agent.activity}
        changed = (
            []
            if self._seen is None
            else [(slot, state) for slot, state in states.items() if self._seen.get(slot) != state]
        )
        self._seen = states
        notes = self._tidy()
        if not changed:
            return notes
        try:
            hooks = hooks_in_effect(self.repo, self.store)
        except (WtpoolError, OSError) as exc:
            message = exc.message if isinstance(exc, WtpoolError) else str(exc)
            return [*notes, self._record(f"{_KEY} not run: {message}")]
        if not hooks.on_state_change:
            untrusted = hooks.untrusted and self.repo.config.hooks.on_state_change
            if untrusted and not self._told_untrusted:  # once, not at every change
                self._told_untrusted = True
                notes.append(self._record(f"{hooks.untrusted}: {_KEY} did not run"))
            return notes
        tasks = {slot.name: slot.task or "" for slot in slots}
        for slot, state in changed:
            notes += self._start(hooks.on_state_change, slot, state, tasks.get(slot, ""))
        return notes

    def reaped(self, pid: int, code: int) -> None:
        """A hook of ours that someone else reaped (the daemon reaps all its children): keep
        its exit code for the next look."""
        for running in self._running:
            if running.process.pid == pid and running.process.returncode is None:
                running.process.returncode = code

    def _start(self, command: tuple[str, ...], slot: str, state: str, task: str) -> list[str]:
        variables = {"WTPOOL_SLOT": slot, "WTPOOL_STATE": state, "WTPOOL_TASK": task}
        inherited = environment_without_locations(GROUP_VARIABLE)
        try:
            with open_private(self._log(), "ab") as out:
                out.write(f"--- wtpool: {utc_now()} {slot} {state}: {list(command)}\n".encode())
                out.flush()
                process = subprocess.Popen(
                    [program_path(self.repo, command[0]), *command[1:]],
                    cwd=self.repo.root,
                    env={**inherited, **variables},
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        except OSError as exc:
            return [self._record(f"{_KEY} for {slot} {state} could not start: {exc}")]
        deadline = time.monotonic() + self.repo.config.hooks.timeout
        self._running.append(_Running(process, deadline, f"{slot} {state}"))
        return []

    def _tidy(self) -> list[str]:
        """Reap the hooks that ended; stop those past their time. What went wrong, in words."""
        notes, running = [], []
        for hook in self._running:
            code = hook.process.poll()
            if code is None and time.monotonic() > hook.deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(hook.process.pid, signal.SIGKILL)
                with contextlib.suppress(ChildProcessError):
                    hook.process.wait()
                timeout = self.repo.config.hooks.timeout
                notes.append(
                    self._record(
                        f"{_KEY} for {hook.what} ran longer than hooks.timeout "
                        f"({timeout:g} s): stopped"
                    )
                )
            elif code is None:
                running.append(hook)
            elif code != 0:
                notes.append(self._record(f"{_KEY} for {hook.what} exited {code}"))
        self._running = running
        return notes

    def _log(self) -> Path:
        log = self.repo.pool_dir / LOG_DIR / NOTIFY_LOG
        log.parent.mkdir(mode=0o700, exist_ok=True)
        return log

    def _record(self, note: str) -> str:
        """Keep `note` in notify.log too (best effort: a note must never stop the watcher)."""
        with contextlib.suppress(OSError):
            log = self._log()
            with open_private(log, "ab") as out:
                out.write(f"--- wtpool: {utc_now()} {note}\n".encode())
            return f"{note} (see {os.path.relpath(log, self.repo.root)})"
        return note

"""Telling someone when an agent's state changes: `hooks.on_state_change`.

A watcher (the daemon, or `monitor` while no daemon runs, so that one change is told once)
keeps each slot's last agent state and runs the hook for each change, with `WTPOOL_SLOT`,
`WTPOOL_STATE` (starting, working, waiting, exited N, stopped) and `WTPOOL_TASK` set. The states
found at its first look are where it starts from, not changes. The hook runs in the background,
its output in `.agent-worktrees/logs/notify.log`, so a slow notifier never holds a frame up;
one that runs past `hooks.timeout` is stopped with all it started. Like every repository hook,
it runs only once trusted (see pool/slot_hooks.py).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time

from worktree_pool.agents.logs import LOG_DIR
from worktree_pool.agents.process import program_path
from worktree_pool.git.repo import Repository
from worktree_pool.monitor.resources import AgentUse
from worktree_pool.pool.slot_hooks import hooks_in_effect
from worktree_pool.store.protocol import Store
from worktree_pool.store.slots import Slot
from worktree_pool.util.private import open_private


class StateNotifier:
    def __init__(self, repo: Repository, store: Store) -> None:
        self.repo = repo
        self.store = store
        self._seen: dict[str, str] | None = None
        self._running: list[tuple[subprocess.Popen, float]] = []

    def observe(self, agents: list[AgentUse], slots: list[Slot]) -> list[str]:
        """Run the hook for each agent whose state changed since the last look; return what
        went wrong, in words."""
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
        hooks = hooks_in_effect(self.repo, self.store)
        if not hooks.on_state_change:
            return notes + ([hooks.untrusted] if hooks.untrusted else [])
        tasks = {slot.name: slot.task or "" for slot in slots}
        for slot, state in changed:
            notes += self._start(hooks.on_state_change, slot, state, tasks.get(slot, ""))
        return notes

    def _start(self, command: tuple[str, ...], slot: str, state: str, task: str) -> list[str]:
        variables = {"WTPOOL_SLOT": slot, "WTPOOL_STATE": state, "WTPOOL_TASK": task}
        log = self.repo.pool_dir / LOG_DIR / "notify.log"
        log.parent.mkdir(mode=0o700, exist_ok=True)
        with open_private(log, "ab") as out:
            try:
                process = subprocess.Popen(
                    [program_path(self.repo, command[0]), *command[1:]],
                    cwd=self.repo.root,
                    env={**os.environ, **variables},
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as exc:
                return [f"hooks.on_state_change could not start: {exc.strerror or exc}"]
        self._running.append((process, time.monotonic() + self.repo.config.hooks.timeout))
        return []

    def _tidy(self) -> list[str]:
        """Reap the hooks that ended; stop those past their time."""
        notes, running = [], []
        for process, deadline in self._running:
            code = process.poll()
            if code is None and time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                notes.append("hooks.on_state_change ran longer than hooks.timeout: stopped")
            elif code is None:
                running.append((process, deadline))
            elif code != 0:
                notes.append(f"hooks.on_state_change exited {code}")
        self._running = running
        return notes

"""An agent's output as `wtpool logs` shows it: the slot's log, whole or followed as it grows.

Followed until the agent has ended (its processes are gone and nothing more will be written),
so `logs -f` in a script returns when the agent does.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from worktree_pool.agents.logs import log_path
from worktree_pool.agents.process import is_running
from worktree_pool.errors import WtpoolError
from worktree_pool.git.repo import Repository
from worktree_pool.store.slots import Slot

# Seconds between looks at a followed log.
_POLL = 0.2
# Looks between checks that the agent still runs (each reads the process table).
_LOOKS_PER_CHECK = 5


def log_chunks(repo: Repository, slot: Slot, *, follow: bool) -> Iterator[bytes]:
    """The slot's log, and with `follow` what is appended to it until the agent ends."""
    path = log_path(repo, slot.name)
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise WtpoolError(
            f"{slot.name} has no agent log yet",
            "spawn starts agents with a log (agent.command in wtpool.yaml)",
        ) from None
    with handle:
        yield handle.read()
        looks = 0
        while follow:
            chunk = handle.read()
            if chunk:
                yield chunk
                continue
            looks += 1
            if looks % _LOOKS_PER_CHECK == 0 and not is_running(slot):
                yield handle.read()  # what it wrote as it ended
                return
            time.sleep(_POLL)

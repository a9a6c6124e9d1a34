"""A test hook: named points in wtpool's multi-step operations where a test can stop a process
dead, to prove that a `kill -9` at that moment leaves something that the next run, `doctor` or
`cleanup` can finish.

    WTPOOL_TEST_POINT=merge.swapped:kill           SIGKILL this process at that point
    WTPOOL_TEST_POINT=merge.swapped:wait:/tmp/go   create /tmp/go.reached, then wait until
                                                   /tmp/go exists (to act in the gap)

Unset, as it always is in use, a point costs one lookup in the environment.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

VARIABLE = "WTPOOL_TEST_POINT"


def reached(name: str) -> None:
    setting = os.environ.get(VARIABLE)
    if not setting:
        return
    point, _, action = setting.partition(":")
    if point != name:
        return
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action.startswith("wait:"):
        gate = Path(action.removeprefix("wait:"))
        Path(f"{gate}.reached").touch()
        while not gate.exists():
            time.sleep(0.01)

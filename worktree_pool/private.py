"""Files only their owner can read: wtpool's state, logs and locks, and what it hands an agent
(which may hold a database password). Each is created 0600 from the start, so there is no
moment in which another user could open it. Standard library only: the agent runner uses it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any

PRIVATE_FILE_MODE = 0o600
_FLAGS = {
    "a": os.O_WRONLY | os.O_CREAT | os.O_APPEND,
    "ab": os.O_WRONLY | os.O_CREAT | os.O_APPEND,
    "w": os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
}


def open_private(path: Path, mode: str = "a") -> IO[Any]:
    fd = os.open(path, _FLAGS[mode], PRIVATE_FILE_MODE)
    return os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8")


def write_private(path: Path, text: str) -> None:
    with open_private(path, "w") as out:
        out.write(text)

"""Files only their owner can read: wtpool's state, logs and locks, and what it hands an agent
(which may hold a database password). Each is created 0600 from the start, so there is no
moment in which another user could open it, and one found with a wider mode (made by hand, or
checked out by git) is made 0600 before anything is written to it.

Nothing is ever written through a link: some of these files sit where an agent can write (the
hand-off file at a slot's root), and wtpool may run as root. A symbolic link, a hard link to
another file, or anything that is not a plain file is refused. Standard library only: the
agent runner uses it.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import IO, Any

from worktree_pool.errors import WtpoolError

PRIVATE_FILE_MODE = 0o600
# O_NONBLOCK: opening a FIFO for writing would otherwise wait for a reader forever.
_SAFE = os.O_NOFOLLOW | os.O_NONBLOCK
_FLAGS = {
    "a": os.O_WRONLY | os.O_CREAT | os.O_APPEND,
    "ab": os.O_WRONLY | os.O_CREAT | os.O_APPEND,
    "w": os.O_WRONLY | os.O_CREAT,  # truncated once checked: not through a link
}


def open_private(path: Path, mode: str = "a") -> IO[Any]:
    try:
        fd = os.open(path, _FLAGS[mode] | _SAFE, PRIVATE_FILE_MODE)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENXIO):
            raise _refused(path, "a link or a pipe") from exc
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
            raise _refused(path, "not a plain file of its own (a hard link, a device...)")
        if stat.S_IMODE(info.st_mode) != PRIVATE_FILE_MODE:
            os.fchmod(fd, PRIVATE_FILE_MODE)
        if mode == "w":
            os.ftruncate(fd, 0)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8")


def write_private(path: Path, text: str) -> None:
    with open_private(path, "w") as out:
        out.write(text)


def _refused(path: Path, what: str) -> WtpoolError:
    return WtpoolError(
        f"refusing to write {path}: it is {what}",
        "wtpool writes its own files only; remove that one and try again",
    )

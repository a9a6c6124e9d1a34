"""Files only their owner can read: wtpool's state, logs and locks, and what it hands an agent
(which may hold a database password). Each is created 0600 from the start, so there is no
moment in which another user could open it, and one found with a wider mode (made by hand, or
checked out by git) is made 0600 before anything is written to it.

Nothing is ever written through a link: some of these files sit where an agent can write (the
hand-off file at a slot's root), and wtpool may run as root. A symbolic link, a hard link to
another file, or anything that is not a plain file is refused. Standard library only: the
agent runner uses it.

`open_private` refuses a link as the last component; the `*_inside` functions, for files in a
slot, whose directories the agent and the repository's checkouts control, refuse one anywhere
below the root they are given.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from worktree_pool.errors import WtpoolError

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700
# O_NONBLOCK: opening a FIFO for writing would otherwise wait for a reader forever.
_SAFE = os.O_NOFOLLOW | os.O_NONBLOCK
_FLAGS = {
    "a": os.O_WRONLY | os.O_CREAT | os.O_APPEND,
    "ab": os.O_WRONLY | os.O_CREAT | os.O_APPEND,
    "w": os.O_WRONLY | os.O_CREAT,  # truncated once checked: not through a link
}


def open_private(path: Path, mode: str = "a") -> IO[Any]:
    return _open_checked(path, mode)


def _open_checked(path: Path, mode: str, dir_fd: int | None = None) -> IO[Any]:
    """Open `path` (relative to `dir_fd`, if given) as a private file: never through a link,
    only a plain file of its own, made 0600 before anything is written."""
    try:
        fd = os.open(path, _FLAGS[mode] | _SAFE, PRIVATE_FILE_MODE, dir_fd=dir_fd)
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


def replace_private(path: Path, text: str) -> None:
    """Replace the file at `path` in one step (a reader sees the old file or the new, never
    half of one), as a private file, making its directory (0700) if it is missing."""
    path.parent.mkdir(mode=PRIVATE_DIR_MODE, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write_private(temporary, text)
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)


def _refused(path: Path, what: str) -> WtpoolError:
    return WtpoolError(
        f"refusing to write {path}: it is {what}",
        "wtpool writes its own files only; remove that one and try again",
    )


@contextlib.contextmanager
def _parent_inside(root: Path, relative: str, *, create: bool) -> Iterator[tuple[int, str]]:
    """(a descriptor of the directory that holds `relative` under `root`, the file's name).

    Each directory is opened without following links, so a link on the way raises OSError
    (ELOOP, or ENOTDIR for a file) rather than leading outside `root`. With `create`, missing
    directories are made 0700; without it, a missing one raises FileNotFoundError.
    """
    *directories, name = relative.split("/")
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for directory in directories:
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(directory, PRIVATE_DIR_MODE, dir_fd=fd)
            inner = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = inner
        yield fd, name
    finally:
        os.close(fd)


def write_private_inside(root: Path, relative: str, text: str) -> None:
    """Write `root/relative` (0600), making its directories, with no link followed. A link
    at `relative` itself is replaced: the caller owns that name."""
    with _parent_inside(root, relative, create=True) as (parent, name):
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISLNK(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode):
                os.unlink(name, dir_fd=parent)
        with _open_checked(Path(name), "w", dir_fd=parent) as out:
            out.write(text)


def starts_with_inside(root: Path, relative: str, prefix: str) -> bool:
    """Whether `root/relative` is a regular file, reached with no link followed, that begins
    with `prefix`."""
    expected = prefix.encode()
    try:
        with _parent_inside(root, relative, create=False) as (parent, name):
            # O_NONBLOCK: a FIFO put there must not hang us; it is not a regular file anyway.
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=parent)
            with os.fdopen(fd, "rb") as handle:
                return stat.S_ISREG(os.fstat(fd).st_mode) and handle.read(len(expected)) == expected
    except OSError:
        return False


def unlink_inside(root: Path, relative: str) -> None:
    """Delete `root/relative` if it can be reached with no link followed, then the directories
    it leaves empty. Best effort: what cannot be deleted stays."""
    with contextlib.suppress(OSError), _parent_inside(root, relative, create=False) as found:
        os.unlink(found[1], dir_fd=found[0])
    directories = relative.split("/")[:-1]
    while directories:
        try:
            with _parent_inside(root, "/".join(directories), create=False) as (parent, name):
                os.rmdir(name, dir_fd=parent)
        except OSError:  # not empty, or not a directory: it stays, and so do its parents
            return
        directories.pop()

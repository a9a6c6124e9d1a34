"""Copying a file tree the way `cp -a --reflink=auto` does, without ever leaving a given root.

Each file is first cloned (`FICLONE`: the copy shares the source's blocks until either is
written, so a 200 MB `node_modules` costs metadata only, on XFS, Btrfs, bcachefs or ZFS); where
the file system cannot, `os.copy_file_range` copies in the kernel; where that is refused too, a
plain read and write. Once cloning fails between two file systems it is not tried again between
them: a tree of 50,000 files would otherwise try 50,000 times.

Links are never followed. A symbolic link is copied as a link when what it points to, read from
where the link is in the source, stays inside `root` (the repository); any other link is refused
and reported, and the rest is copied. So is an entry deleted while the tree is walked (a build
running in the main worktree). Modes and modification times are kept, so a copied build cache
stays as fresh as the original. Standard library only. (GNU `cp -a --reflink=auto` was
measured on a 200 MB tree: no faster than this loop, which also refuses links out of the root.)
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

# linux/fs.h: _IOW(0x94, 9, int)
_FICLONE = 0x40049409
# Errors that mean "this file system cannot", not "this file is wrong".
_CANNOT = {errno.EOPNOTSUPP, errno.ENOTTY, errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EPERM}
_CHUNK = 1 << 24


@dataclass
class CopyTally:
    """What one or more copies did, counted as they go."""

    files: int = 0
    bytes: int = 0
    cloned: int = 0  # files copied by FICLONE, sharing their blocks
    links: int = 0  # symbolic links made
    refused: list[str] = field(default_factory=list)  # each: a path, and why not

    @property
    def method(self) -> str:
        if self.files == 0:
            return "link" if self.links else "none"
        if self.cloned == self.files:
            return "reflink"
        return "copy" if self.cloned == 0 else "reflink and copy"


class TreeCopier:
    """Copies entries from under `root`; remembers which pairs of file systems cannot clone."""

    def __init__(self, root: Path, progress: Callable[[int], None] | None = None) -> None:
        self.root = root.resolve()
        self.tally = CopyTally()
        self._progress = progress
        self._no_clone: set[tuple[int, int]] = set()

    def copy(self, source: Path, target: Path) -> None:
        """Copy the file, link or directory `source` to `target`, which must not exist."""
        self._copy_entry(str(source), str(target), target.parent.stat().st_dev)

    def link(self, source: Path, target: Path) -> None:
        """Make `target` a symbolic link to `source`, unless `source` leads out of the root."""
        if source.is_symlink() and not self._inside(source.resolve()):
            self.tally.refused.append(f"{source}: a link to {os.readlink(source)}, outside")
            return
        target.symlink_to(source.absolute())
        self.tally.links += 1

    def _inside(self, path: Path) -> bool:
        return path == self.root or self.root in path.parents

    def _copy_entry(self, source: str, target: str, device: int) -> None:
        """Strings, not paths, below here: a tree of 50,000 files is 50,000 calls."""
        try:
            info = os.lstat(source)
            if stat.S_ISLNK(info.st_mode):
                self._copy_link(source, target, info)
            elif stat.S_ISDIR(info.st_mode):
                self._copy_directory(source, target, info)
            elif stat.S_ISREG(info.st_mode):
                self._copy_file(source, target, info, device)
            else:
                self.tally.refused.append(f"{source}: not a file, directory or link")
        except FileNotFoundError:
            if os.path.lexists(source):  # the target side is missing: that is no race
                raise
            self.tally.refused.append(f"{source}: deleted while it was being copied")

    def _copy_link(self, source: str, target: str, info: os.stat_result) -> None:
        pointed = os.readlink(source)
        if not self._inside(Path(os.path.dirname(source), pointed).resolve()):
            self.tally.refused.append(f"{source}: a link to {pointed}, outside the repository")
            return
        os.symlink(pointed, target)
        os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns), follow_symlinks=False)
        self.tally.links += 1

    def _copy_directory(self, source: str, target: str, info: os.stat_result) -> None:
        os.mkdir(target, 0o700)
        device = os.stat(target).st_dev
        with os.scandir(source) as entries:
            for entry in entries:
                self._copy_entry(entry.path, os.path.join(target, entry.name), device)
        os.chmod(target, stat.S_IMODE(info.st_mode))
        os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns))

    def _copy_file(self, source: str, target: str, info: os.stat_result, device: int) -> None:
        src = os.open(source, os.O_RDONLY | os.O_NOFOLLOW)
        try:
            out = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            try:
                pair = (info.st_dev, device)
                if pair not in self._no_clone and _clone(src, out):
                    self.tally.cloned += 1
                else:
                    self._no_clone.add(pair)
                    _copy_contents(src, out, info.st_size)
                os.fchmod(out, stat.S_IMODE(info.st_mode))
                os.utime(out, ns=(info.st_atime_ns, info.st_mtime_ns))
            finally:
                os.close(out)
        finally:
            os.close(src)
        self.tally.files += 1
        self.tally.bytes += info.st_size
        if self._progress is not None:
            self._progress(self.tally.bytes)


def _clone(source: int, target: int) -> bool:
    """Whether the file system cloned `source` into `target`."""
    try:
        fcntl.ioctl(target, _FICLONE, source)
    except OSError as exc:
        if exc.errno in _CANNOT:
            return False
        raise
    return True


def _copy_contents(source: int, target: int, size: int) -> None:
    """copy_file_range where the kernel allows it, else read and write."""
    offset = 0
    with contextlib.suppress(OSError):
        while offset < size:
            copied = os.copy_file_range(source, target, min(_CHUNK, size - offset))
            if copied == 0:
                break
            offset += copied
    os.lseek(source, offset, os.SEEK_SET)
    os.lseek(target, offset, os.SEEK_SET)
    while chunk := os.read(source, 1 << 20):
        os.write(target, chunk)

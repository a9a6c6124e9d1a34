"""One fact read from a worktree's index file without running git: the tree the whole index
amounts to, when the index records it.

Git keeps, in the index's cache-tree extension (TREE), the tree each directory of the index
would be written as, and drops an entry whenever a change under it makes it stale. When the
root entry is there and equals HEAD's tree, the index is exactly HEAD: `wtpool status` then needs
only the working tree's changes from git, not git's comparison of the index with HEAD, which on
a sparse index walks every top-level entry (gitformat-index(5)).
"""

from __future__ import annotations

import struct
from pathlib import Path

_STAT_BYTES = 40  # ctime, mtime, dev, ino, mode, uid, gid, size: ten 32-bit fields
_EXTENDED = 0x4000  # an entry's flag: two more bytes of flags follow (version 3)


def records_tree(index: Path, tree: str) -> bool:
    """Whether the sparse index at `index` records exactly the tree `tree` (hex) for its root:
    then the index holds nothing but that tree."""
    return sparse_index_tree(index, len(tree) // 2) == tree


def sparse_index_tree(index: Path, oid_length: int) -> str | None:
    """The tree (hex) that the sparse index at `index` records for its root; None when git must
    be asked: no file, a full (not sparse) index, a stale root, a split index, an index of
    version 4 (its paths are compressed), or anything this reader does not recognise."""
    try:
        data = index.read_bytes()
        signature, version, count = struct.unpack_from(">4sLL", data)
        if signature != b"DIRC" or version not in (2, 3):
            return None
        position = _after_entries(data, count, oid_length)
        extensions = dict(_extensions(data, position, len(data) - oid_length))
    except (OSError, struct.error, ValueError):
        return None
    if b"sdir" not in extensions or b"link" in extensions or b"TREE" not in extensions:
        return None
    return _root_tree(extensions[b"TREE"], oid_length)


def _after_entries(data: bytes, count: int, oid_length: int) -> int:
    position = 12
    fixed = _STAT_BYTES + oid_length + 2
    for _ in range(count):
        (flags,) = struct.unpack_from(">H", data, position + fixed - 2)
        name = position + fixed + (2 if flags & _EXTENDED else 0)
        end = data.index(b"\0", name)
        # Padded with 1 to 8 NULs to a multiple of 8 bytes (versions 2 and 3).
        position += (end - position + 8) & ~7
    return position


def _extensions(data: bytes, position: int, end: int) -> list[tuple[bytes, bytes]]:
    found = []
    while position + 8 <= end:
        signature, size = struct.unpack_from(">4sL", data, position)
        found.append((signature, data[position + 8 : position + 8 + size]))
        position += 8 + size
    if position != end:
        raise ValueError("extensions do not end at the checksum")
    return found


def _root_tree(tree: bytes, oid_length: int) -> str | None:
    """The root entry comes first: an empty path, NUL, "<entries> <subtrees>\\n", and the tree's
    id unless <entries> is -1 (stale)."""
    if not tree.startswith(b"\0"):
        return None
    line_end = tree.index(b"\n")
    entries = int(tree[1:line_end].split(b" ")[0])
    if entries < 0:
        return None
    oid = tree[line_end + 1 : line_end + 1 + oid_length]
    return oid.hex() if len(oid) == oid_length else None

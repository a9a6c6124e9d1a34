"""Disk used under the pool directory, measured rarely and remembered.

Walking ten full worktrees of a large repository takes most of a second, far more than a
dashboard refresh may cost, so each top-level entry of `.agent-worktrees/` (a slot, the logs,
the embedded server's data...) is measured on its own and remembered in
`.agent-worktrees/.cache/disk.json` with the time it was measured. A reading older than
`monitor.disk_refresh` seconds is measured again; `measure=False` lets a caller with a time
budget (a dashboard refresh) take the remembered values and leave the walk to a background
thread. A writer merges with what is on disk, so another's readings survive its write (unless
both write at the same instant; then one entry is measured again: it is only a cache).

Sizes are what the files occupy on disk (allocated blocks, as `du` counts), each inode once.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from worktree_pool.errors import WtpoolError
from worktree_pool.git.repo import CACHE_DIR_NAME
from worktree_pool.util.private import replace_private

CACHE_FILE = Path(CACHE_DIR_NAME) / "disk.json"


@dataclass(frozen=True)
class EntryUse:
    name: str  # the entry's name under the pool directory
    bytes: int
    measured_at: float  # seconds since the epoch


def tree_bytes(root: Path) -> int:
    """Bytes allocated to `root` and everything below it; symbolic links are not followed."""
    seen: set[tuple[int, int]] = set()
    total = 0
    stack = [str(root)]
    while stack:
        try:
            entries = os.scandir(stack.pop())
        except OSError:  # gone, or not ours to read, since it was listed
            continue
        with entries:
            for entry in entries:
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if info.st_nlink > 1:
                    if (info.st_dev, info.st_ino) in seen:
                        continue
                    seen.add((info.st_dev, info.st_ino))
                total += info.st_blocks * 512
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
    return total


def pool_usage(pool_dir: Path, max_age: float, *, measure: bool = True) -> list[EntryUse]:
    """Each top-level entry of the pool directory, measured again if its reading is older
    than `max_age` seconds (or never, when `measure` is False: the dashboard's path)."""
    cache_path = pool_dir / CACHE_FILE
    remembered = _read(cache_path)
    now = time.time()
    found: list[EntryUse] = []
    changed = False
    try:
        names = sorted(entry.name for entry in os.scandir(pool_dir))
    except OSError:
        return []
    for name in names:
        if name == CACHE_FILE.parts[0]:
            continue
        known = remembered.get(name)
        if known is not None and (not measure or now - known.measured_at < max_age):
            found.append(known)
            continue
        if not measure:
            continue
        found.append(EntryUse(name, tree_bytes(pool_dir / name), time.time()))
        changed = True
    if changed or set(remembered) - set(names):
        _write(cache_path, found, set(names))
    return found


def _read(path: Path) -> dict[str, EntryUse]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {
            name: EntryUse(name, int(item["bytes"]), float(item["measured_at"]))
            for name, item in data.items()
        }
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}  # missing or damaged: measure again


def _write(path: Path, entries: list[EntryUse], present: set[str]) -> None:
    """Merge `entries` into the cache, newest reading first, and forget entries no longer
    `present`; replace the file in one step, so a concurrent reader sees the old or the new."""
    merged = {name: entry for name, entry in _read(path).items() if name in present}
    for entry in entries:
        known = merged.get(entry.name)
        if known is None or known.measured_at < entry.measured_at:
            merged[entry.name] = entry
    data = {e.name: {"bytes": e.bytes, "measured_at": e.measured_at} for e in merged.values()}
    with contextlib.suppress(OSError, WtpoolError):  # a cache not written is only a cache
        replace_private(path, json.dumps(data))

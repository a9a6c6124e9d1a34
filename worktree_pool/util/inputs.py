"""Reading what someone else wrote: a file named on the command line or kept in the repository
(wtpool.yaml, a task file, a message body), which may be huge or endless (`/dev/zero`). Every
such read goes through here, so that it is bounded before wtpool builds anything from it, and
refused with one line that names the file. YAML read from it goes on to yaml_input.py.

Invariant: `read_bounded` never reads more than `limit + 1` bytes.
"""

from __future__ import annotations

import reprlib
from pathlib import Path
from typing import Any

from worktree_pool.errors import bad_input


def describe(value: Any) -> str:
    """A value read from a file, as an error message quotes it: a short repr, built without
    walking more of the value than it shows (a value can be a large structure)."""
    return _SHORT.repr(value)


_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxdict = 2, 4, 4
_SHORT.maxstring = _SHORT.maxother = 40


def read_bounded(path: Path, limit: int, what: str) -> bytes:
    """The bytes of `path`, refused if it holds more than `limit`: at most limit + 1 bytes
    are ever read, whatever the file is (a device, a pipe, one that grows)."""
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise bad_input(f"{path}: cannot read {what}: {exc.strerror or exc}") from exc
    if len(data) > limit:
        raise bad_input(f"{path}: {what} is larger than {limit:,} bytes")
    return data


def read_text_bounded(path: Path, limit: int, what: str) -> str:
    """`read_bounded`, as UTF-8 text."""
    try:
        return read_bounded(path, limit, what).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise bad_input(f"{path}: {what} is not UTF-8 text: {exc.reason}") from exc

"""The safety rules every scope pattern obeys, checked wherever one comes in: a config file, a
task file, a command line.

They sit below the scope package because the config loader checks the patterns it reads, and
the config sits below everything. What a pattern means (anchoring, compilation, overlap) is the
scope package's; this module only refuses what could escape the repository or corrupt a
patterns file.
"""

from __future__ import annotations

import re

from worktree_pool.errors import bad_input


def validate_patterns(
    patterns: list[str] | tuple[str, ...], where: str = "", noun: str = "scope pattern"
) -> tuple[str, ...]:
    """Refuse patterns that could reach outside the repository or corrupt a patterns file."""
    prefix = f"{where}: " if where else ""
    for pattern in patterns:
        body = pattern.removeprefix("!")
        if not body.strip():
            raise bad_input(f"{prefix}empty {noun} {pattern!r}")
        if body != body.strip():
            raise bad_input(f"{prefix}{noun} {pattern!r} has leading or trailing spaces")
        if any(ord(char) < 32 for char in pattern):
            raise bad_input(f"{prefix}{noun} {pattern!r} contains a control character")
        if body.startswith("/") or re.match(r"[A-Za-z]:[\\/]", body):
            raise bad_input(
                f"{prefix}{noun} {pattern!r} is an absolute path",
                "patterns are relative to the repository root: write src/api/, not /src/api/",
            )
        parts = body.split("/")
        if ".." in parts:
            raise bad_input(f"{prefix}{noun} {pattern!r} escapes the repository")
        # Git normalizes these spellings and we would not, so scope and checkout would differ.
        if "." in parts or "" in parts[:-1]:
            raise bad_input(
                f"{prefix}{noun} {pattern!r} has an empty or '.' path component",
                "write paths plainly: src/api/, not ./src/api/ or src//api/",
            )
        if body.startswith("#"):
            raise bad_input(
                f"{prefix}{noun} {pattern!r} would be read as a comment",
                "escape the # with a backslash: \\#name",
            )
    return tuple(patterns)

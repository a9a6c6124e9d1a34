"""Validation of the names users hand to wtpool: slots, agents and tasks.

Names end up in directory names, branch names and later database names, so they are checked
before any side effect. The pattern is the documented one; on top of it we refuse the few strings
that the pattern allows but git refuses as part of a ref name, so that a bad name fails here with
a clear message rather than halfway through creating a branch.
"""

from __future__ import annotations

import re

from worktree_pool.errors import bad_input

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def validate_name(kind: str, value: str) -> str:
    if not NAME_PATTERN.fullmatch(value):
        raise bad_input(
            f"invalid {kind} name {value!r}",
            f"{kind} names are 1-64 characters of letters, digits, '.', '_' and '-', "
            "starting with a letter or digit",
        )
    if ".." in value or value.endswith((".", ".lock")):
        raise bad_input(
            f"invalid {kind} name {value!r}",
            f"{kind} names become git branch names, which cannot contain '..' "
            "or end in '.' or '.lock'",
        )
    return value


def ensure_valid_names(**names: str | None) -> None:
    """Validate several optional names at once, e.g. ensure_valid_names(agent=a, task=t)."""
    for kind, value in names.items():
        if value is not None:
            validate_name(kind, value)

"""Scope patterns as POSIX extended regular expressions, for the commit guard's shell fast path.

The guard's shell part (scope/hooks.py) compares `git diff --cached --name-only` against these
with `grep -E`, one path per line. A path git would quote there (a control character, a quote,
a backslash, any byte above 0x7f, with core.quotePath on) never matches an expression made
here, so the shell hands such a commit to the Python guard.

`exact` is for what the slot may write: it must match exactly the paths the patterns match, or
the shell would allow a commit the guard refuses, so it exists only for plain paths and
directories. `covering` is for what other agents hold: it may match more than the patterns do
(a commit it matches goes to the Python guard, which decides), never less.
"""

from __future__ import annotations

import re

# Characters git prints unquoted (core.quotePath): printable ASCII but `"` and `\`.
_PLAIN = re.compile(r"[ !#-\[\]-~]*")
_GLOB = re.compile(r"[*?\[\\]")
_SPECIAL = re.compile(r"([.^$|()\[\]{}*+?\\])")
MATCHES_ALL = "^"  # what `covering` gives a pattern it cannot narrow down


def exact(patterns: tuple[str, ...]) -> str | None:
    """An ERE matching exactly the paths that these anchored scope patterns (scope/patterns.py)
    match; None unless each is a plain path (`src/app.py`, `src/api`) or directory (`src/api/`,
    `src/api/**`). No pattern matches nothing: `a^` can never match a line."""
    parts = [_plain(pattern) for pattern in patterns]
    if None in parts:
        return None
    return _either(parts)


def covering(patterns: tuple[str, ...]) -> str:
    """An ERE matching at least every path these patterns match: a pattern's plain start (up to
    its first wildcard), and every path when it starts with a wildcard. Negations (`!x`) only
    take paths away, so they are left out."""
    parts = []
    for pattern in patterns:
        if pattern.startswith("!"):
            continue
        part = _plain(pattern)
        if part is None:
            start = _GLOB.split(pattern, 1)[0]
            if not start or not _PLAIN.fullmatch(start):
                return MATCHES_ALL
            part = _escaped(start)
        parts.append(part)
    return _either(parts)


def _plain(pattern: str) -> str | None:
    """The ERE, without its anchor, of a plain path or directory pattern; None for others."""
    body = pattern.removesuffix("/**").removesuffix("/")
    if (
        not body
        or pattern.startswith("!")
        or _GLOB.search(body)
        or not _PLAIN.fullmatch(body)
        or "//" in body
        or body.startswith("/")
    ):
        return None
    return _escaped(body) + ("/" if pattern.endswith(("/", "/**")) else "(/|$)")


def _either(parts: list[str | None]) -> str:
    return f"^({'|'.join(str(part) for part in parts)})" if parts else "a^"


def _escaped(text: str) -> str:
    return _SPECIAL.sub(r"\\\1", text)

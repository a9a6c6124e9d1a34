"""Scope patterns: validation, anchoring, and compilation for the commit guard.

A scope pattern is gitignore syntax with one difference: every pattern is anchored at the
repository root, as a path is. `README.md` means the root README, `docs/*.md` the Markdown files
directly in docs/, `src/api/` everything under src/api, and `**/test_*.py` test files at any
depth. (In plain gitignore a slash-less pattern matches at any depth, which would make
`README.md` in a scope quietly admit every README in the tree.) A leading `!` re-excludes.

Patterns are compiled once, when a scope is applied, into (regex, include) rules with pathspec;
the guard only evaluates those rules with `re`, so a commit never pays for importing pathspec.
"""

from __future__ import annotations

import re

from worktree_pool.errors import bad_input

_GLOB = re.compile(r"[*?\[]")


def check_compiles(patterns: tuple[str, ...]) -> None:
    """Refuse what git's pattern syntax cannot parse, before any scope is stored."""
    compile_rules(patterns)


def anchored(pattern: str) -> str:
    """The gitignore spelling of a scope pattern: rooted at the top of the repository."""
    if pattern.startswith("!"):
        return "!/" + pattern[1:]
    return "/" + pattern


def is_directory(pattern: str, tracked_directories: frozenset[str]) -> bool:
    """Whether a pattern names a whole directory, which cone mode can express.

    `src/api/` and `src/api/**` always do. A bare path does when the tree has a directory by
    that name; otherwise it is taken as a file, tracked or still to be created.
    """
    if pattern.startswith("!") or "\\" in pattern:
        return False
    body = pattern.removesuffix("/**").removesuffix("/")
    if _GLOB.search(body):
        return False
    return pattern.endswith(("/", "/**")) or body in tracked_directories


def is_literal(pattern: str) -> bool:
    """A plain path: no glob, escape or negation."""
    return not (pattern.startswith("!") or "\\" in pattern or _GLOB.search(pattern))


def is_root_file(pattern: str) -> bool:
    """A literal file at the root: cone mode always shows root files."""
    return is_literal(pattern) and "/" not in pattern


def escape(path: str) -> str:
    """A scope pattern that matches exactly this path (for the guard's hint)."""
    escaped = re.sub(r"([*?\[\]\\])", r"\\\1", path)
    return "\\" + escaped if escaped.startswith(("!", "#")) else escaped


def compile_rules(patterns: tuple[str, ...]) -> list[tuple[str, bool]]:
    """(regex, include) rules for `worktree_pool.guard.allows`, in order; last match wins."""
    import pathspec  # only when a scope is applied, never in the guard

    rules = []
    for pattern in patterns:
        try:
            (rule,) = pathspec.GitIgnoreSpec.from_lines([anchored(pattern)]).patterns
            if rule.regex is not None:
                # In git a bracket expression never matches "/"; pathspec's negated class
                # ([!a] -> [^a]) would, so the guard would allow paths git's sparse checkout
                # and the overlap check treat as outside.
                regex = re.sub(r"\[\^(?!/)", "[^/", rule.regex.pattern)
                re.compile(regex)
                rules.append((regex, bool(rule.include)))
        except (ValueError, re.error) as exc:  # pathspec's pattern errors are ValueErrors
            raise bad_input(f"scope pattern {pattern!r} is not valid: {exc}") from exc
    return rules

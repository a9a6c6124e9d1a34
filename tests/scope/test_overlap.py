"""The exact overlap check, against the real matcher and brute force."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worktree_pool.scope import guard
from worktree_pool.scope.overlap import scopes_overlap, witness
from worktree_pool.scope.patterns import compile_rules

SEGMENTS = ["".join(chars) for n in (1, 2) for chars in itertools.product("ab", repeat=n)]
PATHS = ["/".join(parts) for n in (1, 2, 3) for parts in itertools.product(SEGMENTS, repeat=n)]


def matches(pattern: str, path: str) -> bool:
    """The guard's own matcher: what 'a scope covers this path' means everywhere else."""
    return guard.allows(guard.compiled(compile_rules((pattern,))), path)


def _pathspec_reads_like_git(pattern: str) -> bool:
    """pathspec compiles `**/*/`-style patterns to an unanchored regex that matches almost
    nothing, where git means "every directory". The overlap check follows git, so for those it
    may report an overlap the guard would not allow: the safe direction, checked below only as
    "never misses one"."""
    return all(regex.startswith("^") for regex, _ in compile_rules((pattern,)))


token = st.sampled_from(["a", "b", "*", "?", "[ab]", "[!a]"])
segment = st.one_of(st.just("**"), st.lists(token, min_size=1, max_size=3).map("".join))
pattern = st.builds(
    lambda parts, slash: "/".join(parts) + ("/" if slash and parts[-1] != "**" else ""),
    st.lists(segment, min_size=1, max_size=3),
    st.booleans(),
)


@settings(max_examples=400)
@given(first=pattern, second=pattern)
def test_overlap_agrees_with_brute_force(first: str, second: str) -> None:
    found = witness(first, second)
    if found is not None:  # a witness is a real path both really match
        assert "//" not in found and not found.startswith("/") and not found.endswith("/")
        if _pathspec_reads_like_git(first) and _pathspec_reads_like_git(second):
            assert matches(first, found) and matches(second, found), found
    common = [p for p in PATHS if matches(first, p) and matches(second, p)]
    if common:  # and no overlap is ever missed
        assert found is not None, common[0]


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        ("src/a/*.py", "src/*/b.py", "src/a/b.py"),  # one-way text matching misses this
        ("src/api/", "src/api/handlers/x.py", "src/api/handlers/x.py"),
        ("**/test_*.py", "src/test_x.py", "src/test_x.py"),
        ("a/**/b", "a/b", "a/b"),
        ("src/api", "src/apix", None),
        ("docs/*.md", "docs/a/b.md", None),
        ("[ab]*", "c*", None),
    ],
)
def test_known_overlaps(first: str, second: str, expected: str | None) -> None:
    for a, b in ((first, second), (second, first)):
        found = witness(a, b)
        assert (found is None) == (expected is None)
        if found is not None:
            assert matches(a, found) and matches(b, found)


def test_scopes_overlap_on_positive_patterns() -> None:
    shared = scopes_overlap(("src/api/", "docs/"), ("tests/", "docs/*.md"))
    assert shared is not None and shared.startswith("docs/") and shared.endswith(".md")
    assert scopes_overlap(("src/api/",), ("src/db/", "!src/api/")) is None


def test_a_bracket_expression_never_matches_a_slash_as_in_git() -> None:
    assert matches("a[!a]a", "aba") and not matches("a[!a]a", "a/a")
    assert witness("a[!a]a", "a") is None

"""The guard's shell expressions agree with the Python guard: `exact` matches exactly the paths
a scope's rules allow, and `covering` at least every path a reservation's rules take. Checked
with grep itself, the program the hook runs."""

from __future__ import annotations

import re
import subprocess

from hypothesis import given, settings
from hypothesis import strategies as st

from worktree_pool.scope.guard import allows, compiled
from worktree_pool.scope.patterns import compile_rules
from worktree_pool.util.ere import MATCHES_ALL, covering, exact

_NAMES = st.sampled_from(["a", "b", "a.b", "a+b", "x(1)", "c d", "é", "q*", "a.py"])
_PATHS = st.lists(_NAMES, min_size=1, max_size=3).map("/".join)
_LITERAL = st.tuples(_PATHS, st.sampled_from(["", "/", "/**"])).map("".join)
_ANY = st.one_of(_LITERAL, st.sampled_from(["a/*.py", "**/b", "!a/b", "a/b?", "[ab]/a", "*"]))


def _grep(expression: str, paths: list[str]) -> set[str]:
    found = subprocess.run(
        ["grep", "-E", expression],
        input="".join(f"{path}\n" for path in paths).encode(),
        capture_output=True,
        check=False,
    )
    assert found.returncode in (0, 1), found.stderr
    return set(found.stdout.decode().splitlines())


def _quotable(path: str) -> bool:
    """What git quotes with core.quotePath: the hook hands such a commit to Python."""
    return not re.fullmatch(r"[ !#-\[\]-~]*", path)


@settings(max_examples=60, deadline=None)
@given(st.lists(_LITERAL, min_size=1, max_size=4), st.lists(_PATHS, min_size=1, max_size=12))
def test_exact_matches_what_the_scope_allows(patterns: list[str], paths: list[str]) -> None:
    expression = exact(tuple(patterns))
    if expression is None:  # a name git would quote, or a glob character: always Python
        assert any(_quotable(p) or "*" in p for p in patterns)
        return
    rules = compiled(compile_rules(tuple(patterns)))
    plain = [path for path in paths if not _quotable(path)]
    assert _grep(expression, plain) == {path for path in plain if allows(rules, path)}


@settings(max_examples=60, deadline=None)
@given(st.lists(_ANY, min_size=1, max_size=4), st.lists(_PATHS, min_size=1, max_size=12))
def test_covering_takes_at_least_what_a_reservation_holds(
    patterns: list[str], paths: list[str]
) -> None:
    rules = compiled(compile_rules(tuple(patterns)))
    plain = [path for path in paths if not _quotable(path)]
    held = {path for path in plain if allows(rules, path)}
    assert held <= _grep(covering(tuple(patterns)), plain)


def test_a_pattern_that_starts_with_a_wildcard_covers_everything() -> None:
    assert covering(("src/api/", "**/test_*.py")) == MATCHES_ALL
    assert covering(("src/*.py", "!src/x.py")) == "^(src/)"
    assert exact(("src/*.py",)) is None and exact(("!src/",)) is None

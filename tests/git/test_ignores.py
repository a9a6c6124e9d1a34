"""The base's ignore rules, rewritten into one root-level exclude list, agree with git."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import git
from worktree_pool.git.ignores import untracked_work
from worktree_pool.git.run import Git

_NAMES = ("a", "b", "c.log", "d d")
_PATTERNS = (
    "a", "/a", "a/", "*.log", "!c.log", "b/a", "**/a", "b/**", "*", "!b/", "d\\ d", "/b/c.log",
    "# a", "\\#x", "a ", "!*.log", "[ab]", "?", "b/*/a",
)  # fmt: skip


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rules=st.dictionaries(
        st.sampled_from(("", "b", "a", "b/a", "d d", "b/b")),
        st.lists(st.sampled_from(_PATTERNS), min_size=1, max_size=4),
        max_size=4,
    ),
    files=st.sets(
        st.lists(st.sampled_from(_NAMES), min_size=1, max_size=3).map("/".join), max_size=12
    ),
)
def test_the_base_rules_mean_what_gits_own_gitignore_files_mean(
    tmp_path_factory: pytest.TempPathFactory, rules: dict[str, list[str]], files: set[str]
) -> None:
    """In a checkout of the base, the rewritten rules ignore exactly what git's do."""
    root = tmp_path_factory.mktemp("rules")
    git(root, "init", "--quiet", "--initial-branch=main")
    written = set()
    for directory, patterns in rules.items():
        path = root / directory / ".gitignore"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(patterns) + "\n")
        written.add(str(path.relative_to(root)))
    git(root, "add", "--force", *written) if written else None
    git(root, "commit", "--quiet", "--allow-empty", "-m", "rules")
    for name in files:
        path = root / name
        if any(parent.is_file() for parent in path.parents) or path.is_dir():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x\n")
    expected = git(root, "ls-files", "--others", "--exclude-standard", "-z").split("\0")
    actual = untracked_work(Git(root, 30), git(root, "rev-parse", "HEAD"))
    assert sorted(actual) == sorted(p for p in expected if p)

"""Untracked paths that copy patterns name: found by one git walk, outermost only."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import git
from worktree_pool.git.run import Git
from worktree_pool.git.untracked import untracked_matching


def test_the_patterns_name_untracked_entries_never_tracked_ones_nor_the_pool(repo: Path) -> None:
    for path in ("node_modules/a/x.js", "web/node_modules/b.js", "web/.env", ".env", "big.log"):
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text("x\n")
    (repo / ".agent-worktrees" / "logs").mkdir(parents=True)
    (repo / ".agent-worktrees" / "logs" / "pool-wt-1.log").write_text("x\n")
    git = Git(repo, 60)
    found = untracked_matching(git, ("node_modules/", ".env", "*.log", "README.md"))
    # README.md is tracked; the pool's log is never a candidate; directories come whole.
    assert found == [".env", "big.log", "node_modules/", "web/.env", "web/node_modules/"]
    assert untracked_matching(git, ("/node_modules/",)) == ["node_modules/"]
    assert untracked_matching(git, ("*.log", "!big.log")) == []
    assert untracked_matching(git, ()) == []


def test_nested_repositories_are_not_walked_and_directories_around_a_match_are_not_kept(
    repo: Path,
) -> None:
    nested = repo / "vendor" / "lib"
    (nested / "node_modules").mkdir(parents=True)
    (nested / "node_modules" / "x.js").write_text("x\n")
    git(nested, "init", "--quiet")
    # web/ holds nothing but the match: git names web/ too, which the patterns do not name.
    (repo / "web" / "node_modules").mkdir(parents=True)
    (repo / "web" / "node_modules" / "y.js").write_text("y\n")
    found = untracked_matching(Git(repo, 60), ("node_modules/",))
    assert found == ["web/node_modules/"]

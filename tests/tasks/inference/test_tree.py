"""The tree as inference sees it: resolving what a path written in a task means."""

from __future__ import annotations

from pathlib import Path

from tests.tasks.inference.repos import filler, new_repo, tree_of
from worktree_pool.tasks.inference.tree import TreeIndex, ancestors, path_words

FILES = filler(
    "gleam/src/meal_planner/web.gleam",
    "gleam/src/meal_planner/db.gleam",
    "gleam/test/web_test.gleam",
    "cmd/a/main.go",
    "cmd/b/main.go",
    "internal/store/store.go",
    ".github/workflows/ci.yml",
    "Makefile",
)


def _tree(tmp_path: Path) -> TreeIndex:
    # The index is built from what a real repository tracks at HEAD, as scoping does.
    return tree_of(new_repo(tmp_path / "repo", FILES))


def test_a_path_resolves_exactly_or_by_unique_suffix(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    assert tree.resolve("Makefile") == "Makefile"
    assert tree.resolve("internal/store/") == "internal/store" and tree.is_dir("internal/store")
    assert tree.resolve(".github/workflows/ci.yml") == ".github/workflows/ci.yml"
    # Written relative to a sub-project: the one tracked path it is the end of.
    assert tree.resolve("src/meal_planner/web.gleam") == "gleam/src/meal_planner/web.gleam"
    assert tree.resolve("meal_planner") == "gleam/src/meal_planner"
    assert tree.resolve("web_test.gleam") == "gleam/test/web_test.gleam"


def test_an_ambiguous_suffix_or_a_partial_component_names_nothing(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    assert tree.resolve("main.go") is None  # cmd/a/main.go and cmd/b/main.go
    assert tree.resolve("eal_planner/web.gleam") is None  # suffixes are whole components
    assert tree.resolve("nowhere/x.go") is None


def test_a_new_file_resolves_under_the_tracked_directory_it_names(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    assert tree.resolve_new("internal/store/cache.go") == "internal/store/cache.go"
    # `test/` is a unique suffix of gleam/test: the new file goes there.
    assert tree.resolve_new("test/x.gleam") == "gleam/test/x.gleam"
    # A new file in a new directory stands for the whole new directory.
    assert tree.resolve_new("internal/newpkg/x.go") == "internal/newpkg/"
    assert tree.resolve_new("internal/newpkg/") == "internal/newpkg/"
    # Nothing of it is tracked (a new top-level directory, or prose like and/or): nothing.
    assert tree.resolve_new("newtool/main.go") is None
    assert tree.resolve_new("and/or") is None


def test_directory_sizes_and_path_words(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    assert tree.sizes["gleam"] == 3 and tree.sizes["gleam/src/meal_planner"] == 2
    assert ancestors("a/b/c.go") == ["a/b", "a"]
    assert path_words("gleam/src/meal_planner/web_test.gleam") == [
        "gleam",
        "src",
        "meal",
        "planner",
        "web",
        "test",
        "gleam",
    ]


def test_words_with_a_slash_are_not_a_new_path(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    assert tree.resolve_new("gleam/scheduler") is None  # prose: "store/scheduler"
    assert tree.resolve_new("gleam/scheduler.gleam") == "gleam/scheduler.gleam"
    assert tree.resolve_new("gleam/newpkg/") == "gleam/newpkg/"

"""The `Files:` section parser: only paths and globs become patterns; prose is reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tasks.inference.repos import filler, new_repo, tree_of
from tests.tasks.test_graph import FIXTURES, needs_fixtures
from worktree_pool.tasks.description import listed_files
from worktree_pool.tasks.inference.tree import TreeIndex
from worktree_pool.tasks.sources import read_beads

GLEAM = filler(
    "gleam/src/meal_planner/web.gleam",
    "gleam/src/meal_planner/db.gleam",
    "gleam/test/web_test.gleam",
    "Makefile",
)


@pytest.fixture
def tree(tmp_path: Path) -> TreeIndex:
    return tree_of(new_repo(tmp_path / "repo", GLEAM))


def test_a_section_of_prose_yields_nothing_and_is_reported() -> None:
    listed = listed_files("FILES: All HTMX-enabled forms and inputs")
    assert listed.patterns == ()
    assert listed.prose == ("All HTMX-enabled forms and inputs",)


def test_a_parenthesised_remark_and_trailing_punctuation_are_dropped(tree: TreeIndex) -> None:
    text = "Files: test/x.gleam (new, <80 LOC)."
    assert listed_files(text).patterns == ("test/x.gleam",)
    # With the tree: `test/` is a unique suffix of gleam/test/, so the new file goes there.
    assert listed_files(text, tree).patterns == ("gleam/test/x.gleam",)
    assert listed_files(text, tree).prose == ()


def test_a_clause_in_the_middle_of_a_sentence_is_found(tree: TreeIndex) -> None:
    text = "The handler must escape input. Files: src/meal_planner/web.gleam and its tests."
    assert listed_files(text).patterns == ("src/meal_planner/web.gleam",)
    # Written relative to the gleam/ sub-project: resolved to the tracked file.
    assert listed_files(text, tree).patterns == ("gleam/src/meal_planner/web.gleam",)


@pytest.mark.parametrize("gap", ["", "\n"], ids=["tight", "blank-line-after-heading"])
def test_a_heading_with_list_items(tree: TreeIndex, gap: str) -> None:
    text = (
        "Intro.\n\n## Files to create\n" + gap + "- `gleam/test/db_test.gleam`\n"
        "- src/meal_planner/db.gleam (extend the schema)\n"
        "1. Makefile\n"
        "\n## Notes\n- not/a/file.txt\n"
    )
    assert listed_files(text, tree).patterns == (
        "gleam/test/db_test.gleam",
        "gleam/src/meal_planner/db.gleam",
        "Makefile",  # a bare name counts when the tree tracks it
    )
    assert "not/a/file.txt" not in listed_files(text).patterns  # past the section's end


def test_globs_are_kept_as_written(tree: TreeIndex) -> None:
    text = "Files: gleam/src/**/*.gleam, docs/*.md"
    assert listed_files(text, tree).patterns == ("gleam/src/**/*.gleam", "docs/*.md")


def test_paths_outside_the_repository_never_become_patterns(tree: TreeIndex) -> None:
    text = "Files: ../outside.py, /etc/passwd, gleam/../../x.gleam, ../*.md, https://x.io/a/b.js"
    for tree_or_none in (tree, None):
        listed = listed_files(text, tree_or_none)
        assert listed.patterns == ()
        assert listed.prose  # reported, not silently dropped


def test_binary_junk_and_a_huge_text_are_read_without_error(tree: TreeIndex) -> None:
    junk = "Files: \x00\x01\ufffd\x7f src/meal_planner/db.gleam \x00" + "\x00\xff" * 500_000
    assert listed_files(junk, tree).patterns == ("gleam/src/meal_planner/db.gleam",)
    # A Files: line past the bounded part of a 1 MB text is not believed.
    late = "word " * 200_000 + "\nFiles: gleam/test/late.gleam\n"
    assert listed_files(late, tree).patterns == ()


def _bad(pattern: str) -> bool:
    return (
        any(c.isspace() for c in pattern)
        or pattern.startswith("/")
        or ".." in pattern.split("/")
        or "(" in pattern
        or ")" in pattern
    )


@needs_fixtures
@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.jsonl")) or ["none"])
def test_the_real_exports_give_only_path_like_patterns(name: str) -> None:
    graph = read_beads(FIXTURES / name)
    found: set[str] = set()
    for task in graph.tasks.values():
        listed = listed_files("\n".join((task.description, task.design, task.notes)))
        found |= set(listed.patterns)
    assert not [p for p in found if _bad(p)]
    assert not found & {"All", "HTMX-enabled", "forms", "(new", "<80", "LOC).", "LOC)"}
    if name == "beads_Heikkila-Pty-Ltd_cortex.jsonl":
        # Its `## Files to Modify` sections list real paths, which are all kept.
        assert {"internal/config/config.go", "cmd/cortex/main.go"} <= found


def test_words_with_a_slash_are_dropped_but_new_files_and_directories_kept(
    tree: TreeIndex,
) -> None:
    found = listed_files("Files: input/output handling, docs/adr/0007.md, tools/", tree)
    assert found.patterns == ("docs/adr/0007.md", "tools/")

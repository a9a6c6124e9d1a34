"""The tree index, the scope's coverage, and paths kept inside the repository."""

from __future__ import annotations

import pytest

from worktree_pool.scope.context.tree import Coverage, Tree, inside, owned, owners

TREE = Tree(
    frozenset(
        {
            "Cargo.toml",
            "crates/a/Cargo.toml",
            "crates/a/src/lib.rs",
            "crates/a/src/deep/mod.rs",
            "crates/b/Cargo.toml",
            "crates/b0/x.rs",
            "crates/b/src/lib.rs",
            "tools/x/y/z.txt",
            "README.md",
        }
    )
)


def test_files_under_a_directory_are_exactly_those_below_it() -> None:
    assert TREE.under("crates/b") == ["crates/b/Cargo.toml", "crates/b/src/lib.rs"]
    assert TREE.under("crates/b/src/lib.rs") == []
    assert len(TREE.under("")) == len(TREE.files)
    assert TREE.names_in("crates/a/src") == ["lib.rs"]
    assert TREE.named("Cargo.toml") == ["Cargo.toml", "crates/a/Cargo.toml", "crates/b/Cargo.toml"]
    assert {"", "crates", "crates/a/src/deep", "tools/x/y"} <= TREE.directories


@pytest.mark.parametrize(
    ("glob", "expected"),
    [
        ("crates/*", ["crates/a", "crates/b", "crates/b0"]),
        ("crates/?", ["crates/a", "crates/b"]),
        ("./crates/a", ["crates/a"]),
        (
            "crates/**",
            [
                "crates",
                "crates/a",
                "crates/a/src",
                "crates/a/src/deep",
                "crates/b",
                "crates/b/src",
                "crates/b0",
            ],
        ),
        ("crates/missing", []),
        ("*/x", ["tools/x"]),
    ],
)
def test_member_globs_match_directories(glob: str, expected: list[str]) -> None:
    assert TREE.glob_directories(glob) == expected


@pytest.mark.parametrize(
    ("base", "relative", "expected"),
    [
        ("crates/a", "../b", "crates/b"),
        ("crates/a", "../../..", None),
        ("crates/a", "../../x/../../y", None),
        ("", ".", ""),
        ("crates/a", "/etc", None),
        ("crates/a", "", None),
        ("crates/a", "..\\..\\x", None),
    ],
)
def test_relative_paths_stay_inside_the_repository(
    base: str, relative: str, expected: str | None
) -> None:
    assert inside(base, relative) == expected


def test_coverage_follows_gitignore_rules_and_new_paths() -> None:
    covered = Coverage(TREE, ("crates/*/src/", "!crates/b/", "tools/new/file.py", "fresh/"))
    assert covered.files == {"crates/a/src/lib.rs", "crates/a/src/deep/mod.rs"}
    assert covered.directories == {"crates/a/src", "crates/a/src/deep", "tools/new", "fresh"}
    assert {"", "crates", "tools", "tools/new"} <= covered.ancestry
    assert covered.covers_directory("crates/a/src")
    assert not covered.covers_directory("crates/a")
    assert not covered.covers_directory("fresh")  # nothing tracked there to show


def test_a_file_belongs_to_the_nearest_home_above_it() -> None:
    homes = {"", "crates/a"}
    assert owned(["crates/a/src/deep", "tools/x", "crates/b"], homes) == {
        "crates/a/src/deep": "crates/a",
        "tools/x": "",
        "crates/b": "",
    }
    assert owners(["tools/x"], {"crates/a"}) == set()

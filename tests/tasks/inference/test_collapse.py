"""From chosen files to the fewest cone-friendly patterns."""

from __future__ import annotations

from worktree_pool.tasks.inference.collapse import to_patterns
from worktree_pool.tasks.inference.tree import TreeIndex

TREE = TreeIndex(
    (
        "README.md",
        "api/handlers.go",
        "api/handlers_test.go",
        "api/routes.go",
        "api/v2/a.go",
        "api/v2/b.go",
        "web/a.ts",
        "web/b.ts",
        "web/c.ts",
        "web/d.ts",
        "web/e.ts",
        "work/alpha.py",
        "work/beta.py",
        "work/tasks.yaml",
    )
)


def test_most_of_a_directory_becomes_the_directory() -> None:
    # 2 of api/'s 5 files are less than half: they stay files.
    assert to_patterns(["api/handlers.go", "api/routes.go"], TREE) == (
        "api/handlers.go",
        "api/routes.go",
    )
    # 3 of 5 are most of it: the agent gets the directory, and sparse checkout stays in cone.
    chosen = ["api/handlers.go", "api/handlers_test.go", "api/routes.go"]
    assert to_patterns(chosen, TREE) == ("api/",)


def test_directories_collapse_upward_and_a_covered_file_is_not_repeated() -> None:
    # api/v2/ (2 files) plus one more file of api/ is 3 of 5: api/ as a whole.
    assert to_patterns(["api/v2/", "api/routes.go"], TREE) == ("api/",)
    assert to_patterns(["api/v2/", "api/v2/a.go", "README.md"], TREE) == ("api/v2/", "README.md")


def test_a_root_file_never_becomes_the_whole_tree() -> None:
    assert to_patterns(["README.md"], TREE) == ("README.md",)


def test_a_new_file_stays_a_file_and_does_not_count_towards_its_directory() -> None:
    # web/new.ts is not tracked: one real file of five, so web/ is not taken.
    assert to_patterns(["web/a.ts", "web/new.ts", "web/newer.ts"], TREE) == (
        "web/a.ts",
        "web/new.ts",
        "web/newer.ts",
    )


def test_a_fenced_directory_is_never_grown_into() -> None:
    """A directory holding the task source (or a hub) taken whole would put that file in the
    scope; its chosen files stay files."""
    chosen = ["work/alpha.py", "work/beta.py"]
    assert to_patterns(chosen, TREE) == ("work/",)  # without the fence: 2 of 3 files
    assert to_patterns(chosen, TREE, fenced={"work"}) == ("work/alpha.py", "work/beta.py")
    # A directory the caller chose itself is kept, fence or not: the text named it.
    assert to_patterns(["work/"], TREE, fenced={"work"}) == ("work/",)


def test_one_file_of_a_small_directory_stays_a_file() -> None:
    """Two tasks that each edit one file of a two-file directory must not both claim it all."""
    assert to_patterns(["work/alpha.py"], TREE) == ("work/alpha.py",)


def test_no_directory_is_grown_past_the_budget() -> None:
    chosen = ["web/a.ts", "web/b.ts", "web/c.ts"]
    assert to_patterns(chosen, TREE) == ("web/",)
    assert to_patterns(chosen, TREE, budget=4) == tuple(chosen)

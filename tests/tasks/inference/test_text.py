"""Reading a task's text: its words, and the tokens in it that name paths."""

from __future__ import annotations

import pytest

from tests.tasks.inference.repos import task
from worktree_pool.tasks.inference.text import (
    MAX_TEXT,
    path_tokens,
    split_identifier,
    stem,
    task_text,
    words,
)


def test_identifiers_split_the_way_they_are_written_and_plurals_fold() -> None:
    assert split_identifier("RateLimiterTest") == ["rate", "limiter", "test"]
    assert split_identifier("rate_limiter") == ["rate", "limiter"]
    assert split_identifier("HTTPServer2") == ["http", "server"]
    assert words("RateLimiters, rate_limiter and rate-limiter.go") == [
        "rate",
        "limiter",
        "rate",
        "limiter",
        "rate",
        "limiter",
        "go",
    ]
    assert [stem(w) for w in ("queries", "tests", "class", "status", "analysis")] == [
        "query",
        "test",
        "class",
        "status",
        "analysis",
    ]


def test_stopwords_and_single_letters_say_nothing() -> None:
    assert words("Fix the bug: add a new X to the scheduler") == ["scheduler"]


def test_a_tasks_text_is_every_field_it_has_and_bounded() -> None:
    t = task(
        "t",
        title="Title",
        description="Desc",
        design="Design",
        notes="Notes",
        acceptance_criteria="Criteria",
        labels=("area:web",),
    )
    assert task_text(t).split("\n") == ["Title", "Desc", "Design", "Notes", "Criteria", "area:web"]
    assert len(task_text(task("big", description="x" * 1_000_000))) == MAX_TEXT


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("Edit `src/app.py` and docs/guide.md.", ["src/app.py", "docs/guide.md"]),
        ("See (cmd/bd/validate.go), then 'web/'.", ["cmd/bd/validate.go", "web/"]),
        ("Glob: src/**/*.gleam", ["src/**/*.gleam"]),
        # A leading dot is part of the name: a dot-directory, or ./ that is dropped.
        ("Touch .github/workflows/ci.yml and ./src/a.py", [".github/workflows/ci.yml", "src/a.py"]),
        # Not the repository's: URLs, absolute paths, anything that climbs out with `..`.
        ("https://example.com/a/b.html and ftp://host/x.py", []),
        ("/etc/passwd, /home/me/x.py", []),
        ("../secret.py, src/../../etc/x.py, src/../x.py", []),
        ("... ; () // ./", []),
    ],
)
def test_path_tokens(text: str, tokens: list[str]) -> None:
    assert path_tokens(text) == tokens


def test_no_path_token_ever_leaves_the_repository() -> None:
    hostile = " ".join(
        [
            "../x.py",
            "..\\x.py",
            "a/../../x.py",
            "/abs/x.py",
            "//host/share/x.py",
            "file:///etc/x.py",
            "`../x`",
            "(../x.py)",
            "'/x.py'",
            "..../x.py",
        ]
    )
    for token in path_tokens(hostile):
        assert not token.startswith("/")
        assert ".." not in token.split("/"), token


def test_abbreviations_home_paths_and_endless_tokens_are_not_paths() -> None:
    text = "See e.g. the parser, i.e. x.c; not ~/.config/x.yaml. " + "a/" * 40 + "b.go"
    assert path_tokens(text) == ["x.c"]
    # A path as long as anyone types is still one.
    deep = "/".join(f"d{n}" for n in range(20)) + "/main.go"
    assert path_tokens(f"Files: {deep}") == [deep]

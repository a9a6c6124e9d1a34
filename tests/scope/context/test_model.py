"""Findings: entries once each, problems once each, and manifest reads that report."""

from __future__ import annotations

from pathlib import Path

from tests.scope.context.builders import commit, reader
from worktree_pool.scope.context.model import (
    BuildContext,
    ContextEntry,
    Findings,
    strings,
    table,
)


def test_entries_are_unique_keep_the_first_reason_and_any_lock_flag(tmp_path: Path) -> None:
    found = Findings(reader(commit(tmp_path / "repo", {"Cargo.lock": "", "a/b.rs": ""})))
    found.file("Cargo.lock", "first")
    found.file("Cargo.lock", "second", lockfile=True)
    found.directory("a", "source")
    found.directory("", "never the root")
    found.file("[x].rs", "escaped")
    assert found.entries == [
        ContextEntry("Cargo.lock", "first", lockfile=True),
        ContextEntry("a/", "source"),
        ContextEntry("\\[x\\].rs", "escaped"),
    ]


def test_patterns_are_sorted_and_unique() -> None:
    context = BuildContext(
        (ContextEntry("b/", "x"), ContextEntry("a.toml", "y"), ContextEntry("b/", "z")), ()
    )
    assert context.patterns == ("a.toml", "b/")


def test_reads_report_links_bad_text_and_bad_syntax_once_each(tmp_path: Path) -> None:
    repo = commit(
        tmp_path / "repo",
        {"bad.toml": "[a\n", "bad.json": "{", "list.json": "[]", "latin.toml": b"\xe9"},
        {"link.toml": "bad.toml"},
    )
    found = Findings(reader(repo))
    for _ in range(2):
        assert found.toml("link.toml") is None
        assert found.toml("bad.toml") is None
        assert found.toml("latin.toml") is None
        assert found.json_object("bad.json") is None
        assert found.json_object("list.json") is None
        assert found.toml("absent.toml") is None
    assert [p.split(" ", 2)[:2] for p in found.problems] == [
        ["link.toml", "is"],
        ["bad.toml", "is"],
        ["latin.toml", "is"],
        ["bad.json", "is"],
        ["list.json", "is"],
    ]
    found.file("link.toml", "a link is reported, not shown")
    assert found.entries == []


def test_wrong_types_read_as_absent() -> None:
    assert table({"a": {"b": {"c": 1}}}, "a", "b") == {"c": 1}
    assert table({"a": 3}, "a", "b") == {}
    assert table(None, "a") == {}
    assert strings(["x", 1, None, "y"]) == ["x", "y"]
    assert strings("crates/*") == []

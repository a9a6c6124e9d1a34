"""build_context: every detector together, trimmed to what the write scope does not show,
and never raising on what a repository holds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.scope.context.builders import commit, context

MIXED = {
    "Makefile": "all:\n",
    "Cargo.toml": '[workspace]\nmembers = ["rust/*"]\n',
    "Cargo.lock": "version = 3\n",
    "rust/core/Cargo.toml": '[package]\nname = "core"\nversion = "0.1.0"\n',
    "rust/core/src/lib.rs": "",
    "rust/core/src/lock/Cargo.lock": "nested lock\n",
    "package.json": json.dumps({"name": "root", "workspaces": ["web/*"]}),
    "web/app/package.json": json.dumps({"name": "app"}),
    "pyproject.toml": "[project]\n",
    "tools/py/__init__.py": "",
}


def test_every_build_system_of_the_tree_contributes(tmp_path: Path) -> None:
    found = context(commit(tmp_path / "repo", MIXED), "rust/core/src/lib.rs")
    assert found.problems == ()
    assert found.patterns == (
        "Cargo.lock",
        "Cargo.toml",
        "Makefile",
        "package.json",
        "pyproject.toml",
        "rust/core/Cargo.toml",
    )


def test_what_the_write_scope_shows_is_left_out(tmp_path: Path) -> None:
    repo = commit(tmp_path / "repo", MIXED)
    assert context(repo, "**").patterns == ()
    assert context(repo, "rust/", "Cargo.toml").patterns == (
        "Cargo.lock",
        "Makefile",
        "package.json",  # on the way up from the scope, as is pyproject.toml
        "pyproject.toml",
    )
    # A negated part of the scope is not shown by it, so context may still name it.
    assert "Cargo.toml" in context(repo, "*", "!Cargo.toml").patterns


def test_files_under_a_context_directory_are_not_listed_again_but_lock_files_are(
    tmp_path: Path,
) -> None:
    files = {
        "Cargo.toml": '[workspace]\nmembers = ["a", "b"]\n',
        "a/Cargo.toml": '[package]\nname = "a"\n[dependencies]\nb = { path = "../b" }\n',
        "a/src/lib.rs": "",
        "b/Cargo.toml": '[package]\nname = "b"\n',
        "b/src/lib.rs": "",
        "b/Cargo.lock": "stray\n",
    }
    found = context(commit(tmp_path / "repo", files), "a/")
    assert found.patterns == ("Cargo.toml", "b/")


def test_no_scope_and_an_empty_tree_give_an_empty_context(tmp_path: Path) -> None:
    assert context(commit(tmp_path / "empty", {}), "src/").entries == ()
    found = context(commit(tmp_path / "repo", MIXED))
    # The generic rule holds whatever the scope.
    assert found.patterns == (
        "Cargo.lock",
        "Cargo.toml",
        "Makefile",
        "package.json",
        "pyproject.toml",
    )
    assert {e.pattern: e.reason for e in found.entries}["Cargo.toml"] == "top-level manifest"


def test_patterns_are_escaped_so_they_name_exactly_the_file(tmp_path: Path) -> None:
    files = {
        "package.json": json.dumps({"name": "root", "workspaces": ["apps/*"]}),
        "apps/[id]/package.json": json.dumps({"name": "id"}),
        "apps/web/package.json": json.dumps({"name": "web", "dependencies": {"id": "*"}}),
    }
    found = context(commit(tmp_path / "repo", files), "apps/web/")
    assert "apps/\\[id\\]/" in found.patterns


# Manifests of every wrong shape: detection reads them as absent, reports what it cannot
# parse, and never raises.
ODD_VALUES = ["1", '"text"', "[1, 2]", "true", "{ path = 3 }", '{ workspace = "yes" }']


@pytest.mark.parametrize("value", ODD_VALUES)
def test_manifests_of_the_wrong_shape_never_raise(tmp_path: Path, value: str) -> None:
    files = {
        "Cargo.toml": f"[workspace]\nmembers = {value}\nexclude = {value}\n"
        f"[workspace.dependencies]\nx = {value}\n[patch]\ncrates-io = {value}\n",
        "a/Cargo.toml": f'[package]\nname = "a"\nbin = {value}\n[lib]\npath = {value}\n'
        f"[dependencies]\nx = {value}\ny = {value}\n[target]\nunix = {value}\n",
        "a/src/lib.rs": "",
        "package.json": f'{{"workspaces": {value.replace("=", ":")}, "dependencies": 1}}',
        "pyproject.toml": f"[tool.uv]\nworkspace = {value}\nsources = {value}\n",
        "gleam.toml": f"dependencies = {value}\n",
    }
    found = context(commit(tmp_path / "repo", files), "a/")
    assert not any("detection stopped early" in p for p in found.problems), found.problems
    assert "Cargo.toml" in found.patterns or any("Cargo.toml" in p for p in found.problems)


def test_json_that_is_not_an_object_and_text_that_is_not_utf8(tmp_path: Path) -> None:
    files = {
        "package.json": "[1, 2]",
        "app/package.json": "{}",
        "Cargo.toml": b'[workspace]\nmembers = ["\xff"]\n',
        "deep/package.json": "[" * 100_000 + "]" * 100_000,
    }
    found = context(commit(tmp_path / "repo", files), "app/", "deep/x")
    assert "package.json is not a JSON object: not followed" in found.problems
    # The root manifest owns app/ for all detection can tell: it is read, and reported.
    assert "Cargo.toml is not UTF-8 text: not read" in found.problems
    assert any(p.startswith("deep/package.json is not valid JSON") for p in found.problems)

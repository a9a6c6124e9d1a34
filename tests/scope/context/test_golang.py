"""Go: the module files and the packages the scoped packages import, transitively."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.scope.context.builders import commit, context, sparse_worktree

MODULE = {
    "go.mod": "module example.com/shop\n\ngo 1.21\n",
    "go.sum": "",
    "main.go": 'package main\n\nimport "example.com/shop/cmd"\n\nfunc main() { cmd.Run() }\n',
    "cmd/run.go": 'package cmd\n\nimport (\n\t"fmt"\n\n'
    '\tdb "example.com/shop/internal/store" // the store\n'
    '\t/* "example.com/shop/commented" */\n)\n\n'
    "func Run() { fmt.Println(db.Name()) }\n",
    "cmd/run_test.go": 'package cmd\n\nimport _ "example.com/shop/internal/testkit"\n',
    "internal/store/store.go": 'package store\n\nimport "example.com/shop/internal/names"\n\n'
    "func Name() string { return names.Shop }\n",
    "internal/names/names.go": 'package names\n\nconst Shop = "shop"\n',
    "internal/testkit/kit.go": "package testkit\n",
    "internal/unused/unused.go": "package unused\n\nfunc broken( {\n",
    "commented/c.go": "package commented\n",
}


def test_scoped_packages_see_their_imports_transitively(tmp_path: Path) -> None:
    found = context(commit(tmp_path / "repo", MODULE), "cmd/run.go")
    assert found.problems == ()
    assert found.patterns == (
        "go.mod",
        "go.sum",
        "internal/names/",
        "internal/store/",
        "internal/testkit/",
    )
    reasons = {e.pattern: e.reason for e in found.entries}
    assert reasons["internal/names/"] == (
        "Go package example.com/shop/internal/names imported by internal/store/store.go"
    )
    assert [e.pattern for e in found.entries if e.lockfile] == ["go.sum"]


def test_an_import_of_the_root_package_shows_its_files_not_the_whole_tree(tmp_path: Path) -> None:
    files = {
        "go.mod": "module example.com/lib\n",
        "lib.go": "package lib\n",
        "sub/sub.go": 'package sub\n\nimport "example.com/lib"\n',
        "other/other.go": "package other\n",
    }
    assert context(commit(tmp_path / "repo", files), "sub/").patterns == ("go.mod", "lib.go")


def test_modules_of_a_go_work_resolve_into_each_other(tmp_path: Path) -> None:
    files = {
        "go.work": "go 1.21\n\nuse (\n\t./api\n\t./lib\n)\n",
        "go.work.sum": "",
        "api/go.mod": "module example.com/api\n",
        "api/server.go": 'package api\n\nimport "example.com/lib/text"\n',
        "lib/go.mod": "module example.com/lib\n",
        "lib/go.sum": "",
        "lib/text/text.go": "package text\n",
        "broken/go.mod": "this is not a go.mod\n",
    }
    found = context(commit(tmp_path / "repo", files), "api/server.go")
    assert found.problems == ("broken/go.mod declares no module: not followed",)
    assert found.patterns == (
        "api/go.mod",
        "go.work",
        "go.work.sum",
        "lib/go.mod",
        "lib/go.sum",
        "lib/text/",
    )
    assert {e.pattern for e in found.entries if e.lockfile} == {"go.work.sum", "lib/go.sum"}


@pytest.mark.skipif(shutil.which("go") is None, reason="go is not installed")
def test_the_view_of_a_scoped_package_builds_with_go(tmp_path: Path) -> None:
    repo = commit(tmp_path / "repo", {k: v for k, v in MODULE.items() if "unused" not in k})
    slot = sparse_worktree(repo, tmp_path / "slot", ("cmd/", *context(repo, "cmd/").patterns))
    built = subprocess.run(["go", "vet", "./cmd/"], cwd=slot, capture_output=True, text=True)
    assert built.returncode == 0, built.stderr

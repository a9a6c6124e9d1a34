"""Top-level build and tooling files, whatever the scope, and Gleam projects."""

from __future__ import annotations

from pathlib import Path

from tests.scope.context.builders import commit, context


def test_top_level_build_and_tooling_files_are_context(tmp_path: Path) -> None:
    files = {
        "Makefile": "all:\n",
        "justfile": "build:\n",
        ".tool-versions": "python 3.11\n",
        "rust-toolchain.toml": "[toolchain]\n",
        "tsconfig.base.json": "{}",
        "Dockerfile.dev": "FROM scratch\n",
        ".gitlab-ci.yml": "test:\n",
        ".github/workflows/ci.yml": "on: push\n",
        ".github/CODEOWNERS": "* @me\n",
        "flake.lock": "{}",
        "README.md": "readme\n",
        "docs/Makefile": "html:\n",
        "src/main.c": "int main(void) { return 0; }\n",
    }
    found = context(commit(tmp_path / "repo", files), "src/")
    assert found.problems == ()
    assert found.patterns == (
        ".github/workflows/",
        ".gitlab-ci.yml",
        ".tool-versions",
        "Dockerfile.dev",
        "Makefile",
        "flake.lock",
        "justfile",
        "rust-toolchain.toml",
        "tsconfig.base.json",
    )
    assert [e.pattern for e in found.entries if e.lockfile] == ["flake.lock"]


def test_a_symlinked_top_level_file_is_reported_not_shown(tmp_path: Path) -> None:
    found = context(commit(tmp_path / "repo", {"a.txt": ""}, {"Makefile": "/etc/passwd"}), "a.txt")
    assert found.problems == ("Makefile is a symbolic link: not followed",)
    assert found.patterns == ()


def test_a_gleam_project_brings_its_manifest_lock_and_path_dependencies(tmp_path: Path) -> None:
    files = {
        "apps/shop/gleam.toml": 'name = "shop"\n\n[dependencies]\n'
        'money = { path = "../../libs/money" }\ngleam_stdlib = ">= 0.34.0"\n'
        'away = { path = "../../../away" }\n',
        "apps/shop/manifest.toml": "packages = []\n",
        "apps/shop/src/shop.gleam": "pub fn main() { 1 }\n",
        "libs/money/gleam.toml": 'name = "money"\n\n[dev-dependencies]\n'
        'testing = { path = "../testing" }\n',
        "libs/money/src/money.gleam": "pub const cents = 100\n",
        "libs/testing/gleam.toml": "name = [",
        "libs/unused/gleam.toml": 'name = "unused"\n',
    }
    found = context(commit(tmp_path / "repo", files), "apps/shop/src/shop.gleam")
    assert found.problems[0] == (
        "path dependency 'away' (../../../away) is outside the repository (apps/shop/gleam.toml)"
    )
    assert found.problems[1].startswith("libs/testing/gleam.toml is not valid TOML")
    assert found.patterns == (
        "apps/shop/gleam.toml",
        "apps/shop/manifest.toml",
        "libs/money/",
        "libs/testing/",
    )
    assert [e.pattern for e in found.entries if e.lockfile] == ["apps/shop/manifest.toml"]


def test_a_root_gleam_project(tmp_path: Path) -> None:
    files = {
        "gleam.toml": 'name = "app"\n',
        "manifest.toml": "packages = []\n",
        "src/app.gleam": "pub fn main() { 1 }\n",
    }
    found = context(commit(tmp_path / "repo", files), "src/")
    assert found.patterns == ("gleam.toml", "manifest.toml")

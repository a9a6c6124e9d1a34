"""Build-context detection on real repositories: each build system's rules, the bad input they
must survive, and builds that succeed in a sparse worktree showing only write scope and view.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import git, make_repo
from worktree_pool.git.run import Git
from worktree_pool.scope.context.detect import BuildContext, build_context, commit_reader
from worktree_pool.scope.patterns import anchored


def _context(root: Path, *write: str) -> BuildContext:
    return build_context(commit_reader(Git(root, 60)), write)


def _sparse_worktree(root: Path, tmp_path: Path, patterns: tuple[str, ...]) -> Path:
    """A worktree of HEAD that shows only `patterns`, as a slot would."""
    path = tmp_path / "sparse"
    git(root, "worktree", "add", "--quiet", "--no-checkout", "--detach", str(path))
    lines = "".join(f"{anchored(p)}\n" for p in patterns)
    subprocess.run(
        ["git", "sparse-checkout", "set", "--no-cone", "--stdin"],
        cwd=path, input=lines, text=True, check=True, capture_output=True,
    )  # fmt: skip
    git(path, "checkout", "--quiet", "--detach")
    return path


def _crate(name: str, deps: str = "") -> dict[str, str]:
    return {
        f"crates/{name}/Cargo.toml": f'[package]\nname = "{name}"\nversion = "0.1.0"\n'
        f'edition = "2021"\n\n[dependencies]\n{deps}',
        f"crates/{name}/src/lib.rs": "pub fn f() {}\n",
    }


def test_cargo_path_dependencies_are_followed_transitively(tmp_path: Path) -> None:
    files = {
        "Cargo.toml": '[workspace]\nmembers = ["crates/*"]\n\n[workspace.dependencies]\n'
        'c = { path = "crates/c" }\n',
        "Cargo.lock": "version = 3\n",
        **_crate("a", 'b = { path = "../b" }\n'),
        **_crate("b", "c = { workspace = true }\n"),
        **_crate("c"),
        **_crate("d"),
    }
    found = _context(make_repo(tmp_path / "r", files), "crates/a/")
    assert {"crates/b/", "crates/c/", "Cargo.toml", "crates/d/Cargo.toml"} <= set(found.patterns)
    assert "crates/d/" not in found.patterns  # not a dependency: only what loads the workspace
    assert [e.lockfile for e in found.entries if e.pattern == "Cargo.lock"] == [True]
    reasons = {e.pattern: e.reason for e in found.entries}
    assert "crates/a" in reasons["crates/b/"] and "crates/b" in reasons["crates/c/"]
    assert not found.problems


def test_bad_cargo_manifests_are_problems_never_errors(tmp_path: Path) -> None:
    files = {
        "Cargo.toml": '[workspace]\nmembers = ["crates/*"]\n',
        **_crate("a", 'outside = { path = "../../../elsewhere" }\nb = { path = "../b" }\n'),
        **_crate("b", 'a = { path = "../a" }\n'),  # a cycle
        "crates/broken/Cargo.toml": "[package\nname = ",
        "crates/broken/src/lib.rs": "",
    }
    root = make_repo(tmp_path / "r", files)
    os.symlink("../b/Cargo.toml", root / "crates" / "linked.toml")
    (root / "crates" / "l").mkdir()
    os.symlink("../b/Cargo.toml", root / "crates" / "l" / "Cargo.toml")
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "-m", "links")
    found = _context(root, "crates/a/")
    problems = "\n".join(found.problems)
    assert "crates/a/Cargo.toml: path dependency outside" in problems
    assert "leaves the repository" in problems
    assert "cycle of path dependencies" in problems
    assert "crates/broken/Cargo.toml is not valid TOML" in problems
    assert "crates/l/Cargo.toml is a symbolic link" in problems
    assert "crates/b/" in found.patterns  # what could be read is still there
    assert not any(p.startswith(("/", "..")) or "/../" in p for p in found.patterns)


def test_a_python_package_gets_its_manifest_conftests_and_package(tmp_path: Path) -> None:
    files = {
        "pyproject.toml": "[project]\nname = 'shop'\nversion = '0.1'\n",
        "uv.lock": "version = 1\n",
        "conftest.py": "import pytest\n\n\n@pytest.fixture\ndef price() -> int:\n    return 3\n",
        "src/shop/__init__.py": "",
        "src/shop/cart/__init__.py": "",
        "src/shop/cart/total.py": "from shop.money import cents\n\n\ndef total(n):\n"
        "    return cents(n)\n",
        "src/shop/money.py": "def cents(n):\n    return n * 100\n",
        "src/other/__init__.py": "",
        "tests/conftest.py": "import sys\nsys.path.insert(0, 'src')\n",
        "tests/cart/test_total.py": "from shop.cart.total import total\n\n\n"
        "def test_total(price):\n    assert total(price) == 300\n",
    }
    root = make_repo(tmp_path / "r", files)
    write = ("src/shop/cart/", "tests/cart/")
    found = _context(root, *write)
    assert {"pyproject.toml", "conftest.py", "tests/conftest.py", "src/shop/"} <= set(
        found.patterns
    )
    assert "src/other/" not in found.patterns
    assert [e.lockfile for e in found.entries if e.pattern == "uv.lock"] == [True]
    slot = _sparse_worktree(root, tmp_path, (*write, *found.patterns))
    assert not (slot / "src" / "other").exists()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/cart"],
        cwd=slot, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def _package(name: str, deps: dict[str, str] | None = None) -> str:
    return json.dumps({"name": name, "version": "1.0.0", "dependencies": deps or {}})


def test_a_node_workspace_package_sees_the_packages_it_uses(tmp_path: Path) -> None:
    files = {
        "package.json": json.dumps({"name": "mono", "private": True, "workspaces": ["pkgs/*"]}),
        "package-lock.json": "{}\n",
        "pkgs/app/package.json": _package("app", {"lib": "1.0.0"}),
        "pkgs/app/index.js": "require('lib')\n",
        "pkgs/lib/package.json": _package("lib", {"util": "1.0.0"}),
        "pkgs/lib/index.js": "module.exports = 1\n",
        "pkgs/util/package.json": _package("util"),
        "pkgs/util/index.js": "module.exports = 2\n",
        "pkgs/web/package.json": _package("web"),
        "pkgs/web/index.js": "",
    }
    root = make_repo(tmp_path / "r", files)
    found = _context(root, "pkgs/app/")
    assert {"pkgs/lib/", "pkgs/util/", "pkgs/web/package.json", "package.json"} <= set(
        found.patterns
    )
    assert "pkgs/web/" not in found.patterns
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed: the view is checked, not the install")
    slot = _sparse_worktree(root, tmp_path, ("pkgs/app/", *found.patterns))
    installed = subprocess.run(
        ["npm", "install", "--offline", "--no-audit", "--no-fund", "--ignore-scripts"],
        cwd=slot, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    listed = subprocess.run(
        ["npm", "ls", "--workspace", "app"], cwd=slot, capture_output=True, text=True, check=False
    )
    assert listed.returncode == 0, listed.stdout + listed.stderr


def test_go_packages_imported_within_the_module_are_in_view(tmp_path: Path) -> None:
    files = {
        "go.mod": "module example.com/shop\n\ngo 1.21\n",
        "go.sum": "",
        "cmd/shop/main.go": 'package main\n\nimport (\n\t"fmt"\n\t"example.com/shop/cart"\n)\n\n'
        "func main() { fmt.Println(cart.Total()) }\n",
        "cart/cart.go": 'package cart\n\nimport "example.com/shop/money"\n\n'
        "func Total() int { return money.Cents(3) }\n",
        "money/money.go": "package money\n\nfunc Cents(n int) int { return n * 100 }\n",
        "web/web.go": "package web\n",
    }
    found = _context(make_repo(tmp_path / "r", files), "cmd/shop/")
    assert {"go.mod", "go.sum", "cart/", "money/"} <= set(found.patterns)
    assert "web/" not in found.patterns


def test_top_level_tooling_and_gleam_manifests_are_context(tmp_path: Path) -> None:
    files = {
        "gleam.toml": 'name = "app"\n',
        "manifest.toml": "packages = []\n",
        "Makefile": "all:\n",
        ".github/workflows/ci.yml": "on: push\n",
        "src/app.gleam": "pub fn main() { Nil }\n",
        "docs/notes.md": "notes\n",
    }
    found = _context(make_repo(tmp_path / "r", files), "src/")
    assert {"gleam.toml", "Makefile", ".github/workflows/"} <= set(found.patterns)
    assert [e.lockfile for e in found.entries if e.pattern == "manifest.toml"] == [True]
    assert "docs/notes.md" not in found.patterns

"""Python: the view of a scoped package's tests runs them, and bad projects are reported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.scope.context.builders import commit, context, shown, sparse_worktree

PROJECT = {
    "pyproject.toml": '[project]\nname = "calc"\nversion = "0.1"\n\n'
    '[tool.pytest.ini_options]\npythonpath = ["src"]\n',
    "uv.lock": "version = 1\n",
    "requirements-dev.txt": "pytest\n",
    "conftest.py": "import pytest\n\n\n@pytest.fixture\ndef two():\n    return 2\n",
    "src/calc/__init__.py": "from calc.ops import add\n",
    "src/calc/ops.py": "from calc.numbers import identity\n\n\n"
    "def add(a, b):\n    return identity(a) + b\n",
    "src/calc/numbers/__init__.py": "def identity(x):\n    return x\n",
    # A second package of the repository the first does not use: outside the view.
    "src/other/__init__.py": "BROKEN = 1 / 0\n",
    "tests/helpers.py": "def double(x):\n    return 2 * x\n",
    "tests/test_ops.py": "from calc import add\nimport helpers\n\n\n"
    "def test_add(two):\n    assert add(two, 1) == 3\n\n\n"
    "def test_helper():\n    assert helpers.double(2) == 4\n",
    "tests/test_other.py": "import other\n",
    "docs/index.md": "docs\n",
}


def test_scoped_tests_see_the_package_they_import_the_conftest_and_the_project(
    tmp_path: Path,
) -> None:
    found = context(commit(tmp_path / "repo", PROJECT), "tests/test_ops.py")
    assert found.problems == ()
    assert found.patterns == (
        "conftest.py",
        "pyproject.toml",
        "requirements-dev.txt",
        "src/calc/",
        "tests/helpers.py",
        "uv.lock",
    )
    reasons = {e.pattern: e.reason for e in found.entries}
    assert reasons["src/calc/"] == "Python package imported by tests/test_ops.py"
    assert [e.pattern for e in found.entries if e.lockfile] == ["uv.lock"]


def test_pytest_collects_and_passes_in_the_view(tmp_path: Path) -> None:
    repo = commit(tmp_path / "repo", PROJECT)
    write = ("tests/test_ops.py",)
    slot = sparse_worktree(repo, tmp_path / "slot", write + context(repo, *write).patterns)
    assert "src/other/__init__.py" not in shown(slot)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_ops.py"],
        cwd=slot,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 passed" in run.stdout


def test_a_module_in_scope_brings_its_whole_package(tmp_path: Path) -> None:
    found = context(commit(tmp_path / "repo", PROJECT), "src/calc/numbers/__init__.py")
    assert "src/calc/" in found.patterns
    reasons = {e.pattern: e.reason for e in found.entries}
    assert reasons["src/calc/"] == "the Python package the write scope belongs to"
    assert "tests/" not in found.patterns and "src/other/" not in found.patterns


def test_nested_projects_conftests_and_path_dependencies(tmp_path: Path) -> None:
    files = {
        "pyproject.toml": '[tool.uv.workspace]\nmembers = ["libs/*"]\n',
        "libs/a/pyproject.toml": '[project]\nname = "a"\n\n[tool.uv.sources]\n'
        'b = { path = "../b" }\nfar = { path = "../../../far" }\n',
        "libs/a/a/__init__.py": "",
        "libs/a/tests/conftest.py": "",
        "libs/a/tests/unit/test_a.py": "import a\n",
        "libs/b/pyproject.toml": '[project]\nname = "b"\n',
        "libs/b/b/__init__.py": "",
        "libs/c/pyproject.toml": '[tool.poetry.group.dev.dependencies]\nd = { path = "../d" }\n',
        "libs/c/c/__init__.py": "",
        "libs/d/d/__init__.py": "",
    }
    found = context(commit(tmp_path / "repo", files), "libs/a/tests/unit/test_a.py")
    assert found.problems == (
        "path dependency 'far' (../../../far) is outside the repository (libs/a/pyproject.toml)",
    )
    assert set(found.patterns) == {
        "pyproject.toml",
        "libs/a/pyproject.toml",
        "libs/a/tests/conftest.py",
        "libs/a/a/",
        "libs/b/",  # its pyproject.toml too, so that has no entry of its own
        "libs/c/pyproject.toml",
    }
    poetry = context(commit(tmp_path / "poetry", files), "libs/c/c/__init__.py")
    assert "libs/d/" in poetry.patterns


def test_a_malformed_pyproject_is_reported_and_the_rest_still_found(tmp_path: Path) -> None:
    files = {**PROJECT, "pyproject.toml": "[project\nname = "}
    found = context(commit(tmp_path / "repo", files), "tests/test_ops.py")
    assert len(found.problems) == 1
    assert found.problems[0].startswith("pyproject.toml is not valid TOML")
    assert {"pyproject.toml", "conftest.py", "src/calc/"} <= set(found.patterns)

"""Node: the view of a scoped workspace package installs and runs, and bad manifests are
reported."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.scope.context.builders import commit, commit_all, context, shown, sparse_worktree


def _package(name: str, **fields: object) -> str:
    return json.dumps({"name": name, "version": "1.0.0", **fields})


WORKSPACE = {
    "package.json": json.dumps({"name": "root", "private": True, "workspaces": ["packages/*"]}),
    ".npmrc": "fund=false\n",
    "packages/app/package.json": _package("app", dependencies={"lib": "*"}, main="index.js"),
    "packages/app/index.js": "console.log(require('lib').answer());\n",
    "packages/lib/package.json": _package("lib", devDependencies={"base": "*"}, main="index.js"),
    "packages/lib/index.js": "exports.answer = () => require('base').value + 41;\n",
    "packages/base/package.json": _package("base", main="index.js"),
    "packages/base/index.js": "exports.value = 1;\n",
    # The fourth: npm reads its package.json to lay out the workspace; nothing else of it.
    "packages/unrelated/package.json": _package("unrelated", main="index.js"),
    "packages/unrelated/index.js": "throw new Error('not in the view');\n",
}


def test_a_scoped_package_sees_its_workspace_dependencies_whole(tmp_path: Path) -> None:
    found = context(commit(tmp_path / "repo", WORKSPACE), "packages/app/index.js")
    assert found.problems == ()
    assert found.patterns == (
        ".npmrc",
        "package.json",
        "packages/app/package.json",
        "packages/base/",
        "packages/lib/",
        "packages/unrelated/package.json",
    )
    reasons = {e.pattern: e.reason for e in found.entries}
    assert reasons["packages/base/"] == "dependency 'base' of packages/lib/package.json"


def _npm(cwd: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # A private cache and --offline: nothing here may reach a registry.
    env = {**os.environ, "npm_config_cache": str(tmp_path / "npm-cache")}
    return subprocess.run(
        ["npm", *args, "--offline", "--no-audit", "--no-fund"],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
    )


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")
def test_npm_ls_is_clean_in_the_view(tmp_path: Path) -> None:
    repo = commit(tmp_path / "repo", WORKSPACE)
    assert _npm(repo, tmp_path, "install", "--package-lock-only").returncode == 0
    commit_all(repo)
    found = context(repo, "packages/app/")
    assert "package-lock.json" in found.patterns
    slot = sparse_worktree(repo, tmp_path / "slot", ("packages/app/", *found.patterns))
    assert "packages/unrelated/index.js" not in shown(slot)
    installed = _npm(slot, tmp_path, "install")
    assert installed.returncode == 0, installed.stderr
    listed = _npm(slot, tmp_path, "ls", "--all")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    ran = subprocess.run(
        ["node", "packages/app/index.js"], cwd=slot, capture_output=True, text=True
    )
    assert ran.stdout == "42\n", ran.stderr


def test_file_dependencies_and_pnpm_workspaces(tmp_path: Path) -> None:
    files = {
        "pnpm-workspace.yaml": "packages:\n  - 'apps/*'\n  - \"libs/**\"\n  - '!libs/old'\n",
        "pnpm-lock.yaml": "lockfileVersion: '9.0'\n",
        "package.json": _package("root"),
        "apps/web/package.json": _package(
            "web", dependencies={"ui": "workspace:*", "local": "file:../../vendor/local"}
        ),
        "apps/web/tsconfig.json": "{}",
        "libs/ui/package.json": _package("ui"),
        "libs/old/package.json": _package("old"),
        "vendor/local/package.json": _package("local", dependencies={"far": "file:../../../far"}),
    }
    found = context(commit(tmp_path / "repo", files), "apps/web/src/")
    assert found.problems == (
        "dependency 'far' (file:../../../far) is outside the repository"
        " (vendor/local/package.json)",
    )
    assert found.patterns == (
        "apps/web/package.json",
        "apps/web/tsconfig.json",
        "libs/ui/",
        "package.json",
        "pnpm-lock.yaml",
        "pnpm-workspace.yaml",
        "vendor/local/",
    )
    assert [e.pattern for e in found.entries if e.lockfile] == ["pnpm-lock.yaml"]


def test_a_malformed_package_json_is_reported_and_the_rest_still_found(tmp_path: Path) -> None:
    files = {**WORKSPACE, "packages/lib/package.json": '{"name": "lib",', "Makefile": "all:\n"}
    found = context(commit(tmp_path / "repo", files), "packages/app/")
    assert len(found.problems) == 1
    assert found.problems[0].startswith("packages/lib/package.json is not valid JSON")
    # lib is no longer known by name, so not followed; the rest of the workspace still is.
    assert {"Makefile", "package.json", "packages/lib/package.json"} <= set(found.patterns)
    assert "packages/lib/" not in found.patterns


def test_a_symlinked_package_json_is_reported_and_not_shown(tmp_path: Path) -> None:
    files = {k: v for k, v in WORKSPACE.items() if k != "packages/lib/package.json"}
    links = {"packages/lib/package.json": "/etc/hostname"}
    found = context(commit(tmp_path / "repo", files, links), "packages/app/")
    assert found.problems == ("packages/lib/package.json is a symbolic link: not followed",)
    assert not any(p.startswith("packages/lib") for p in found.patterns)

"""Every build system: its top-level build and tooling files, and Gleam projects.

A build reads more than its language's manifest: the Makefile or justfile that drives it, the
pinned toolchain versions, the compiler settings shared by the tree, and the CI configuration
an agent reads to learn how the project is checked. These live at the top of the repository
by convention; each that is tracked is context, whatever the write scope, and so are the root
manifests and lock files of every language, which keeps them in a view whose language
detector could not read them. (In cone mode the root's files are shown anyway; a non-cone
view needs them named.)

Gleam reads `gleam.toml` and its lock, `manifest.toml`, and the source of its path
dependencies.
"""

from __future__ import annotations

import fnmatch

from worktree_pool.scope.context.model import Findings, table
from worktree_pool.scope.context.tree import Coverage, Tree, join, owners

TOP_LEVEL_NAMES = frozenset(
    {
        "Makefile",
        "makefile",
        "GNUmakefile",
        "justfile",
        "Justfile",
        ".justfile",
        "Taskfile.yml",
        "Taskfile.yaml",
        ".tool-versions",
        ".mise.toml",
        "mise.toml",
        "rust-toolchain",
        "rust-toolchain.toml",
        "rustfmt.toml",
        ".rustfmt.toml",
        "clippy.toml",
        ".nvmrc",
        ".node-version",
        ".python-version",
        ".ruby-version",
        ".editorconfig",
        ".gitlab-ci.yml",
        ".pre-commit-config.yaml",
        "CMakeLists.txt",
        "meson.build",
        "BUILD.bazel",
        "WORKSPACE",
        "MODULE.bazel",
        ".bazelrc",
        ".bazelversion",
        "flake.nix",
        "shell.nix",
        "default.nix",
        ".envrc",
        "build.gradle",
        "build.gradle.kts",
        "settings.gradle",
        "settings.gradle.kts",
        "pom.xml",
        "ruff.toml",
        ".ruff.toml",
        "mypy.ini",
        ".flake8",
        "biome.json",
        "deno.json",
        "gleam.toml",
    }
)
TOP_LEVEL_GLOBS = (
    "tsconfig*.json",
    "Dockerfile*",
    "*.Dockerfile",
    "docker-compose*.y*ml",
    "compose.y*ml",
    ".eslintrc*",
    "eslint.config.*",
    ".prettierrc*",
    "prettier.config.*",
    "babel.config.*",
    "jest.config.*",
    "vitest.config.*",
    "vite.config.*",
)
# The root manifests of every build system the language detectors know: when a detector cannot
# follow one (it is malformed), the view still shows it, and the build's own error names it.
TOP_LEVEL_MANIFESTS = frozenset(
    {
        "Cargo.toml",
        "package.json",
        "pnpm-workspace.yaml",
        "pyproject.toml",
        "setup.cfg",
        "setup.py",
        "go.mod",
        "go.work",
    }
)
TOP_LEVEL_LOCKS = frozenset(
    {
        "Cargo.lock",
        "package-lock.json",
        "npm-shrinkwrap.json",
        "yarn.lock",
        "pnpm-lock.yaml",
        "bun.lock",
        "bun.lockb",
        "poetry.lock",
        "uv.lock",
        "Pipfile.lock",
        "pdm.lock",
        "go.sum",
        "go.work.sum",
        "manifest.toml",
        "flake.lock",
        "Gemfile.lock",
        "composer.lock",
    }
)
# Tooling directories, shown whole when tracked.
TOP_LEVEL_DIRECTORIES = (".github/workflows", ".circleci", ".cargo")


def detect(tree: Tree, coverage: Coverage, found: Findings) -> None:
    for name in tree.names_in(""):
        if name in TOP_LEVEL_LOCKS:
            found.file(name, "top-level lock file", lockfile=True)
        elif name in TOP_LEVEL_MANIFESTS:
            found.file(name, "top-level manifest")
        elif name in TOP_LEVEL_NAMES or any(fnmatch.fnmatchcase(name, g) for g in TOP_LEVEL_GLOBS):
            found.file(name, "top-level build or tooling file")
    for directory in TOP_LEVEL_DIRECTORIES:
        if tree.under(directory):
            found.directory(directory, "top-level build or tooling directory")
    _gleam(tree, coverage, found)


GLEAM_DEPENDENCIES = ("dependencies", "dev-dependencies", "dev_dependencies")


def _gleam(tree: Tree, coverage: Coverage, found: Findings) -> None:
    homes = {m.rpartition("/")[0] for m in tree.named("gleam.toml")}
    pending = sorted(owners(coverage.directories, homes))
    reached = set(pending)
    while pending:
        project = pending.pop()
        manifest = join(project, "gleam.toml")
        found.file(manifest, "Gleam project of the write scope")
        if join(project, "manifest.toml") in tree.files:
            found.file(join(project, "manifest.toml"), f"lock file of {manifest}", lockfile=True)
        data = found.toml(manifest)
        listings = [
            table(data, k) for k in ("dependencies", "dev-dependencies", "dev_dependencies")
        ]
        for name, _path, where in found.path_dependencies(
            project, manifest, listings, "gleam.toml"
        ):
            if where in homes and where not in reached:
                reached.add(where)
                pending.append(where)
                found.directory(where, f"path dependency {name!r} of {manifest}")

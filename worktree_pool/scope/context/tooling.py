"""Top-level build and tooling files every build may read, and Gleam's manifests."""

from __future__ import annotations

import fnmatch

from worktree_pool.scope.context.found import Found
from worktree_pool.scope.context.tree import CommitTree, WriteScope

TOOLING = (
    "Makefile", "makefile", "GNUmakefile", "justfile", "Justfile", "Taskfile.yml",
    ".tool-versions", ".mise.toml", "rust-toolchain", "rust-toolchain.toml", ".nvmrc",
    ".node-version", ".python-version", "tsconfig*.json", "Dockerfile", ".gitlab-ci.yml",
    ".editorconfig", "gleam.toml", "CMakeLists.txt", "build.gradle*", "settings.gradle*",
    "pom.xml", "flake.nix", "shell.nix", "default.nix",
)  # fmt: skip
LOCKS = ("manifest.toml", "flake.lock")  # Gleam's and Nix's lock files
DIRECTORIES = (".github/workflows", ".cargo", ".config")


def detect(tree: CommitTree, write: WriteScope) -> Found:
    found = Found()
    for path in sorted(tree.directly_in("")):
        if any(fnmatch.fnmatchcase(path, pattern) for pattern in TOOLING):
            found.add(path, "a top-level build or tooling file")
        elif path in LOCKS:
            found.add(path, "a top-level lock file", lockfile=True)
    for directory in DIRECTORIES:
        if tree.under(directory):
            found.add(f"{directory}/", "top-level build and CI configuration")
    return found

"""Node: what `npm install`/`npm ls` and a build of the scoped package need to see.

npm reads every workspace's package.json to lay out the workspace (a missing one is an
error), so all of them are context, as are the package.json files and lock files on the way up
from the scope. The workspace packages the scoped package depends on, by name in any of its
dependency lists or by a `file:`/`link:` path, are compiled or run with it, so each comes
whole, and so, transitively, do theirs.
"""

from __future__ import annotations

import fnmatch
import re

from worktree_pool.scope.context.model import Findings, strings, table
from worktree_pool.scope.context.tree import Coverage, Tree, ancestors, inside, join, owned

MANIFEST = "package.json"
LOCK_FILES = frozenset(
    {
        "package-lock.json",
        "npm-shrinkwrap.json",
        "yarn.lock",
        "pnpm-lock.yaml",
        "bun.lock",
        "bun.lockb",
    }
)
SETTINGS = frozenset(
    {
        "pnpm-workspace.yaml",
        ".npmrc",
        ".yarnrc",
        ".yarnrc.yml",
        "lerna.json",
        "nx.json",
        "turbo.json",
    }
)
# Compiler and test-runner settings a package build reads, often from the directories above it
# (`"extends": "../../tsconfig.base.json"`).
TOOL_CONFIGS = (
    "tsconfig*.json",
    "jsconfig.json",
    ".babelrc*",
    "babel.config.*",
    "jest.config.*",
    "vitest.config.*",
    "vite.config.*",
    "webpack.config.*",
    "rollup.config.*",
)
_SOURCE_SUFFIXES = (".js", ".mjs", ".cjs", ".jsx", ".ts", ".mts", ".cts", ".tsx", ".json", ".vue")
_DEPENDENCY_LISTS = ("dependencies", "devDependencies", "peerDependencies", "optionalDependencies")
# `  - 'packages/*'` under `packages:` in pnpm-workspace.yaml (YAML is not in the standard
# library; this one list is all that is read of it).
_PNPM_ITEM = re.compile(r"""^\s*-\s*['"]?([^'"#\s]+)['"]?\s*(?:#.*)?$""")


def detect(tree: Tree, coverage: Coverage, found: Findings) -> None:
    homes = {m.rpartition("/")[0] for m in tree.named(MANIFEST)}
    if not homes:
        return
    for directory in sorted(coverage.ancestry):
        for name in tree.names_in(directory):
            path = join(directory, name)
            if name == MANIFEST:
                found.file(path, "package.json on the way up from the scope")
            elif name in LOCK_FILES:
                found.file(path, "npm lock file on the way up from the scope", lockfile=True)
            elif name in SETTINGS:
                found.file(path, "package manager settings on the way up from the scope")
            elif any(fnmatch.fnmatchcase(name, pattern) for pattern in TOOL_CONFIGS):
                found.file(path, "build tool settings on the way up from the scope")
    scoped = sorted(
        owner
        for directory, owner in owned(coverage.directories, homes).items()
        if owner is not None and _counts(tree, coverage, found, directory, owner)
    )
    workspace: dict[str, str] = {}  # package name -> directory
    roots = {root for root in (_root_of(tree, found, homes, d) for d in scoped) if root is not None}
    for root in sorted(roots):
        for member in _members(tree, found, root, homes):
            manifest = join(member, MANIFEST)
            # Shown even when malformed: npm's own error then names it, which beats "missing".
            found.file(manifest, f"npm workspace package ({join(root, MANIFEST)})")
            data = found.json_object(manifest)
            if data is not None and isinstance(data.get("name"), str):
                workspace[data["name"]] = member

    pending = list(scoped)
    reached = set(scoped)
    while pending:
        package = pending.pop()
        manifest = join(package, MANIFEST)
        data = found.json_object(manifest)
        if data is None:
            continue
        for listing in _DEPENDENCY_LISTS:
            for name, spec in table(data, listing).items():
                where = _dependency(tree, found, package, name, spec, workspace, homes)
                if where is not None and where not in reached:
                    reached.add(where)
                    pending.append(where)
                    found.directory(where, f"dependency {name!r} of {manifest}")


def _counts(tree: Tree, coverage: Coverage, found: Findings, directory: str, owner: str) -> bool:
    """Whether a directory of the scope makes its package a scoped one. A workspace root owns
    every directory no member does, Rust crates and docs included: it counts only for a
    directory where the scope holds JavaScript-family files (or one still to be made), or
    every Rust scope in a mixed repository would pull in every workspace's package.json."""
    data = found.json_object(join(owner, MANIFEST))
    if data is None or "workspaces" not in data:
        return True
    if directory not in tree.directories:
        return True
    return any(
        join(directory, name) in coverage.files and name.endswith(_SOURCE_SUFFIXES)
        for name in tree.names_in(directory)
    )


def _dependency(
    tree: Tree,
    found: Findings,
    package: str,
    name: str,
    spec: object,
    workspace: dict[str, str],
    homes: set[str],
) -> str | None:
    """The directory of a dependency that lives in this repository, if it is one."""
    manifest = join(package, MANIFEST)
    if isinstance(spec, str) and spec.startswith(("file:", "link:")):
        path = spec.partition(":")[2]
        where = inside(package, path)
        if where is None:
            found.problem(f"dependency {name!r} ({spec}) is outside the repository ({manifest})")
            return None
        if found.reader.is_symlink(where) or found.reader.is_symlink(join(where, MANIFEST)):
            found.problem(
                f"dependency {name!r} ({spec}) is a symbolic link: not followed ({manifest})"
            )
            return None
        return where if where in homes else None
    where = workspace.get(name)
    return where if where != package else None


def _root_of(tree: Tree, found: Findings, homes: set[str], directory: str) -> str | None:
    """The workspace root above a package: the nearest package.json declaring workspaces,
    or the directory of a pnpm-workspace.yaml."""
    for up in ancestors(directory):
        if join(up, "pnpm-workspace.yaml") in tree.files:
            return up
        if up in homes:
            data = found.json_object(join(up, MANIFEST))
            if data is not None and "workspaces" in data:
                return up
    return None


def _members(tree: Tree, found: Findings, root: str, homes: set[str]) -> list[str]:
    data = found.json_object(join(root, MANIFEST)) if root in homes else None
    declared = (data or {}).get("workspaces")
    globs = strings(declared) or strings(table(data, "workspaces").get("packages"))
    pnpm = join(root, "pnpm-workspace.yaml")
    if pnpm in tree.files:
        globs += _pnpm_packages(found.text(pnpm) or "")
    members = []
    for glob in globs:
        negated = glob.startswith("!")
        where = inside(root, glob.lstrip("!"))
        if where is None:
            found.problem(f"workspace {glob!r} is outside the repository ({join(root, MANIFEST)})")
            continue
        matched = [d for d in tree.glob_directories(where) if d in homes]
        members = [m for m in members if m not in matched] if negated else members + matched
    return sorted(set(members))


def _pnpm_packages(text: str) -> list[str]:
    packages: list[str] = []
    listing = False
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace() and not line.startswith("-"):
            listing = line.split(":")[0].strip() == "packages"
            continue
        item = _PNPM_ITEM.match(line)
        if listing and item:
            packages.append(item.group(1))
    return packages

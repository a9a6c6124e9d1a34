"""Node: the root and workspace `package.json` files, lock files, and the workspace packages a
scoped package depends on (by name, transitively), whole."""

from __future__ import annotations

import fnmatch
import json
import posixpath
from typing import Any

from worktree_pool.scope.context.found import Found
from worktree_pool.scope.context.tree import CommitTree, WriteScope

MANIFEST = "package.json"
LOCKS = ("package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", "bun.lockb")
WORKSPACE_FILES = ("pnpm-workspace.yaml", ".npmrc", ".yarnrc.yml", "lerna.json", "nx.json")
DEPENDENCY_FIELDS = ("dependencies", "devDependencies", "peerDependencies", "optionalDependencies")


def detect(tree: CommitTree, write: WriteScope) -> Found:
    found = Found()
    root = _parse(tree, MANIFEST, found)
    if root is None and MANIFEST not in tree.files:
        return found
    found.add(MANIFEST, "the root package.json")
    for name in LOCKS:
        if name in tree.files:
            found.add(name, "the Node lock file", lockfile=True)
    for name in WORKSPACE_FILES:
        if name in tree.files:
            found.add(name, "Node workspace configuration")
    packages = _workspace_packages(tree, root or {}, found)
    by_name = {}
    for directory, data in packages.items():
        found.add(f"{directory}/{MANIFEST}", "a package of the Node workspace")
        if isinstance(data.get("name"), str):
            by_name[data["name"]] = directory
    todo = [d for d in sorted(packages) if write.touches(d)]
    done = set(todo)
    while todo:
        directory = todo.pop()
        for dependency in _dependency_names(packages[directory]):
            target = by_name.get(dependency)
            if target is not None and target not in done:
                done.add(target)
                todo.append(target)
                found.add(f"{target}/", f"workspace package {dependency}, used by {directory}")
    return found


def _parse(tree: CommitTree, path: str, found: Found) -> dict[str, Any] | None:
    if path in tree.links:
        found.problems.append(f"{path} is a symbolic link: not followed")
        return None
    content = tree.read(path)
    if content is None:
        return None
    try:
        data = json.loads(content)
    except (ValueError, UnicodeDecodeError) as exc:
        found.problems.append(f"{path} is not valid JSON: {str(exc).splitlines()[0]}")
        return None
    return data if isinstance(data, dict) else None


def _workspace_packages(
    tree: CommitTree, root: dict[str, Any], found: Found
) -> dict[str, dict[str, Any]]:
    workspaces = root.get("workspaces")
    if isinstance(workspaces, dict):
        workspaces = workspaces.get("packages")
    if not isinstance(workspaces, list):
        return {}
    globs = [w.rstrip("/") for w in workspaces if isinstance(w, str) and not w.startswith("!")]
    packages = {}
    tree.prefetch(tree.named(MANIFEST))
    for manifest in tree.named(MANIFEST):
        directory = posixpath.dirname(manifest)
        if directory and any(fnmatch.fnmatchcase(directory, g) for g in globs):
            data = _parse(tree, manifest, found)
            if data is not None:
                packages[directory] = data
    return packages


def _dependency_names(data: dict[str, Any]) -> list[str]:
    names: list[str] = []
    for field in DEPENDENCY_FIELDS:
        table = data.get(field)
        if isinstance(table, dict):
            names += [n for n in table if isinstance(n, str)]
    return names

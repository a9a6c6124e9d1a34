"""Cargo: the workspace's manifests and lock file, and the path dependencies of scoped crates.

`cargo` loads the whole workspace before it builds any crate, so every member's manifest must
be there; a crate's path dependencies must be there whole, since they are compiled with it.
"""

from __future__ import annotations

import fnmatch
import posixpath
import tomllib
from typing import Any

from worktree_pool.scope.context.found import Found
from worktree_pool.scope.context.tree import CommitTree, WriteScope, inside

MANIFEST = "Cargo.toml"
DEPENDENCY_TABLES = ("dependencies", "dev-dependencies", "build-dependencies")


def detect(tree: CommitTree, write: WriteScope) -> Found:
    found = Found()
    manifests = {posixpath.dirname(p): p for p in tree.named(MANIFEST)}
    if not manifests:
        return found
    tree.prefetch(list(manifests.values()))
    parsed = {d: _parse(tree, path, found) for d, path in manifests.items()}
    workspace_deps: dict[str, dict[str, Any]] = {}
    for directory, data in parsed.items():
        workspace = data.get("workspace") if data else None
        if not isinstance(workspace, dict):
            continue
        manifest = manifests[directory]
        found.add(manifest, "the Cargo workspace's root manifest")
        lock = f"{directory}/Cargo.lock" if directory else "Cargo.lock"
        if lock in tree.files:
            found.add(lock, f"the lock file of the workspace at {manifest}", lockfile=True)
        for member in _members(workspace, directory, manifests):
            found.add(manifests[member], f"a member of the workspace at {manifest}")
            # Cargo loads every member before building any, and a member without its target
            # files ("no targets specified") fails the load: their roots, not their sources.
            for target in _targets(member, parsed.get(member) or {}, tree):
                found.add(target, f"a target root of workspace member {member}")
        deps = workspace.get("dependencies")
        if isinstance(deps, dict):
            workspace_deps[directory] = deps
    scoped = [d for d in sorted(manifests) if write.touches(d or "src")]
    for directory in scoped:  # a crate outside any workspace keeps its own lock file
        lock = f"{directory}/Cargo.lock" if directory else "Cargo.lock"
        if lock in tree.files and lock not in {e.pattern for e in found.entries}:
            found.add(lock, f"the lock file beside {manifests[directory]}", lockfile=True)
    done: set[str] = set()
    for crate in scoped:
        _path_dependencies(crate, parsed, manifests, workspace_deps, found, done, (crate,))
    return found


def _parse(tree: CommitTree, path: str, found: Found) -> dict[str, Any] | None:
    if path in tree.links:
        found.problems.append(f"{path} is a symbolic link: not followed")
        return None
    content = tree.read(path)
    if content is None:
        return None
    try:
        return tomllib.loads(content.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        found.problems.append(f"{path} is not valid TOML: {str(exc).splitlines()[0]}")
        return None


def _members(workspace: dict[str, Any], root: str, manifests: dict[str, str]) -> list[str]:
    patterns = workspace.get("members") or []
    excluded = workspace.get("exclude") or []
    if not isinstance(patterns, list):
        return []
    chosen = []
    for directory in manifests:
        relative = posixpath.relpath(directory or ".", root or ".")
        if relative.startswith(".."):
            continue
        if _matches(relative, patterns) and not _matches(relative, excluded):
            chosen.append(directory)
    return sorted(chosen)


def _targets(crate: str, data: dict[str, Any], tree: CommitTree) -> list[str]:
    """The files Cargo looks for to find a crate's targets: the default roots, and the paths
    its `[lib]`, `[[bin]]`, `build` entries name."""
    named = ["src/lib.rs", "src/main.rs", "build.rs"]
    lib = data.get("lib")
    if isinstance(lib, dict) and isinstance(lib.get("path"), str):
        named.append(lib["path"])
    for kind in ("bin", "example", "test", "bench"):
        entries = data.get(kind)
        if isinstance(entries, list):
            named += [
                e["path"] for e in entries if isinstance(e, dict) and isinstance(e.get("path"), str)
            ]
    package = data.get("package")
    if isinstance(package, dict) and isinstance(package.get("build"), str):
        named.append(package["build"])
    found = []
    for relative in named:
        path = inside(crate, relative)
        if path is not None and path in tree.files:
            found.append(path)
    return found


def _matches(relative: str, globs: list[Any]) -> bool:
    return any(isinstance(g, str) and fnmatch.fnmatchcase(relative, g.rstrip("/")) for g in globs)


def _path_dependencies(
    crate: str,
    parsed: dict[str, dict[str, Any] | None],
    manifests: dict[str, str],
    workspace_deps: dict[str, dict[str, Any]],
    found: Found,
    done: set[str],
    chain: tuple[str, ...],
) -> None:
    """Every crate `crate` depends on by path, transitively, whole."""
    if crate in done:
        return
    done.add(crate)
    data = parsed.get(crate) or {}
    for name, spec, base in _dependencies(data, crate, workspace_deps):
        target = spec.get("path") if isinstance(spec, dict) else None
        if not isinstance(target, str):
            continue
        directory = inside(base, target)
        manifest = manifests[crate]
        if directory is None:
            found.problems.append(
                f"{manifest}: path dependency {name} ({target}) leaves the repository: not shown"
            )
            continue
        if directory in chain:
            cycle = " -> ".join((*chain, directory))
            found.problems.append(f"{manifest}: a cycle of path dependencies ({cycle})")
            continue
        if directory not in manifests:
            found.problems.append(f"{manifest}: path dependency {name} has no {MANIFEST}")
            continue
        found.add(f"{directory}/", f"path dependency {name} of {crate} ({manifest})")
        _path_dependencies(
            directory, parsed, manifests, workspace_deps, found, done, (*chain, directory)
        )


def _dependencies(
    data: dict[str, Any], crate: str, workspace_deps: dict[str, dict[str, Any]]
) -> list[tuple[str, Any, str]]:
    """(name, spec, the directory its path is relative to) for every dependency table,
    `workspace = true` resolved through the enclosing workspace's `[workspace.dependencies]`."""
    tables = [data.get(t) for t in DEPENDENCY_TABLES]
    target = data.get("target")
    if isinstance(target, dict):
        tables += [
            t.get(k) for t in target.values() if isinstance(t, dict) for k in DEPENDENCY_TABLES
        ]
    patch = data.get("patch")
    if isinstance(patch, dict):
        tables += list(patch.values())
    found = []
    for table in tables:
        if not isinstance(table, dict):
            continue
        for name, spec in table.items():
            if isinstance(spec, dict) and spec.get("workspace") is True:
                root = _workspace_of(crate, workspace_deps)
                if root is not None and isinstance(workspace_deps[root].get(name), dict):
                    found.append((name, workspace_deps[root][name], root))
                continue
            found.append((name, spec, crate))
    return found


def _workspace_of(crate: str, workspace_deps: dict[str, dict[str, Any]]) -> str | None:
    candidates = [w for w in workspace_deps if not w or crate == w or crate.startswith(f"{w}/")]
    return max(candidates, key=len) if candidates else None

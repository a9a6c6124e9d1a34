"""Cargo: what `cargo check` of the crates in the write scope needs to see.

Cargo loads the whole workspace before it builds one crate: the root manifest, every member's
manifest, and the manifests of every member's path dependencies. Loading a manifest also looks
for the crate's target roots (`src/lib.rs`, `src/main.rs`, or the `[lib]`/`[[bin]]` paths): a
member with a Cargo.toml and nothing else fails with "no targets specified in the manifest".
So every crate cargo loads gets its manifest and target roots, and only the crates actually
compiled (the scoped ones and their path dependencies, transitively) get their whole
directory. The rest of the workspace stays out of the view.

A crate is in the write scope when the scope covers a file it owns: one in its directory and
not in a nested crate's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from worktree_pool.scope.context.model import Findings, strings, table
from worktree_pool.scope.context.tree import Coverage, Tree, ancestors, inside, join, owners

MANIFEST = "Cargo.toml"
LOCK = "Cargo.lock"
_DEPENDENCY_TABLES = ("dependencies", "dev-dependencies", "build-dependencies")


@dataclass
class _Crate:
    directory: str
    manifest: str
    data: dict[str, object] | None  # None: unreadable, already reported
    dependencies: list[str] = field(default_factory=list)  # crate directories, by path
    names: set[str] = field(default_factory=set)  # every dependency's crate name


class _Workspace:
    """The crates cargo would load, read once each."""

    def __init__(self, tree: Tree, found: Findings) -> None:
        self.tree = tree
        self.found = found
        self.homes = {d for d in (m.rpartition("/")[0] for m in tree.named(MANIFEST))}
        self._crates: dict[str, _Crate] = {}

    def crate(self, directory: str) -> _Crate:
        known = self._crates.get(directory)
        if known is None:
            manifest = join(directory, MANIFEST)
            known = _Crate(directory, manifest, self.found.toml(manifest))
            self._crates[directory] = known
            # Recorded before its dependencies are resolved: `workspace = true` reads the
            # workspace root, which may be this very crate.
            known.dependencies = self._path_dependencies(known)
        return known

    def root_of(self, directory: str) -> _Crate | None:
        """The workspace a crate belongs to: like cargo, the nearest manifest at or above it
        with a [workspace] table."""
        for up in ancestors(directory):
            if up in self.homes:
                crate = self.crate(up)
                if crate.data is not None and "workspace" in crate.data:
                    return crate
        return None

    def members(self, root: _Crate) -> list[str]:
        workspace = table(root.data, "workspace")
        excluded = {inside(root.directory, e) for e in strings(workspace.get("exclude"))}
        found: list[str] = [root.directory] if "package" in (root.data or {}) else []
        for member in strings(workspace.get("members")):
            where = inside(root.directory, member)
            if where is None:
                self.found.problem(
                    f"workspace member {member!r} is outside the repository ({root.manifest})"
                )
                continue
            matched = [d for d in self.tree.glob_directories(where) if d in self.homes]
            if not matched and not any(c in member for c in "*?["):
                self.found.problem(
                    f"workspace member {member!r} has no Cargo.toml ({root.manifest})"
                )
            found.extend(d for d in matched if d not in excluded)
        return found

    def _path_dependencies(self, crate: _Crate) -> list[str]:
        if crate.data is None:
            return []
        tables = [table(crate.data, name) for name in _DEPENDENCY_TABLES]
        for target in table(crate.data, "target").values():
            tables += [table(target, name) for name in _DEPENDENCY_TABLES]
        found = []
        for dependencies in tables:
            for name, spec in dependencies.items():
                renamed = spec.get("package") if isinstance(spec, dict) else None
                crate.names.add(renamed if isinstance(renamed, str) else name)
                where = self._dependency_path(crate, name, spec)
                if where is not None and where != crate.directory:
                    found.append(where)
        return sorted(set(found))

    def _dependency_path(self, crate: _Crate, name: str, spec: object) -> str | None:
        """The directory a path dependency points at, if it is a crate in the repository."""
        if not isinstance(spec, dict):
            return None
        base, declared_in, path = crate.directory, crate.manifest, spec.get("path")
        if spec.get("workspace") is True:
            root = self.root_of(crate.directory)
            if root is None:
                return None
            inherited = table(root.data, "workspace", "dependencies").get(name)
            if not isinstance(inherited, dict):
                return None
            base, declared_in, path = root.directory, root.manifest, inherited.get("path")
        if not isinstance(path, str):
            return None
        return self.dependency_directory(base, path, f"path dependency {name!r}", declared_in)

    def dependency_directory(self, base: str, path: str, what: str, manifest: str) -> str | None:
        where = inside(base, path)
        if where is None:
            self.found.problem(f"{what} ({path}) is outside the repository ({manifest})")
            return None
        if self.found.reader.is_symlink(where):
            self.found.problem(f"{what} ({path}) is a symbolic link: not followed ({manifest})")
            return None
        if where not in self.homes:
            self.found.problem(f"{what} ({path}) has no tracked Cargo.toml ({manifest})")
            return None
        if self.found.reader.is_symlink(join(where, MANIFEST)):
            # The same line the read reports: the crate is neither followed nor shown.
            self.found.problem(f"{join(where, MANIFEST)} is a symbolic link: not followed")
            return None
        return where


def detect(tree: Tree, coverage: Coverage, found: Findings) -> None:
    workspace = _Workspace(tree, found)
    if not workspace.homes:
        return
    # A virtual manifest (a [workspace] and no [package]) owns no source: a scope beside the
    # crates (docs/, scripts/) is in no crate. An unreadable one may be either, and is kept.
    scoped = [
        directory
        for directory in sorted(owners(coverage.directories, workspace.homes))
        if "package" in (workspace.crate(directory).data or {"package": None})
    ]
    # A crate outside any workspace is its own root: its manifest, lock and [patch] table
    # play the parts a workspace root's do.
    roots: dict[str, _Crate] = {}
    for directory in scoped:
        crate = workspace.crate(directory)
        found.file(crate.manifest, "manifest of a crate in the write scope")
        root = workspace.root_of(directory) or crate
        roots[root.directory] = root

    # Everything cargo loads: each workspace's root, members, [patch] crates, and all their
    # path dependencies, transitively. Each gets its manifest and target roots.
    loaded: list[str] = []
    patches: dict[str, str] = {}  # crate name -> the directory that replaces it
    for root in roots.values():
        kind = "Cargo workspace" if "workspace" in (root.data or {}) else "crate"
        found.file(root.manifest, f"root manifest of the {kind}")
        if join(root.directory, LOCK) in tree.files:
            lock = join(root.directory, LOCK)
            found.file(lock, f"lock file of the {kind} ({root.manifest})", lockfile=True)
        for member in workspace.members(root):
            loaded.append(member)
            _stub(workspace, workspace.crate(member), f"workspace member ({root.manifest})")
        for source in table(root.data, "patch").values():
            for name, spec in source.items() if isinstance(source, dict) else ():
                path = spec.get("path") if isinstance(spec, dict) else None
                if isinstance(path, str):
                    what = f"[patch] {name!r}"
                    where = workspace.dependency_directory(
                        root.directory, path, what, root.manifest
                    )
                    if where is not None:
                        loaded.append(where)
                        patches[name] = where
                        _stub(workspace, workspace.crate(where), f"[patch] in {root.manifest}")
    for directory, dependent in _reachable(workspace, loaded + scoped, report_cycles=True):
        _stub(workspace, workspace.crate(directory), f"path dependency of {_name(dependent)}")

    # What is compiled: the scoped crates' path dependencies, whole, and a [patch] crate
    # that replaces any dependency of theirs, with its own path dependencies.
    compiled = _reachable(workspace, scoped, report_cycles=False)
    for directory, dependent in compiled:
        manifest = workspace.crate(dependent).manifest
        found.directory(directory, f"path dependency of {_name(dependent)} ({manifest})")
    names = {n for d in scoped + [d for d, _ in compiled] for n in workspace.crate(d).names}
    replacing = [where for name, where in patches.items() if name in names]
    for where in replacing:
        found.directory(where, "[patch] replacing a dependency of the write scope's crates")
    for directory, dependent in _reachable(workspace, replacing, report_cycles=False):
        manifest = workspace.crate(dependent).manifest
        found.directory(directory, f"path dependency of {_name(dependent)} ({manifest})")


def _reachable(
    workspace: _Workspace, starts: list[str], *, report_cycles: bool
) -> list[tuple[str, str]]:
    """(crate, the crate that first depends on it) for every crate reachable by path
    dependencies from `starts`, depth first; a cycle ends the walk and, once, is reported."""
    reached: list[tuple[str, str]] = []
    done: set[str] = set()
    for start in starts:
        if start in done:
            continue
        # Iterative, so a hostile chain of a thousand crates cannot exhaust the stack.
        path = [start]
        on_path = {start}
        pending = [iter(workspace.crate(start).dependencies)]
        while pending:
            following = next(pending[-1], None)
            if following is None:
                pending.pop()
                done.add(path[-1])
                on_path.discard(path.pop())
            elif following in on_path:
                if report_cycles:
                    cycle = [*path[path.index(following) :], following]
                    workspace.found.problem(
                        "path dependencies form a cycle: "
                        + " -> ".join(_name(c) for c in cycle)
                        + f" ({workspace.crate(path[-1]).manifest})"
                    )
            elif following not in done:
                reached.append((following, path[-1]))
                path.append(following)
                on_path.add(following)
                pending.append(iter(workspace.crate(following).dependencies))
    return reached


def _stub(workspace: _Workspace, crate: _Crate, reason: str) -> None:
    """What cargo reads of a crate it loads but does not build: its manifest and target roots."""
    if crate.data is None and workspace.found.reader.is_symlink(crate.manifest):
        return  # reported; a link is never followed, nor shown
    found, tree = workspace.found, workspace.tree
    found.file(crate.manifest, reason)
    declared = [table(crate.data, "lib").get("path")]
    binaries = crate.data.get("bin") if crate.data else None
    declared += (
        [t.get("path") for t in binaries if isinstance(t, dict)]
        if isinstance(binaries, list)
        else []
    )
    roots = [join(crate.directory, "src/lib.rs"), join(crate.directory, "src/main.rs")]
    for path in declared:
        where = inside(crate.directory, path) if isinstance(path, str) else None
        if where is not None and _within(where, crate.directory):
            roots.append(where)
    roots = [root for root in roots if root in tree.files and not found.reader.is_symlink(root)]
    for root in roots:
        found.file(root, f"target root cargo reads to load {crate.manifest}")
    bin_directory = join(crate.directory, "src/bin")
    if not roots and tree.under(bin_directory):
        found.directory(bin_directory, f"target roots cargo reads to load {crate.manifest}")


def _within(path: str, directory: str) -> bool:
    return not directory or path.startswith(directory + "/")


def _name(directory: str) -> str:
    return directory or "the root crate"

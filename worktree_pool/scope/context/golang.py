"""Go: what `go build`/`go test` of the scoped packages needs to see.

The module's go.mod and go.sum (and a go.work above it), and the packages of this
repository the scoped packages import, transitively: Go compiles every imported package from
source. An import belongs to this repository when it starts with the path of one of its
modules (every go.mod in the tree, so a go.work of several modules or a local `replace`
resolves too), and names the directory below that module's go.mod. Imports are read from the
`import` lines and blocks of every .go file of a package, tests included: an agent runs them.

A package is a directory, but a view shows it as `dir/`, subpackages and all: cone mode can
express that, and a little more to read costs less than a non-cone pattern per file.
"""

from __future__ import annotations

import re

from worktree_pool.scope.context.model import Findings
from worktree_pool.scope.context.tree import Coverage, Tree, join, owners

MANIFEST = "go.mod"
_MODULE = re.compile(r"^\s*module\s+\"?([^\s\"/]+[^\s\"]*)\"?", re.MULTILINE)
_BLOCK = re.compile(r"^import\s*\(([^)]*)\)", re.MULTILINE)
_SINGLE = re.compile(r"^import\s+(?:[\w.]+\s+)?[\"`]([^\"`]+)[\"`]", re.MULTILINE)
_IN_BLOCK = re.compile(r"^\s*(?:[\w.]+\s+)?[\"`]([^\"`]+)[\"`]", re.MULTILINE)
_COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.DOTALL)
# Imports come before any declaration; reading no further keeps a comment marker inside a
# string literal of the code from swallowing anything.
_FIRST_DECLARATION = re.compile(r"^(?:func|type|var|const)\b", re.MULTILINE)


def detect(tree: Tree, coverage: Coverage, found: Findings) -> None:
    homes = {m.rpartition("/")[0] for m in tree.named(MANIFEST)}
    if not homes:
        return
    modules: dict[str, str] = {}  # module path -> its directory
    for home in sorted(homes):
        text = found.text(join(home, MANIFEST))
        declared = _MODULE.search(text or "")
        if declared:
            modules[declared.group(1)] = home
        elif text is not None:
            found.problem(f"{join(home, MANIFEST)} declares no module: not followed")
    for directory in sorted(coverage.ancestry):
        for name in ("go.work", "go.work.sum"):
            if name in tree.names_in(directory):
                found.file(join(directory, name), "Go workspace", lockfile=name.endswith(".sum"))

    _module_files(tree, found, owners(coverage.directories, homes), "module of the write scope")
    pending = sorted(d for d in coverage.directories if _sources(tree, d))
    reached = set(pending)
    # Longest module path first, so a nested module wins over the one around it.
    prefixes = sorted(modules, key=len, reverse=True)
    while pending:
        package = pending.pop()
        for source in _sources(tree, package):
            for imported in _imports(found, source):
                where = _resolve(imported, prefixes, modules)
                if where is None or where in reached or not _sources(tree, where):
                    continue
                reached.add(where)
                pending.append(where)
                reason = f"Go package {imported} imported by {source}"
                if where:
                    found.directory(where, reason)
                else:  # the root package: its files, as the root directory is everything
                    for root_source in _sources(tree, ""):
                        found.file(root_source, reason)
                _module_files(tree, found, owners([where], homes), f"module of {imported}")


def _module_files(tree: Tree, found: Findings, homes: set[str], reason: str) -> None:
    for home in sorted(homes):
        found.file(join(home, MANIFEST), reason)
        if join(home, "go.sum") in tree.files:
            found.file(join(home, "go.sum"), reason, lockfile=True)


def _sources(tree: Tree, directory: str) -> list[str]:
    return [join(directory, n) for n in tree.names_in(directory) if n.endswith(".go")]


def _resolve(imported: str, prefixes: list[str], modules: dict[str, str]) -> str | None:
    """The directory of an import path inside one of the repository's modules, if it is."""
    for module in prefixes:
        if imported == module or imported.startswith(module + "/"):
            rest = imported[len(module) + 1 :]
            where = join(modules[module], rest) if rest else modules[module]
            # An import path is a module path plus directories; `..` would be a hostile one.
            return None if ".." in where.split("/") else where
    return None


def _imports(found: Findings, path: str) -> list[str]:
    text = found.text(path)
    if text is None:
        return []
    text = _COMMENT.sub("", _FIRST_DECLARATION.split(text, maxsplit=1)[0])
    imports = _SINGLE.findall(text)
    for block in _BLOCK.findall(text):
        imports += _IN_BLOCK.findall(block)
    return imports

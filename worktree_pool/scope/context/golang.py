"""Go: `go.mod` and `go.sum`, and the packages of the module that the scoped packages import,
transitively (read from their `import` lines)."""

from __future__ import annotations

import posixpath
import re

from worktree_pool.scope.context.found import Found
from worktree_pool.scope.context.tree import CommitTree, WriteScope

_MODULE = re.compile(rb"^module\s+(\S+)", re.MULTILINE)
_BLOCK = re.compile(rb"^import\s*\((.*?)\)", re.MULTILINE | re.DOTALL)
_SINGLE = re.compile(rb'^import\s+(?:[\w.]+\s+)?"([^"]+)"', re.MULTILINE)
_QUOTED = re.compile(rb'"([^"]+)"')


def detect(tree: CommitTree, write: WriteScope) -> Found:
    found = Found()
    for mod in tree.named("go.mod"):
        root = posixpath.dirname(mod)
        content = tree.read(mod)
        if content is None:
            if mod in tree.links:
                found.problems.append(f"{mod} is a symbolic link: not followed")
            continue
        module = _MODULE.search(content)
        if module is None:
            found.problems.append(f"{mod} names no module")
            continue
        scoped = {
            posixpath.dirname(p) for p in write.files if p.endswith(".go") and _within(p, root)
        }
        if not scoped:
            continue
        found.add(mod, "the Go module's go.mod")
        summary = f"{root}/go.sum" if root else "go.sum"
        if summary in tree.files:
            found.add(summary, "the Go module's checksums", lockfile=True)
        _imports(tree, module.group(1).decode(), root, sorted(scoped), found)
    return found


def _within(path: str, root: str) -> bool:
    return not root or path.startswith(f"{root}/")


def _imports(tree: CommitTree, module: str, root: str, todo: list[str], found: Found) -> None:
    done = set(todo)
    while todo:
        directory = todo.pop()
        for path in tree.directly_in(directory):
            if not path.endswith(".go"):
                continue
            for imported in _imported(tree.read(path) or b""):
                if imported != module and not imported.startswith(f"{module}/"):
                    continue
                relative = imported[len(module) :].lstrip("/")
                package = f"{root}/{relative}".strip("/") if root else relative
                if package in done or not tree.directly_in(package):
                    continue
                done.add(package)
                todo.append(package)
                found.add(f"{package}/", f"imported by {directory or 'the root package'}")


def _imported(source: bytes) -> list[str]:
    names = [m.decode() for m in _SINGLE.findall(source)]
    for block in _BLOCK.findall(source):
        names += [m.decode() for m in _QUOTED.findall(block)]
    return names

"""Python: the project's manifests and lock files, the package the scoped files belong to, and
the `conftest.py` files pytest loads on the way down to them."""

from __future__ import annotations

import posixpath

from worktree_pool.scope.context.found import Found
from worktree_pool.scope.context.tree import CommitTree, WriteScope

MANIFESTS = ("pyproject.toml", "setup.cfg", "setup.py", "tox.ini", "pytest.ini", "noxfile.py")
LOCKS = ("poetry.lock", "uv.lock", "Pipfile.lock", "pdm.lock", "Pipfile")


def detect(tree: CommitTree, write: WriteScope) -> Found:
    found = Found()
    scoped = sorted(p for p in write.files if p.endswith(".py"))
    if not scoped and not any(p.endswith(".py") for p in tree.files):
        return found
    directories = {posixpath.dirname(p) for p in scoped}
    seen: set[str] = set()
    for directory in sorted(directories):
        for up in _upward(directory):
            for name in MANIFESTS:
                _add(found, seen, tree, _join(up, name), "a Python project manifest")
            for name in LOCKS:
                _add(found, seen, tree, _join(up, name), "a Python lock file", lockfile=True)
            for path in tree.directly_in(up):
                base = posixpath.basename(path)
                if base.startswith("requirements") and base.endswith(".txt"):
                    _add(found, seen, tree, path, "a Python requirements file", lockfile=True)
            _add(
                found,
                seen,
                tree,
                _join(up, "conftest.py"),
                f"pytest loads it for {directory or 'the root'}",
            )
        package = _package(tree, directory)
        if package and f"{package}/" not in seen:
            seen.add(f"{package}/")
            found.add(
                f"{package}/",
                f"the Python package {posixpath.basename(package)} holds scoped files",
            )
    return found


def _upward(directory: str) -> list[str]:
    """`directory` and every directory above it, the root ('') last."""
    chain = []
    while directory:
        chain.append(directory)
        directory = posixpath.dirname(directory)
    return [*chain, ""]


def _package(tree: CommitTree, directory: str) -> str | None:
    """The outermost package (a chain of directories with `__init__.py`) holding `directory`."""
    top = None
    while directory and _join(directory, "__init__.py") in tree.files:
        top, directory = directory, posixpath.dirname(directory)
    return top


def _join(directory: str, name: str) -> str:
    return f"{directory}/{name}" if directory else name


def _add(
    found: Found, seen: set[str], tree: CommitTree, path: str, reason: str, lockfile: bool = False
) -> None:
    if path in tree.files and path not in seen:
        seen.add(path)
        found.add(path, reason, lockfile)

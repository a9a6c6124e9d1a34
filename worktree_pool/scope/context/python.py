"""Python: what running the write scope's code and tests needs to see.

The project files on the way up from the scope (pyproject.toml, setup.cfg, setup.py, pytest
and tox configuration, lock files and requirements), the `conftest.py` files pytest loads on
the way down to the tests, the package the scope belongs to (its top-level importable
package, whole: a module imports its siblings freely), and the packages of this repository
the scoped files import, transitively. An import names a top-level package found at an
import root (the repository root, a project's directory, or its `src/`); anything else is a
third-party or standard-library name and is ignored.

Path dependencies declared by uv (`[tool.uv.sources] x = { path = ... }`) or Poetry
(`x = { path = ... }`) bring their project's directory, and a uv workspace brings its
members' pyproject.toml files, which uv reads to resolve any one of them.
"""

from __future__ import annotations

import fnmatch
import re

from worktree_pool.scope.context.model import Findings, strings, table
from worktree_pool.scope.context.tree import Coverage, Tree, inside, join, parent

PROJECT_FILES = frozenset({"pyproject.toml", "setup.cfg", "setup.py", "pytest.ini", "tox.ini"})
# Lock files are regenerated, never written by hand; requirements files are hand-kept
# declarations as often as they are compiled locks, so they are context but not lock files.
LOCK_FILES = frozenset({"poetry.lock", "uv.lock", "Pipfile.lock", "pdm.lock"})
_REQUIREMENTS = ("requirements*.txt", "Pipfile")
# `import a.b, c` and `from a.b import c`, at the start of a line (indented too: imports in
# functions and `if TYPE_CHECKING:` blocks count). Relative imports stay inside the package.
_IMPORT = re.compile(
    r"^[ \t]*(?:from[ \t]+([A-Za-z_]\w*)[\w.]*[ \t]+import\b"
    r"|import[ \t]+([A-Za-z_][\w.]*(?:[ \t]*,[ \t]*[A-Za-z_][\w.]*)*))",
    re.MULTILINE,
)


def detect(tree: Tree, coverage: Coverage, found: Findings) -> None:
    projects = []
    for directory in sorted(coverage.ancestry):
        for name in tree.names_in(directory):
            path = join(directory, name)
            if name in PROJECT_FILES:
                found.file(path, "Python project configuration on the way up from the scope")
                if name == "pyproject.toml":
                    projects.append(directory)
            elif name in LOCK_FILES:
                found.file(path, "Python lock file on the way up from the scope", lockfile=True)
            elif any(fnmatch.fnmatchcase(name, p) for p in _REQUIREMENTS):
                found.file(path, "Python requirements on the way up from the scope")
            elif name == "conftest.py":
                found.file(path, "pytest conftest.py on the way up from the scope")
    for project in projects:
        _project_dependencies(tree, found, project)

    packages = _top_level_packages(tree)
    # Work list of package directories whose imports are still to be read: the scope's own
    # package first, then whatever each package imports.
    pending: list[str] = []
    seen: set[str] = set()
    for directory in sorted(coverage.directories):
        package = _package_of(tree, directory)
        if package is not None and package not in seen:
            seen.add(package)
            pending.append(package)
            found.directory(package, "the Python package the write scope belongs to")
    scoped_sources = sorted(p for p in coverage.files if p.endswith(".py"))
    for path in scoped_sources:
        for name in _imports(found, path):
            _imported(tree, found, packages, name, path, seen, pending)
            # A module beside a script or test (`import helpers` in tests/) is imported from
            # the script's own directory, which Python puts first on the path.
            sibling = join(parent(path), name + ".py")
            if sibling in tree.files and sibling not in coverage.files:
                found.file(sibling, f"imported by {path}")
    while pending:
        package = pending.pop()
        for path in tree.under(package):
            if path.endswith(".py"):
                for name in _imports(found, path):
                    _imported(tree, found, packages, name, path, seen, pending)


def _imported(
    tree: Tree,
    found: Findings,
    packages: dict[str, list[str]],
    name: str,
    importer: str,
    seen: set[str],
    pending: list[str],
) -> None:
    for location in packages.get(name, []):
        if location.endswith(".py"):
            found.file(location, f"imported by {importer}")
        elif location not in seen:
            seen.add(location)
            pending.append(location)
            found.directory(location, f"Python package imported by {importer}")


def _package_of(tree: Tree, directory: str) -> str | None:
    """The top-level package a directory belongs to: the highest of the unbroken chain of
    directories with an `__init__.py` that starts at it."""
    top = None
    while join(directory, "__init__.py") in tree.files and directory:
        top = directory
        directory = parent(directory)
    return top


def _top_level_packages(tree: Tree) -> dict[str, list[str]]:
    """Importable top-level name -> its package directory (or module file), at each import
    root: the repository root, `src/`, and every Python project's directory and its `src/`."""
    roots = {"", "src"}
    for name in ("pyproject.toml", "setup.py", "setup.cfg"):
        for manifest in tree.named(name):
            roots.update({parent(manifest), join(parent(manifest), "src")})
    found: dict[str, list[str]] = {}
    for init in tree.named("__init__.py"):
        package = parent(init)
        if package and parent(package) in roots:
            found.setdefault(package.rpartition("/")[2], []).append(package)
    for root in roots:
        for name in tree.names_in(root):
            if name.endswith(".py") and name not in ("setup.py", "conftest.py"):
                found.setdefault(name[:-3], []).append(join(root, name))
    return found


def _imports(found: Findings, path: str) -> list[str]:
    """The top-level names a Python file imports."""
    text = found.text(path)
    if text is None:
        return []
    names = []
    for origin, listed in _IMPORT.findall(text):
        if origin:
            names.append(origin)
        else:
            names += [item.strip().split(".")[0] for item in listed.split(",")]
    return names


def _project_dependencies(tree: Tree, found: Findings, project: str) -> None:
    """uv workspace members' manifests, and the directories of path dependencies."""
    manifest = join(project, "pyproject.toml")
    data = found.toml(manifest)
    if data is None:
        return
    for member in strings(table(data, "tool", "uv", "workspace").get("members")):
        where = inside(project, member)
        if where is None:
            found.problem(f"uv workspace member {member!r} is outside the repository ({manifest})")
            continue
        for directory in tree.glob_directories(where):
            if join(directory, "pyproject.toml") in tree.files:
                found.file(join(directory, "pyproject.toml"), f"uv workspace member ({manifest})")
    sources = [table(data, "tool", "uv", "sources"), table(data, "tool", "poetry", "dependencies")]
    sources += [
        table(group, "dependencies") for group in table(data, "tool", "poetry", "group").values()
    ]
    for name, _path, where in found.path_dependencies(project, manifest, sources):
        if where in tree.directories:
            found.directory(where, f"path dependency {name!r} of {manifest}")
        elif where in tree.files:  # a wheel or sdist checked in
            found.file(where, f"path dependency {name!r} of {manifest}")

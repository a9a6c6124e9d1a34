"""The tracked files of a commit, read without a checkout.

A sparse slot does not have most files on disk, and the view must not depend on what happens
to be checked out, so detection reads the commit: its listing (git/tree_listing.py, shared with
scope planning; its modes tell a symbolic link from a regular file), and `git cat-file --batch`
for contents, only those asked for, each at most once.

Contents are fetched in batches, because one git process per manifest would cost more than
all the parsing (100 crates, 100 processes, a third of a second): a miss fetches the file
together with every unread file of the same name (the other Cargo.toml files, which
detection is about to ask for) or, for other files, every unread file of the same kind in the
same directory (the other .go files of a package).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable

from worktree_pool.errors import bad_input
from worktree_pool.git.run import Git, resolve
from worktree_pool.git.tree_listing import tree_listing
from worktree_pool.scope.context.model import TreeReader
from worktree_pool.scope.context.tree import Tree

# Manifests are small; a bigger file (a generated source, a vendored blob) is not read at all,
# so one odd file cannot make a spawn hold gigabytes.
MAX_READ = 4 * 1024 * 1024
# File names detection reads across the tree, so a miss on one fetches all of them.
_SHARED_NAMES = frozenset(
    {"Cargo.toml", "package.json", "pyproject.toml", "go.mod", "gleam.toml", "setup.cfg"}
)


class CommitReader:
    """A `TreeReader` over one commit."""

    def __init__(self, git: Git, oid: str) -> None:
        self._git = git
        listing = tree_listing(git, oid)
        self._blobs = listing.blobs  # path -> blob
        self._links = listing.links
        # Submodules are commits of other repositories, not files of this one.
        self.files = frozenset(self._blobs) | self._links
        self._cache: dict[str, bytes | None] = {}
        # Built on the first miss that needs them: most readers ask for a handful of files.
        self._by_name: dict[str, list[str]] | None = None
        self._by_directory: dict[str, list[str]] | None = None
        self._tree: Tree | None = None

    @property
    def tree(self) -> Tree:
        if self._tree is None:
            self._tree = Tree(self.files)
        return self._tree

    def reading_with(self, git: Git) -> CommitReader:
        """This reader, reading through `git` from now on: any worktree of the repository
        reaches the same objects, and the one it was made with may be gone."""
        self._git = git
        return self

    def is_symlink(self, path: str) -> bool:
        return path in self._links

    def read(self, path: str) -> bytes | None:
        if path not in self._cache:
            if path not in self._blobs:
                return None
            self._fetch([path, *self._companions(path)])
        return self._cache[path]

    def _companions(self, path: str) -> list[str]:
        directory, _, name = path.rpartition("/")
        if name in _SHARED_NAMES:
            if self._by_name is None:
                self._by_name = _grouped(self._blobs, lambda known: known.rpartition("/")[2])
            candidates = self._by_name.get(name, [])
        elif "." in name:
            if self._by_directory is None:
                self._by_directory = _grouped(self._blobs, lambda known: known.rpartition("/")[0])
            suffix = "." + name.rpartition(".")[2]
            candidates = [o for o in self._by_directory.get(directory, []) if o.endswith(suffix)]
        else:
            candidates = []
        return [other for other in candidates if other != path and other not in self._cache]

    def _fetch(self, paths: list[str]) -> None:
        """Read a batch into the cache; a blob over MAX_READ is cached as unreadable."""
        oids = {self._blobs[path] for path in paths}
        # Sizes first (cheap: object headers only), so an oversized blob is never fetched.
        sizes = self._git.run(
            "cat-file", "--batch-check=%(objectname) %(objectsize)", input=_lines(oids)
        ).stdout.split("\n")
        small = [
            oid
            for oid, _, size in (line.partition(" ") for line in sizes)
            if size.isdigit() and int(size) <= MAX_READ
        ]
        contents: dict[str, bytes] = {}
        if small:
            output = self._git.run(
                "cat-file", "--batch", input=_lines(small), exact=True
            ).stdout.encode("utf-8", "surrogateescape")  # the exact bytes git wrote
            at = 0
            while at < len(output):
                end = output.index(b"\n", at)
                header = output[at:end].split()
                at = end + 1
                if len(header) == 3:  # <oid> <type> <size>, then the content and a newline
                    size = int(header[2])
                    contents[header[0].decode()] = output[at : at + size]
                    at += size + 1
                # else `<oid> missing`: a blob the object store lacks (a partial clone).
        for path in paths:
            self._cache[path] = contents.get(self._blobs[path])


def _lines(oids: Iterable[str]) -> str:
    return "".join(f"{oid}\n" for oid in oids)


def _grouped(paths: Iterable[str], key: Callable[[str], str]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for path in paths:
        groups[key(path)].append(path)
    return groups


# The last commit read, by id: a spawn plans every slot's view on the same commit, and its
# listing and index of a large tree cost more than the rest of a claim. One only: a listing
# of 200,000 paths holds tens of megabytes.
_LAST_READ: dict[str, CommitReader] = {}


def commit_reader(git: Git, commit: str = "HEAD") -> TreeReader:
    """Reads from the commit, not the working tree (a sparse slot does not have the files on
    disk): `git ls-tree -r -z` once, `git cat-file --batch` for contents, lazily and cached,
    and kept for the next reader of the same commit in this process (a commit never changes)."""
    oid = resolve(git, commit)
    if oid is None:
        raise bad_input(f"{commit!r} is not a commit in this repository")
    reader = _LAST_READ.get(oid)
    if reader is None:
        _LAST_READ.clear()
        reader = _LAST_READ[oid] = CommitReader(git, oid)
    return reader.reading_with(git)

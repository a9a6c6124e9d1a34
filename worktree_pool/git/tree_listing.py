"""The entries of a commit's tree, listed once per commit for the whole process.

A spawn plans every slot's scope and view on the same commit, and listing a tree of 50,000
files (`git ls-tree -r`, 80 ms) costs more than the rest of planning a scope: scope planning
and build-context detection both read this one listing. One commit only is kept: a listing of
200,000 paths holds tens of megabytes; the build-context reader of the last commit read may keep
one more alive until it is replaced. (`ls-tree --long` would give sizes too, but looks up every
blob of the tree for them: 0.5 s on 50,000 files, against 0.05 s without.)
"""

from __future__ import annotations

from functools import cached_property

from worktree_pool.git.objects import REGULAR_FILES
from worktree_pool.git.run import Git

SYMLINK = "120000"
GITLINK = "160000"  # a submodule: a commit of another repository, not a file of this one


class TreeListing:
    """Every path of one commit's tree, by kind."""

    def __init__(self, git: Git, commit: str) -> None:
        self.blobs: dict[str, str] = {}  # regular files: path -> blob id
        links: set[str] = set()
        gitlinks: set[str] = set()
        # exact: a name may hold a carriage return, which text mode would turn into a newline.
        listing = git.run("ls-tree", "-r", "-z", "--full-tree", commit, exact=True)
        for record in listing.stdout.split("\0"):
            meta, _, path = record.partition("\t")
            fields = meta.split()
            if len(fields) != 3:
                continue
            if fields[0] in REGULAR_FILES:
                self.blobs[path] = fields[2]
            elif fields[0] == SYMLINK:
                links.add(path)
            elif fields[0] == GITLINK:
                gitlinks.add(path)
        self.links = frozenset(links)
        self.gitlinks = frozenset(gitlinks)

    @cached_property
    def paths(self) -> frozenset[str]:
        """Every path git tracks: files, links and submodules."""
        return frozenset(self.blobs) | self.links | self.gitlinks

    @cached_property
    def directories(self) -> frozenset[str]:
        """Every directory on the way to a path."""
        # Parents of each path first: far fewer distinct directories than paths to walk up from.
        parents = {path.rpartition("/")[0] for path in self.paths} - {""}
        return frozenset(
            directory.rsplit("/", depth)[0]
            for directory in parents
            for depth in range(directory.count("/") + 1)
        )


_LAST_LISTED: dict[str, TreeListing] = {}


def tree_listing(git: Git, commit: str) -> TreeListing:
    """The listing of the commit whose id is `commit` (a commit never changes)."""
    listing = _LAST_LISTED.get(commit)
    if listing is None:
        _LAST_LISTED.clear()
        listing = _LAST_LISTED[commit] = TreeListing(git, commit)
    return listing

"""The build context of a write scope: what a build of its files needs to read, found from the
repository's manifests and imports at one commit.

Invariants: detection reads the commit, never the working tree (a sparse slot lacks the files);
nothing outside the repository is ever an entry (a path that leaves it is a problem, reported);
bad repository content (a malformed manifest, a cycle, a symbolic-linked manifest) is a problem
with the file named, never an exception; every entry says why it is there.

    tree.py     the tracked files of a commit, read lazily, indexed by directory
    found.py    an entry of the view with its reason, and what a rule could not read
    detect.py   build_context: every build system's rules, merged
    cargo.py    Cargo workspaces and path dependencies
    python.py   Python projects: manifests, lock files, the package, conftest.py files
    node.py     npm, yarn and pnpm workspaces and the workspace packages a package uses
    golang.py   Go modules and the packages the scoped ones import
    tooling.py  top-level build and tooling files, Gleam's manifests
"""

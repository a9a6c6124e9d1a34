"""Build context: what a build of a write scope needs to see beyond it, derived from the tree.

A slot's view is its write scope plus this context, which the agent may read but not commit:
the manifests, lock files and path dependencies a build of the scoped files reads. Detection
reads one commit (never a working tree, which in a sparse slot lacks the files), returns
patterns each with the reason it is there, and reports bad repository content as problem
lines, never as exceptions. Nothing outside the repository is ever added, and no symbolic
link is followed.

    model.py    ContextEntry, BuildContext, the TreeReader protocol, and the findings notebook
    reader.py   commit_reader: a commit's tracked files and their contents, read in batches
    tree.py     the tree indexed by directory and name, and what the write scope covers
    detect.py   build_context: every detector run, and the result trimmed to the new part
    cargo.py    Cargo workspaces: manifests, lock file, target roots, path dependencies
    python.py   Python projects: configuration, lock files, the package, imported packages
    node.py     npm/yarn/pnpm workspaces: package.json files, lock files, workspace deps
    golang.py   Go modules: go.mod, go.sum, and the module's imported packages
    generic.py  top-level build and tooling files, CI configuration, and Gleam projects
"""

"""A slot's scope: the file patterns its task may touch, what the slot shows of the tree, and
what it may commit. Those are two sets (see view.py for why): the write scope, which the guard,
reservations and overlap use, and the view, which adds the build context.

Invariants: patterns are gitignore syntax anchored at the repository root; overlap is decided
exactly (a pair of patterns overlaps when some real path matches both), never by comparing
text; the sparse checkout and the hooks belong to the slot alone (its `config.worktree`), never
to the main worktree or another slot; the guard, run on every commit, imports only the standard
library and checks what is really about to be committed.

    patterns.py  validation, anchoring, and compilation into rules the guard evaluates with `re`
    overlap.py   whether two patterns can match one path, with the shortest such path
    sparse.py    which files a scope shows, and git's sparse checkout set to show them
    view.py      a slot's view: its write scope plus the build context it reads but not commits
    context/     the build context, detected from the repository's manifests and imports
    building.py  whether a slot builds: `scope.build_command` run in it
    hooks.py     a slot's own hooks directory, which runs the guard and then the repo's hooks
    guard.py     the commit guard itself (worktree_pool/guard.py is its entry point)
    filters.py   the `wtpool filter` commands: show, set, add, clear and verify a slot's scope
"""

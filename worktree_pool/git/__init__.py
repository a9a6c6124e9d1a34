"""git: every call wtpool makes to it, and what is read from the repository.

Invariants: git runs as a subprocess with a timeout, never prompts, in the C locale, with a
scrubbed environment, and its output decoded with `surrogateescape`; wtpool's own git calls run
none of the repository's hooks; a failure is a `WtpoolError` that names the command; every
worktree leads back, by `--git-common-dir`, to the one main repository and its one pool.

    run.py      every git call, and the small queries built on it
    repo.py     finding the repository (and its config) from wherever the command was run
    ignores.py  which untracked files are work: those the base's ignore rules do not ignore
    objects.py  a file read from a commit, and a commit that changes one file, without a checkout
    index_file.py  the tree a sparse index records for itself, read without running git
    worktree_status.py  a worktree's changes, HEAD and branch, from one `git status`
    tree_listing.py  a commit's paths by kind, listed once per commit for the process
    untracked.py  the untracked paths that gitignore-style patterns name (`copy:`)
    remote.py   a remote's branches: read, and copied on the remote (a stale host's work)
"""

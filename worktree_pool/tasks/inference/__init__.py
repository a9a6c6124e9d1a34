"""Scope inference: a task that names no files gets a scope from the repository itself.

Invariants: nothing here writes anything but the history cache (in the pool's `.cache`, keyed
by HEAD and the history limit, and recomputable); a task's text is read only up to
text.MAX_TEXT; no path token with a `..` component, an absolute path or a URL becomes a
pattern; the task source and hub files enter an inferred scope only when the text names them.

    text.py       a task's text: its words (identifiers split, plurals folded) and path tokens
    tree.py       the tracked tree: resolving a path by exact match or unique suffix, new files
    ranking.py    a small BM25 over paths and over finished tasks' text
    history.py    `git log` read once per HEAD: files per commit, task ids, co-change, hubs
    symbols.py    code identifiers in a task's text, and the files holding them (one git grep)
    collapse.py   chosen files to the fewest cone-friendly `dir/` patterns
    infer.py      combining the signals into a scope, with its evidence and a confidence
"""

"""Inferring a task's scope from the repository, for tasks that name no files.

Invariants: an inferred scope never holds a path outside the repository, the task source, or a
hub file that the text does not name; every pattern carries the evidence that chose it; history
is read once per HEAD and bounded by `tasks.history_limit`.

    text.py       a task's text: its words, stems and path-like tokens
    tree.py       the tracked tree: files, directories, and paths resolved by unique suffix
    ranking.py    a small BM25, for path words and for finding similar tasks
    history.py    commits, the tasks they name, co-change and hubs; cached by HEAD
    symbols.py    code identifiers in a text, and the tracked files holding them
    collapse.py   files to cone-friendly `dir/` patterns
    infer.py      the signals combined into a scope, its confidence and its evidence
"""

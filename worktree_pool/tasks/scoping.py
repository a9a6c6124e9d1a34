"""The scoping of a repository: its scope rules, its pins, and what inference knows of its
tree and history, gathered once for a whole task graph."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from worktree_pool.config.settings import TaskSettings
from worktree_pool.errors import WtpoolError
from worktree_pool.git.repo import Repository
from worktree_pool.scope.sparse import tracked_files
from worktree_pool.tasks.graph import TaskGraph
from worktree_pool.tasks.inference.history import cached_history, compile_id_pattern
from worktree_pool.tasks.inference.infer import Knowledge, Tuning, gather
from worktree_pool.tasks.inference.symbols import files_containing, identifiers
from worktree_pool.tasks.inference.text import task_text
from worktree_pool.tasks.inference.tree import TreeIndex, parent
from worktree_pool.tasks.sources import relative_task_file
from worktree_pool.tasks.tracks import Scoping, task_scope


def repository_scoping(
    repo: Repository, graph: TaskGraph, pinned: Mapping[str, tuple[str, ...]] | None = None
) -> Scoping:
    settings = repo.config.tasks
    tree = _tree(repo)
    scoping = Scoping(
        rules=settings.scope_rules,
        default_files=settings.default_files,
        pinned=dict(pinned or {}),
        min_confidence=settings.infer_min_confidence,
        tree=tree,
    )
    if not settings.infer or tree is None or not _needs_inference(graph, scoping):
        return scoping
    return replace(scoping, knowledge=knowledge(repo, graph, tree))


def _needs_inference(graph: TaskGraph, scoping: Scoping) -> bool:
    """Whether some unfinished task has no scope but what inference would give it: gathering
    what inference knows (the history, a word index of every path) is the costly part of
    reading a graph, and a graph whose tasks all say their files needs none of it."""
    return any(
        task_scope(task, scoping).source == "default_files"
        for task in graph.tasks.values()
        if task.work
    )


def _tree(repo: Repository) -> TreeIndex | None:
    """The tree at HEAD; None before the first commit."""
    try:
        return TreeIndex(tuple(sorted(tracked_files(repo.git))))
    except WtpoolError:
        return None


def task_source_files(root: Path, settings: TaskSettings, tree: TreeIndex) -> frozenset[str]:
    """The task file and, when it lives in a directory of its own (`.beads/`), every file
    there: the tool that owns it rewrites them, and no task's scope should hold them."""
    found = relative_task_file(root, settings)
    if found is None:
        return frozenset()
    directory = parent(found)
    if not directory:
        return frozenset({found})
    return frozenset({found} | {f for f in tree.files if f.startswith(f"{directory}/")})


def knowledge(repo: Repository, graph: TaskGraph, tree: TreeIndex) -> Knowledge:
    """What inference knows of the repository at HEAD."""
    settings = repo.config.tasks
    # The pool's .cache holds what can be recomputed; with no pool, history is read each time.
    cache_dir = repo.cache_dir if repo.pool_dir.is_dir() else None
    history = cached_history(repo.git, cache_dir, settings.history_limit)
    source = task_source_files(repo.root, settings, tree)
    wanted = {
        i for task in graph.tasks.values() if not task.done for i in identifiers(task_text(task))
    }
    symbols = files_containing(repo.git, "HEAD", wanted, skip=sorted(source))
    return gather(
        graph.tasks,
        tree,
        history,
        compile_id_pattern(settings.history_ids),
        symbols,
        Tuning(max_share=settings.infer_max_share),
        source,
    )

"""The scoping of a repository: its scope rules, its pins, and what inference knows of its
tree and history, gathered once for a whole task graph."""

from __future__ import annotations

from collections.abc import Mapping

from worktree_pool.config.settings import TaskSettings
from worktree_pool.errors import WtpoolError
from worktree_pool.git.repo import Repository
from worktree_pool.scope.sparse import tracked_files
from worktree_pool.tasks.graph import TaskGraph
from worktree_pool.tasks.inference.history import cached_history, compile_id_pattern
from worktree_pool.tasks.inference.infer import Knowledge, Tuning, gather
from worktree_pool.tasks.inference.symbols import files_containing, identifiers
from worktree_pool.tasks.inference.text import task_text
from worktree_pool.tasks.inference.tree import TreeIndex
from worktree_pool.tasks.sources import task_file
from worktree_pool.tasks.tracks import Scoping

CACHE_DIR = ".cache"


def repository_scoping(
    repo: Repository, graph: TaskGraph, pinned: Mapping[str, tuple[str, ...]] | None = None
) -> Scoping:
    settings = repo.config.tasks
    return Scoping(
        rules=settings.scope_rules,
        default_files=settings.default_files,
        pinned=dict(pinned or {}),
        knowledge=knowledge(repo, graph) if settings.infer else None,
        min_confidence=settings.infer_min_confidence,
    )


def knowledge(repo: Repository, graph: TaskGraph) -> Knowledge | None:
    """What inference knows of the repository at HEAD; None before the first commit."""
    settings = repo.config.tasks
    try:
        files = tracked_files(repo.git)
    except WtpoolError:  # no commit yet: nothing to infer from
        return None
    # The pool's .cache holds what can be recomputed; with no pool, history is read each time.
    cache_dir = repo.pool_dir / CACHE_DIR if repo.pool_dir.is_dir() else None
    history = cached_history(repo.git, cache_dir, settings.history_limit)
    source = task_source_path(repo, settings)
    wanted = {
        i for task in graph.tasks.values() if not task.done for i in identifiers(task_text(task))
    }
    symbols = files_containing(repo.git, "HEAD", wanted, skip=source)
    return gather(
        graph.tasks,
        TreeIndex(tuple(sorted(files))),
        history,
        compile_id_pattern(settings.history_ids),
        symbols,
        Tuning(max_share=settings.infer_max_share),
        frozenset(source),
    )


def task_source_path(repo: Repository, settings: TaskSettings) -> tuple[str, ...]:
    """The task file, relative to the repository, when it is in it: no scope is inferred to
    hold it, since every task's status change rewrites it."""
    if settings.source == "bd":
        return ()
    try:
        return (task_file(repo.root, settings).relative_to(repo.root).as_posix(),)
    except (WtpoolError, ValueError):
        return ()

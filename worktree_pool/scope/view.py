"""A slot's view: its write scope plus the build context, planned for the sparse checkout.

Why two sets. A scope that decides both what a slot shows and what it may commit leaves an
agent unable to build: a Cargo workspace fails to load without its other members' manifests, a
Python package's tests without its `conftest.py`, and an agent that cannot build either gives
up or widens its scope to everything, and then no two tracks are independent. So the write
scope stays narrow, and is all that reservations, overlap between tracks and the merge queue's
check look at, while the view adds what a build of it needs to read. Two views that overlap
never make two tracks dependent: reading the same manifest is no conflict.
"""

from __future__ import annotations

from worktree_pool.git.repo import Repository
from worktree_pool.git.run import Git
from worktree_pool.scope.context.detect import build_context
from worktree_pool.scope.context.reader import commit_reader
from worktree_pool.scope.sparse import ContextPath, ScopePlan, plan_scope

CONFIGURED = "scope.context in the configuration"


def plan_view(repo: Repository, git: Git, patterns: tuple[str, ...] | None) -> ScopePlan:
    """The plan for a slot (or scratch worktree) at `git` whose write scope is `patterns`."""
    settings = repo.config.scope
    if patterns is None:  # the whole tree is in view already
        return plan_scope(git, None, settings.always_include)
    if not patterns:  # an idle slot: the root's files, nothing to build, nothing to commit
        return plan_scope(git, (), ())
    context = [ContextPath(pattern, CONFIGURED) for pattern in settings.context]
    problems: tuple[str, ...] = ()
    if settings.context_auto:
        found = build_context(commit_reader(git), (*patterns, *settings.always_include))
        context += [ContextPath(e.pattern, e.reason, e.lockfile) for e in found.entries]
        problems = found.problems
    return plan_scope(
        git,
        patterns,
        settings.always_include,
        tuple(context),
        problems,
        settings.lockfiles_writable,
    )

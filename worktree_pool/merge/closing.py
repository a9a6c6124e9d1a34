"""Closing a landed task in the landing commit itself, when its YAML task file is tracked.

Edited in place after the landing, a tracked task file leaves the main worktree with an
uncommitted change (` M tasks.yaml` after every merge), which the user must commit by hand and
which the next landing's checkout of the base has to work around. So the queue writes
`status: closed` into the tree it commits. With `merge` and `squash`, the commit wtpool built
is replaced by one like it (same parents, message and author) whose task file has the task
closed. With `rebase`, the landing is the agent's own commits, which wtpool never rewrites (a
branch that fast-forwards would then look unmerged, and its release would salvage it): the
edit is a commit of wtpool's on top. The gate runs on the result, and a worktree that has the
base checked out receives the change with the rest of the landing.

The edit must never cost a landing: whenever it cannot be made (an untracked file, a layout
wtpool won't edit, a signed commit, an error), the commit lands as built, and what follows the
landing (tasks.status.close_task) closes the task as before, in place, saying why.
"""

from __future__ import annotations

from pathlib import Path

from worktree_pool.errors import WtpoolError
from worktree_pool.git.objects import child_commit, read_blob, recommit, tree_with_file
from worktree_pool.git.repo import Repository
from worktree_pool.merge.integration import base_checkouts, why_cannot_follow
from worktree_pool.store.merges import MergeEntry
from worktree_pool.tasks.sources import MAX_TASK_FILE_BYTES
from worktree_pool.tasks.status import closing_edit, committed_task_file


def close_in_landing(
    repo: Repository, entry: MergeEntry, old: str, commit: str
) -> tuple[str, str | None]:
    """(the commit to land, a note): `commit` with the entry's task closed in the tracked YAML
    task file, or `commit` itself, with a note when the edit was wanted but not made."""
    task = entry.task
    if task is None or not repo.config.merge.close_tasks or repo.config.tasks.source != "yaml":
        return commit, None
    try:
        found = committed_task_file(repo, commit)
        if found is None:  # untracked: closed in place after the landing
            return commit, None
        path, file = found
        text = read_blob(repo.git, file.oid, MAX_TASK_FILE_BYTES)
        edited, _ = closing_edit(text, task, Path(path))
        if edited is None:  # not in the file, closed already, or not editable: said later
            return commit, None
        tree = tree_with_file(repo.git, commit, path, edited)
        if repo.config.merge.strategy == "rebase":
            message = f"{task}: closed in {path}\n\nLanded with {entry.branch} by wtpool.\n"
            closed = child_commit(repo.git, commit, tree, message)
        else:
            closed = recommit(repo.git, commit, tree)
        in_the_way = _checkout_in_the_way(repo, entry.base, old, commit, closed)
    except WtpoolError as exc:
        return commit, f"task {task} could not be closed in the landing commit: {exc.message}"
    except Exception as exc:  # whatever it is, the landing goes on without the edit
        return commit, f"task {task} could not be closed in the landing commit: {exc!r}"
    if in_the_way is not None:
        return commit, (
            f"task {task} was not closed in the landing commit: {in_the_way} has uncommitted "
            f"changes to {path}"
        )
    return closed, None


def _checkout_in_the_way(
    repo: Repository, base: str, old: str, commit: str, closed: str
) -> Path | None:
    """A worktree with the base checked out that could follow the landing as built but not
    with the edit (the user's own uncommitted change to the task file): the edit must not be
    what makes the landing refused."""
    for path in base_checkouts(repo, base):
        git = repo.git.at(path)
        if why_cannot_follow(git, old, closed) and not why_cannot_follow(git, old, commit):
            return path
    return None

"""How an entry that did not land ends: its final state and reason recorded, and its agent
mailed in the same transaction, so the agent hears of it whatever happens next."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from worktree_pool.agents.mail import WTPOOL_SENDER, post, subject_line
from worktree_pool.errors import WtpoolError
from worktree_pool.git.repo import Repository
from worktree_pool.merge.queue import MAX_ERRORS, get_entry
from worktree_pool.store import merges
from worktree_pool.store.merges import MergeEntry, MergeState
from worktree_pool.store.protocol import Store
from worktree_pool.store.values import utc_now


@dataclass(frozen=True)
class Outcome:
    """How an entry that did not land ended."""

    state: MergeState
    reason: str
    paths: tuple[str, ...] = ()
    output: str | None = None
    mail: bool = True  # whether the agent is told


def settle(
    repo: Repository, store: Store, entry: MergeEntry, outcome: Outcome, **changes: object
) -> MergeEntry:
    """Record an entry that did not land, and mail its agent why."""
    with store.transaction() as conn:
        merges.update(
            conn,
            entry.id,
            state=outcome.state,
            reason=outcome.reason,
            paths=outcome.paths,
            output=outcome.output,
            finished_at=utc_now(),
            **changes,
        )
        if entry.agent is not None and outcome.mail:
            post(conn, WTPOOL_SENDER, entry.agent, *_failure_mail(entry, outcome))
        return get_entry(conn, entry.id)


def dirty_checkout(entry: MergeEntry, path: Path, why: str) -> Outcome:
    # The change in the way is the user's, in their worktree, not the agent's: no mail.
    return Outcome(
        MergeState.REJECTED,
        f"{path} has {entry.base} checked out with uncommitted changes that landing would "
        f"overwrite ({why}); commit or stash them there, then merge again",
        tuple(re.findall(r"'([^']+)'", why)),
        mail=False,
    )


def _failure_mail(entry: MergeEntry, outcome: Outcome) -> tuple[str, str]:
    subject = subject_line(f"merge of {entry.branch}: {outcome.state}")
    body = [outcome.reason]
    if outcome.paths:
        body += ["", "Paths:", *(f"  {path}" for path in outcome.paths[:200])]
    if outcome.output:
        body += ["", "The end of the gate's output:", outcome.output]
    body += ["", f"Your branch {entry.branch} is unchanged. Fix it, then: wtpool merge"]
    return subject, "\n".join(body)


def errored(repo: Repository, store: Store, entry: MergeEntry, exc: BaseException) -> MergeEntry:
    """An entry whose landing ended in an error (git, the remote): back in line, with the
    reason, until the MAX_ERRORS-th time, when it is `failed`."""
    reason = exc.message if isinstance(exc, WtpoolError) else f"unexpected error: {exc!r}"
    with store.transaction() as conn:
        attempts = get_entry(conn, entry.id).attempts + 1
        if attempts < MAX_ERRORS:
            merges.update(
                conn,
                entry.id,
                state=MergeState.QUEUED,
                attempts=attempts,
                reason=f"attempt {attempts} of {MAX_ERRORS} failed: {reason}",
            )
            return get_entry(conn, entry.id)
    outcome = Outcome(MergeState.FAILED, f"gave up after {attempts} failed attempts: {reason}")
    return settle(repo, store, entry, outcome, attempts=attempts)


def still_merging(store: Store, entries: list[MergeEntry]) -> list[MergeEntry]:
    """Those of `entries` that nothing has settled yet (still `merging`), as stored now."""
    with store.snapshot() as conn:
        current = [get_entry(conn, entry.id) for entry in entries]
    return [entry for entry in current if entry.state == MergeState.MERGING]

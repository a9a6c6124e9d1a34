"""Working through the merge queue: for each entry, check what its branch changes, build the
commit that lands it (its task closed in a tracked YAML task file: closing.py), run the gate
(gate.py), move the base by compare-and-swap, push, then do what follows a landing
(after_landing.py: bring checked-out copies of the base along, record the task landed, release
the slot, close the task).

Every step before the swap only reads, or writes new objects; so a failure, or a crash, before
it leaves the base as it was. The entry records its candidate commit just before the swap:
after a crash, the base containing the candidate means the landing happened.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from worktree_pool.agents.mail import WTPOOL_SENDER, post, subject_line
from worktree_pool.agents.reservations import held_by_others
from worktree_pool.errors import WtpoolError
from worktree_pool.git.repo import Repository
from worktree_pool.git.run import is_ancestor, resolve
from worktree_pool.merge import integration
from worktree_pool.merge.after_landing import bring_along, record_merged
from worktree_pool.merge.closing import close_in_landing
from worktree_pool.merge.gate import run_gate
from worktree_pool.merge.queue import (
    MAX_ERRORS,
    claim_next,
    get_entry,
    orphans,
    processor_lock,
)
from worktree_pool.merge.scratch import remove_scratch_worktrees
from worktree_pool.pool.worktrees import base_tip
from worktree_pool.scope.guard import allows, compiled
from worktree_pool.scope.patterns import compile_rules
from worktree_pool.store import merges
from worktree_pool.store.merges import MergeEntry, MergeState
from worktree_pool.store.sqlite import StateStore
from worktree_pool.store.values import utc_now
from worktree_pool.util import testpoints

# Each retry means the base moved under us (a person committed, or a rejected push): a few are
# normal, many mean something keeps moving it and the entry should wait for a calmer moment.
MAX_ATTEMPTS = 10


@dataclass(frozen=True)
class RunResult:
    processed: list[MergeEntry]


@dataclass(frozen=True)
class Outcome:
    """How an entry that did not land ended."""

    state: MergeState
    reason: str
    paths: tuple[str, ...] = ()
    output: str | None = None
    mail: bool = True  # whether the agent is told


def run_queue(repo: Repository, store: StateStore) -> RunResult | None:
    """Land queued entries until none is left; None when another process is doing it.

    An entry that ends in an error goes back in line with the reason, and the run goes on with
    the others; it is tried again by the next run, and after MAX_ERRORS such runs it is
    `failed`.
    """
    with processor_lock(repo, store) as mine:
        if not mine:
            return None
        processed = _recover(repo, store)
        tried: set[int] = set()
        while (entry := claim_next(store, tried)) is not None:
            tried.add(entry.id)
            try:
                processed.append(_land_or_refuse(repo, store, entry))
            except Exception as exc:
                processed.append(_errored(repo, store, entry, exc))
            except BaseException as exc:  # interrupted: back in line, and stop
                _errored(repo, store, entry, exc)
                raise
        return RunResult(processed)


def settle_interrupted(repo: Repository, store: StateStore) -> str:
    """What `doctor --fix` does about a queue run that was killed: settle what it left
    `merging` and give up its lock, landing nothing new."""
    with processor_lock(repo, store) as mine:
        if not mine:
            raise WtpoolError("a merge queue run started meanwhile; it settles them itself")
        settled = _recover(repo, store)
    return f"{len(settled)} found landed, the rest back in the queue"


def _recover(repo: Repository, store: StateStore) -> list[MergeEntry]:
    """Clear up after a run that was killed (call with the lock): its scratch worktrees, and
    the entries it left `merging`; the ones that had landed."""
    remove_scratch_worktrees(repo)
    settled = (_settle_orphan(repo, store, orphan) for orphan in orphans(store))
    return [entry for entry in settled if entry is not None]


def _errored(
    repo: Repository, store: StateStore, entry: MergeEntry, exc: BaseException
) -> MergeEntry:
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
    return _settle(repo, store, entry, outcome, attempts=attempts)


def _settle_orphan(repo: Repository, store: StateStore, entry: MergeEntry) -> MergeEntry | None:
    """An entry a crashed processor left `merging`: if its candidate reached the base, finish
    what landing does after the swap; else back in line (None), keeping the candidate, so
    that a landing that reached only the remote is recognised (see _land)."""
    base = resolve(repo.git, f"refs/heads/{entry.base}")
    candidate = entry.candidate
    if candidate is None or base is None or not is_ancestor(repo.git, candidate, base):
        with store.transaction() as conn:
            merges.update(conn, entry.id, state=MergeState.QUEUED)
        return None
    previous = entry.previous or base
    notes = bring_along(repo, integration.base_checkouts(repo, entry.base), previous, base)[0]
    notes.insert(0, "landed by a queue run that was stopped; this run finished the rest")
    return record_merged(repo, store, entry, candidate, notes)


def _land_or_refuse(repo: Repository, store: StateStore, entry: MergeEntry) -> MergeEntry:
    outcome = _refusal(repo, store, entry)
    if outcome is None:
        outcome = _land(repo, store, entry)
        if isinstance(outcome, MergeEntry):
            return outcome
    return _settle(repo, store, entry, outcome)


def _settle(
    repo: Repository, store: StateStore, entry: MergeEntry, outcome: Outcome, **changes: object
) -> MergeEntry:
    """Record an entry that did not land; its agent is mailed in the same transaction, so
    hears of it whatever happens next."""
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
            post(conn, repo, WTPOOL_SENDER, entry.agent, *_failure_mail(entry, outcome))
        return get_entry(conn, entry.id)


def _refusal(repo: Repository, store: StateStore, entry: MergeEntry) -> Outcome | None:
    """Why the branch may not land whatever the base holds: a path outside its scope, or one
    another agent holds exclusively."""
    changed = integration.changed_paths(repo.git, f"refs/heads/{entry.base}", entry.tip)
    if entry.scope is not None:
        combined = tuple(dict.fromkeys((*entry.scope, *repo.config.scope.always_include)))
        rules = compiled(compile_rules(combined))
        outside = tuple(sorted(path for path in changed if not allows(rules, path)))
        if outside:
            return Outcome(
                MergeState.REJECTED,
                f"{len(outside)} changed path(s) outside the task's scope "
                f"({', '.join(entry.scope) or 'empty'})",
                outside,
            )
    with store.snapshot() as conn:
        held = held_by_others(conn, entry.agent, changed)
    if held:
        holders = ", ".join(f"{r.agent} (reservation #{r.id})" for r, _ in held)
        paths = tuple(sorted({path for _, taken in held for path in taken}))
        return Outcome(MergeState.REJECTED, f"changes paths held exclusively by {holders}", paths)
    return None


def _land(repo: Repository, store: StateStore, entry: MergeEntry) -> MergeEntry | Outcome:
    """Land the entry (the merged entry), or say why it could not (an outcome)."""
    git, settings = repo.git, repo.config.merge
    candidate = entry.candidate  # from a run that was stopped, perhaps after it pushed
    for _ in range(MAX_ATTEMPTS):
        old = base_tip(repo, entry.base)
        onto = old
        if settings.push:
            onto = integration.fetch_base(git, settings.remote, entry.base)
            if not is_ancestor(git, old, onto):
                return Outcome(
                    MergeState.REJECTED,
                    f"the local {entry.base} has commits that {settings.remote} does not; "
                    f"push or drop them, then merge again",
                )
        landed = is_ancestor(git, entry.tip, onto) or (
            candidate is not None and is_ancestor(git, candidate, onto)
        )
        closing: list[str] = []  # why the task file could not be closed in the commit
        if landed:
            new = onto  # landed already, here or on the remote: at most a fast-forward
        else:
            built = integration.build(
                repo, onto, entry.tip, _message(repo, entry, onto), entry.scope
            )
            if built.commit is None:
                return Outcome(
                    MergeState.CONFLICT,
                    f"{len(built.conflicts)} path(s) conflict with {entry.base}",
                    built.conflicts,
                )
            # Before the gate, so that the base only ever holds a tree that passed it.
            new, why = close_in_landing(repo, entry, old, built.commit)
            closing += [why] if why else []
            failure = (
                run_gate(repo, entry.branch, new, entry.scope) if settings.test_command else None
            )
            if failure is not None:
                return Outcome(MergeState.FAILED_TESTS, failure.reason, output=failure.output)
        checkouts = integration.base_checkouts(repo, entry.base)
        for path in checkouts:
            why = integration.why_cannot_follow(git.at(path), old, new)
            if why is not None:
                return _dirty_checkout(entry, path, why)
        candidate = new
        with store.transaction() as conn:
            merges.update(conn, entry.id, candidate=new, previous=old)
        testpoints.reached("merge.candidate")
        pushed = settings.push and new != onto
        if pushed and not integration.push(git, settings.remote, entry.base, new, onto):
            continue  # someone else landed first: fetch, rebuild, retry
        testpoints.reached("merge.pushed")
        if old != new and not integration.swap(git, entry.base, new, old, f"wtpool {entry.branch}"):
            if not pushed:
                continue  # the base moved: rebuild on it
            note = (
                f"landed on {settings.remote}/{entry.base}, but the local {entry.base} moved "
                f"meanwhile: merge {settings.remote}/{entry.base} into it"
            )
            return record_merged(repo, store, entry, new, [note, *closing])
        testpoints.reached("merge.swapped")
        notes, stale = bring_along(repo, checkouts, old, new)
        if stale and not pushed and integration.swap(git, entry.base, old, new, "wtpool undo"):
            # A change made in the moment between the check and the swap: undo the landing
            # rather than leave that worktree looking as if it undid the landing.
            bring_along(repo, [c for c in checkouts if c not in stale], new, old)
            return _dirty_checkout(entry, stale[0], notes[checkouts.index(stale[0])])
        return record_merged(repo, store, entry, new, [*closing, *notes])
    raise WtpoolError(
        f"{entry.base} moved {MAX_ATTEMPTS} times while {entry.branch} was being landed",
        "it stays queued; run `wtpool queue --run` when the base is quiet",
    )


def _message(repo: Repository, entry: MergeEntry, onto: str) -> str:
    """A merge commit says what it merged; a squash names the task and lists the commits."""
    task = f" (task {entry.task})" if entry.task else ""
    if repo.config.merge.strategy != "squash":
        return f"Merge {entry.branch}{task} into {entry.base}\n"
    subjects = repo.git.out("log", "--format=- %s", f"{onto}..{entry.tip}")
    title = f"{entry.task}: " if entry.task else ""
    return f"{title}land {entry.branch}\n\nSquashed from {entry.branch}{task}:\n{subjects}\n"


def _dirty_checkout(entry: MergeEntry, path: Path, why: str) -> Outcome:
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

"""Landing a batch of queued entries at once: one chain, one gate, one swap, one bring-along.

Each entry is merged onto the previous one's result in memory (`merge-tree`, no working tree),
so the batch is a chain of commits on the base. The gate runs once, on the chain's tip; the
base moves once, by compare-and-swap from where it was to the tip; each worktree that has the
base checked out is brought along once. What landing one entry costs (walking and writing the
index of a large checkout twice) is paid once per batch instead of once per entry.

When the batch cannot land whole (the gate fails on its tip, or a checkout of the base has an
uncommitted change in the way), it is split in two, bors' and GitHub merge queue's rule: the
first half is landed (or split again), then the rest is rebuilt on the new base and tried, so
one bad branch costs its batch about log2(size) gate runs and never blocks the good ones. A
batch of one that fails is settled with the reason. An entry whose branch conflicts leaves the
chain, and the rest goes on without it.

Every commit of the chain is recorded as its entry's candidate before the swap, so a crash
after it is settled from git as for a single entry (landing.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from worktree_pool.errors import WtpoolError
from worktree_pool.git.repo import Repository
from worktree_pool.git.run import Git, is_ancestor
from worktree_pool.merge import integration
from worktree_pool.merge.after_landing import bring_along, record_merged
from worktree_pool.merge.closing import close_in_landing
from worktree_pool.merge.gate import run_gate
from worktree_pool.merge.settling import Outcome, dirty_checkout, errored, settle, still_merging
from worktree_pool.pool.worktrees import base_tip
from worktree_pool.store import merges
from worktree_pool.store.merges import MergeEntry, MergeState
from worktree_pool.store.protocol import Store
from worktree_pool.util import testpoints

# Each retry means the base moved under us (a person committed, or a rejected push): a few are
# normal, many mean something keeps moving it and the batch should wait for a calmer moment.
MAX_ATTEMPTS = 10

Trouble = Callable[[MergeEntry], Outcome]  # why the batch could not land, said of one entry


@dataclass(frozen=True)
class Link:
    """An entry's place in the chain: the commit that lands it (the chain's commit before it,
    when it had landed already), and why its task could not be closed in that commit."""

    entry: MergeEntry
    commit: str
    notes: tuple[str, ...] = ()


def land_batch(repo: Repository, store: Store, entries: list[MergeEntry]) -> list[MergeEntry]:
    """Land `entries` (in queue order, none refused) as one chain; each comes back settled.

    An error (git failing on one branch's objects, say) splits the batch like a failing gate,
    so that it ends up recorded for the entry at fault alone (see settling.errored), and the
    others land."""
    try:
        return _land_chain(repo, store, entries)
    except Exception as exc:
        if len(entries) == 1:
            return [errored(repo, store, entry, exc) for entry in still_merging(store, entries)]
        half = len(entries) // 2
        first, rest = still_merging(store, entries[:half]), still_merging(store, entries[half:])
        return land_batch(repo, store, first) + land_batch(repo, store, rest)


def _land_chain(repo: Repository, store: Store, entries: list[MergeEntry]) -> list[MergeEntry]:
    git, settings = repo.git, repo.config.merge
    # Where the queue is shared and lands on the remote, this host's base and checkouts only
    # follow: what is in their way keeps them behind, never another host's landing.
    follower = settings.push and repo.config.state.url is not None
    settled: list[MergeEntry] = []  # conflicts, kept across retries
    for _ in range(MAX_ATTEMPTS):
        if not entries:
            return settled
        base = entries[0].base
        old = base_tip(repo, base)
        onto = old
        if settings.push:
            onto = integration.fetch_base(git, settings.remote, base)
            if not follower and not is_ancestor(git, old, onto):
                why = Outcome(
                    MergeState.REJECTED,
                    f"the local {base} has commits that {settings.remote} does not; "
                    f"push or drop them, then merge again",
                )
                return settled + [settle(repo, store, entry, why) for entry in entries]
        links, conflicts = _chain(repo, entries, old, onto)
        new = links[-1].commit if links else onto
        checkouts = integration.base_checkouts(repo, base)
        in_the_way = [] if follower else checkouts
        trouble = _trouble(repo, links, old, onto, new, in_the_way) if links else None
        if trouble is not None:
            return settled + _bisect(repo, store, entries, links, trouble)
        settled += [settle(repo, store, entry, outcome) for entry, outcome in conflicts]
        if not links:
            return settled
        with store.transaction() as conn:
            for link in links:
                merges.update(conn, link.entry.id, candidate=link.commit, previous=old)
        testpoints.reached("merge.candidate")
        entries = [link.entry for link in links]  # a retry rebuilds them; conflicts are done
        pushed = settings.push and new != onto
        if pushed and not integration.push(git, settings.remote, base, new, onto):
            continue  # someone else landed first: fetch, rebuild, retry
        testpoints.reached("merge.pushed")
        stays = _why_local_stays(repo, base, old, new, checkouts) if follower else None
        if stays is not None:
            return settled + _record(
                repo, store, links, [f"pushed to {settings.remote}/{base}", stays]
            )
        if old != new and not integration.swap(git, base, new, old, _reflog(links)):
            if not pushed:
                continue  # the base moved: rebuild on it
            note = (
                f"landed on {settings.remote}/{base}, but the local {base} moved "
                f"meanwhile: merge {settings.remote}/{base} into it"
            )
            return settled + _record(repo, store, links, [note])
        testpoints.reached("merge.swapped")
        notes, stale = bring_along(repo, checkouts, old, new)
        if stale and not pushed and integration.swap(git, base, old, new, "wtpool undo"):
            # A change made in the moment between the check and the swap: undo the landing
            # rather than leave that worktree looking as if it undid the landing.
            bring_along(repo, [c for c in checkouts if c not in stale], new, old)
            why = notes[checkouts.index(stale[0])]
            trouble = _in_the_way(stale[0], why)
            return settled + _bisect(repo, store, entries, links, trouble)
        if pushed:
            notes.insert(0, f"pushed to {settings.remote}/{base}")
        return settled + _record(repo, store, links, notes)
    # Nothing to split here: no entry is at fault, so all of them wait for a calmer moment.
    moving = WtpoolError(
        f"{entries[0].base} moved {MAX_ATTEMPTS} times while {len(entries)} entries were being "
        "landed",
        "they stay queued; run `wtpool queue --run` when the base is quiet",
    )
    return settled + [errored(repo, store, entry, moving) for entry in entries]


def _why_local_stays(
    repo: Repository, base: str, old: str, new: str, checkouts: list[Path]
) -> str | None:
    """Why this host's base cannot follow a landing made on the remote, if it cannot."""
    if not is_ancestor(repo.git, old, new):
        return (
            f"the local {base} has commits that {repo.config.merge.remote} does not, so it stays "
            "where it is: push or drop them"
        )
    for path in checkouts:
        why = integration.why_cannot_follow(repo.git.at(path), old, new)
        if why is not None:
            return (
                f"{path} has {base} checked out with uncommitted changes in the way ({why}): the "
                f"local {base} stays at {old[:12]} until they are committed or stashed; the next "
                "queue run brings it along"
            )
    return None


def _chain(
    repo: Repository, entries: list[MergeEntry], old: str, onto: str
) -> tuple[list[Link], list[tuple[MergeEntry, Outcome]]]:
    """Each entry merged onto the one before it, from `onto`: (the links, the conflicts)."""
    git = repo.git
    links: list[Link] = []
    conflicts: list[tuple[MergeEntry, Outcome]] = []
    current = onto
    maybe_landed = _maybe_landed(git, onto, entries)
    for entry in entries:
        candidate = entry.candidate  # from a run that was stopped, perhaps after it pushed
        if (entry.tip in maybe_landed and is_ancestor(git, entry.tip, current)) or (
            candidate is not None and is_ancestor(git, candidate, current)
        ):
            links.append(Link(entry, current))  # landed already, here or on the remote
            continue
        built = integration.build(
            repo, current, entry.tip, _message(repo, entry, current), entry.scope
        )
        if built.commit is None:
            conflicts.append((entry, _conflict(entry, built.conflicts, links)))
            continue
        # Before the gate, so that the base only ever holds a tree that passed it.
        commit, why = close_in_landing(repo, entry, old, built.commit)
        links.append(Link(entry, commit, (why,) if why else ()))
        current = commit
    return links, conflicts


def _maybe_landed(git: Git, onto: str, entries: list[MergeEntry]) -> set[str]:
    """The tips that may be in the base already: one `merge-base --independent` for the batch
    (a tip it leaves out is an ancestor of the base or of another tip), so that only those
    cost an exact check each."""
    tips = {entry.tip for entry in entries}
    independent = set(git.out("merge-base", "--independent", onto, *tips).split())
    return tips - independent


def _conflict(entry: MergeEntry, paths: tuple[str, ...], before: list[Link]) -> Outcome:
    earlier = [link.entry.branch for link in before]
    landing_first = f" (with {', '.join(earlier)} landing first)" if earlier else ""
    return Outcome(
        MergeState.CONFLICT,
        f"{len(paths)} path(s) conflict with {entry.base}{landing_first}",
        paths,
    )


def _trouble(
    repo: Repository, links: list[Link], old: str, onto: str, new: str, checkouts: list[Path]
) -> Trouble | None:
    """Why the chain's tip may not land: the gate failed on it, or a checkout of the base has
    an uncommitted change that landing would overwrite."""
    if repo.config.merge.test_command and new != onto:
        branches = " ".join(link.entry.branch for link in links)
        failure = run_gate(repo, branches, new, gate_scope(repo, links, onto, new))
        if failure is not None:
            return lambda _: Outcome(MergeState.FAILED_TESTS, failure.reason, output=failure.output)
    for path in checkouts:
        why = integration.why_cannot_follow(repo.git.at(path), old, new)
        if why is not None:
            return _in_the_way(path, why)
    return None


def _in_the_way(path: Path, why: str) -> Trouble:
    return lambda entry: dirty_checkout(entry, path, why)


def gate_scope(repo: Repository, links: list[Link], onto: str, new: str) -> tuple[str, ...] | None:
    """What the gate's scratch worktree shows: every entry's scope, and for an entry without
    one, the directories of what the batch changes (not the whole tree, which on a large
    repository costs a full checkout per gate)."""
    patterns: list[str] = []
    for link in links:
        patterns += link.entry.scope or ()
    if any(link.entry.scope is None for link in links):
        changed = repo.git.out(
            "diff", "--name-only", "--no-renames", "--diff-filter=d", "-z", onto, new
        )
        for path in filter(None, changed.split("\0")):
            directory = path.rpartition("/")[0]
            patterns.append(f"{directory}/**" if directory else path)
    return tuple(dict.fromkeys(patterns)) or None


def _bisect(
    repo: Repository,
    store: Store,
    entries: list[MergeEntry],
    links: list[Link],
    trouble: Trouble,
) -> list[MergeEntry]:
    """Land the first half (or split it again), then the rest on top; one entry alone is
    settled with the trouble."""
    if len(entries) == 1:
        return [settle(repo, store, links[0].entry, trouble(links[0].entry))]
    half = len(entries) // 2
    return land_batch(repo, store, entries[:half]) + land_batch(repo, store, entries[half:])


def _record(
    repo: Repository, store: Store, links: list[Link], notes: list[str]
) -> list[MergeEntry]:
    return record_merged(
        repo, store, [(link.entry, link.commit, [*link.notes, *notes]) for link in links]
    )


def _reflog(links: list[Link]) -> str:
    branches = [link.entry.branch for link in links]
    return f"wtpool {branches[0]}" + (f" and {len(branches) - 1} more" if len(branches) > 1 else "")


def _message(repo: Repository, entry: MergeEntry, onto: str) -> str:
    """A merge commit says what it merged; a squash names the task and lists the commits."""
    task = f" (task {entry.task})" if entry.task else ""
    if repo.config.merge.strategy != "squash":
        return f"Merge {entry.branch}{task} into {entry.base}\n"
    subjects = repo.git.out("log", "--format=- %s", f"{onto}..{entry.tip}")
    title = f"{entry.task}: " if entry.task else ""
    return f"{title}land {entry.branch}\n\nSquashed from {entry.branch}{task}:\n{subjects}\n"

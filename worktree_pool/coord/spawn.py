"""`wtpool spawn N independent|all` and `wtpool assign AGENT TASK`: tracks become slots.

Spawn picks tracks as `tracks recommend` does (see selection.py), then claims a slot for each
through the same `acquire` that agents use, so a spawn is as safe under concurrency as any
claim: each claim re-checks, inside its own transaction, that its track is still free and its
scope still overlaps nothing in use. A pick that loses that race is reported as skipped.

Each spawned slot is on branch `wtpool/task/<task>` from the base tip, shows the track's scope
with the commit guard, has its hand-off file and a task brief (handoff.py), and, when
`agent.command` is set, runs the agent. The agent of a spawned slot is named after its task.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from worktree_pool.agents import mail
from worktree_pool.agents.process import check_agent_command
from worktree_pool.config.settings import MAX_POOL_SIZE, Mode
from worktree_pool.errors import WtpoolError, bad_input
from worktree_pool.git.repo import Repository
from worktree_pool.pool.claims import AcquireResult, acquire
from worktree_pool.pool.handoff import brief_text, env_file_path
from worktree_pool.pool.worktrees import branch_for
from worktree_pool.scope.building import BuildResult, build_slot
from worktree_pool.store.pool import require_pool
from worktree_pool.store.protocol import Store
from worktree_pool.tasks.graph import TaskGraph
from worktree_pool.tasks.planning import current_occupants, load_tracks
from worktree_pool.tasks.selection import (
    Pick,
    Skip,
    SkipKind,
    scope_problem,
    select,
    slot_scope,
)
from worktree_pool.tasks.sources import check_task_id
from worktree_pool.tasks.tracks import Track
from worktree_pool.util.names import validate_name


@dataclass(frozen=True)
class Spawned:
    slot: str | None  # None in a dry run
    path: str | None
    task: str
    track: str
    branch: str
    agent: str
    patterns: tuple[str, ...] | None  # None: the whole tree
    agent_pid: int | None = None
    build: BuildResult | None = None  # with scope.verify_build: whether the slot builds
    # Agents holding part of its write scope exclusively: the slot may not commit those files
    # until they let go (spawn all shares overlapping files; this says who does not).
    held_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class Queued:
    agent: str
    task: str
    track: str
    position: int | None
    held_back: str | None = None  # the critical limits that made it wait, if that is why


@dataclass
class SpawnResult:
    requested: int
    mode: str
    dry_run: bool
    source: str
    spawned: list[Spawned] = field(default_factory=list)
    queued: list[Queued] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def shortfall(self) -> str | None:
        """Why fewer tracks than asked for were spawned, in one line; None if none are short."""
        got = len(self.spawned) + len(self.queued)
        if got >= self.requested:
            return None
        if not self.skipped:
            return f"the task graph has only {got} track(s) with work to do"
        kinds = Counter(skip.kind for skip in self.skipped)
        words = {
            SkipKind.BLOCKED: "with no ready task",
            SkipKind.ASSIGNED: "already assigned",
            SkipKind.OVERLAP: "overlapping a busy slot or an earlier pick",
            SkipKind.UNUSABLE: "with a task id or scope wtpool cannot use",
            SkipKind.REFUSED: "refused when claimed",
        }
        # A claim's refusal (a database server that is down, say) is the one reason that
        # `tracks recommend` cannot show: it comes from the claim, so it is given here.
        refusals = list(dict.fromkeys(s.reason for s in self.skipped if s.kind == SkipKind.REFUSED))
        if refusals:
            more = f"; and {len(refusals) - 1} other reason(s)" if len(refusals) > 1 else ""
            words[SkipKind.REFUSED] += f" ({refusals[0]}{more})"
        return ", ".join(
            f"{count} track{'s' if count > 1 else ''} {words[kind]}"
            for kind, count in kinds.most_common()
        )


def spawn(
    repo: Repository,
    store: Store,
    count: int,
    mode: Mode,
    *,
    dry_run: bool = False,
    lenient: bool = False,
) -> SpawnResult:
    if not 1 <= count <= MAX_POOL_SIZE:
        raise bad_input(f"spawn count must be between 1 and {MAX_POOL_SIZE}, got {count}")
    if not dry_run:
        check_agent_command(repo)
    graph, tracks = load_tracks(repo, lenient, store)
    with store.snapshot() as conn:
        require_pool(conn, repo)
    selection = select(tracks, current_occupants(store), count, mode)
    result = SpawnResult(count, mode, dry_run, graph.source, skipped=selection.skipped)
    result.warnings += [*graph.warnings, *selection.warnings]
    if dry_run:
        result.spawned += [_planned(pick) for pick in selection.picks]
        return result
    tried: set[str] = set()
    while selection.picks:
        lost = _claim_picks(repo, store, graph, selection.picks, mode, result)
        tried.update(pick.track.id for pick in selection.picks)
        if not lost:
            break
        # Concurrent spawns took some picks first: choose again among the tracks not tried,
        # against the slots as they are now, for the ones still missing.
        missing = count - len(result.spawned) - len(result.queued)
        untried = [track for track in tracks if track.id not in tried]
        selection = select(untried, current_occupants(store), missing, mode)
        result.skipped = [s for s in result.skipped if s.kind == SkipKind.REFUSED]
        result.skipped += selection.skipped
        result.warnings += [w for w in selection.warnings if w not in result.warnings]
    return result


def _claim_picks(
    repo: Repository,
    store: Store,
    graph: TaskGraph,
    picks: list[Pick],
    mode: Mode,
    result: SpawnResult,
) -> bool:
    """Claim a slot for each pick, recording the outcome in `result`; whether any pick was
    lost to someone else's claim (rather than refused for a reason of its own)."""
    refused: list[Track] = []
    for pick in picks:
        track, task = pick.track, pick.task
        try:
            claim = _claim(repo, store, graph, track, task, task, mode == Mode.INDEPENDENT)
        except WtpoolError as exc:
            result.skipped.append(Skip(track.id, SkipKind.REFUSED, exc.message))
            refused.append(track)
            continue
        result.warnings += claim.warnings
        if claim.already_held:  # a spawn running at the same time claimed it first
            reason = f"claimed by a concurrent spawn ({claim.slot or 'queued'})"
            result.skipped.append(Skip(track.id, SkipKind.REFUSED, reason))
            refused.append(track)
        elif claim.queued:
            result.queued.append(
                Queued(task, task, track.id, claim.queue_position, claim.held_back)
            )
        else:
            spawned = _spawned(repo, claim, track)
            result.spawned.append(spawned)
            if spawned.build is not None and not spawned.build.ok:
                result.warnings.append(
                    f"{spawned.slot} does not build: `{' '.join(spawned.build.command)}` "
                    f"failed; see `wtpool filter verify --build {spawned.slot}`"
                )
    if not refused:
        return False
    # Lost, not failed: the track is no longer free as the slots stand now. A failure of its
    # own (a server that is down, say) would only repeat on the next track.
    now = current_occupants(store)
    return any(not select([track], now, 1, mode).picks for track in refused)


def _claim(
    repo: Repository,
    store: Store,
    graph: TaskGraph,
    track: Track,
    task: str,
    agent: str,
    exclusive: bool,
    launch_agent: bool = True,
) -> AcquireResult:
    with store.snapshot() as conn:
        base = require_pool(conn, repo).base
    env_file = env_file_path(repo, base, branch_for(agent, task))
    brief = brief_text(repo, graph, track, task, env_file)
    return acquire(
        repo,
        store,
        agent,
        task,
        slot_scope(track),
        track=track.id,
        launch_agent=launch_agent,
        exclusive=exclusive,
        reserve=True,  # the track's files, for its agent, in the claim's transaction
        brief=_brief_mail(graph, task, brief),  # in its inbox and its file before it starts
        graph=graph,
    )


def _brief_mail(graph: TaskGraph, task: str, brief: str) -> tuple[str, str]:
    """The subject and body of the mail that brings an agent its brief."""
    return mail.subject_line(f"{mail.BRIEF_SUBJECT}{task}: {graph.tasks[task].title}"), brief


def _planned(pick: Pick) -> Spawned:
    """What a dry run would spawn: no slot yet."""
    task = pick.task
    return Spawned(
        None, None, task, pick.track.id, branch_for(task, task), task, slot_scope(pick.track)
    )


def _spawned(repo: Repository, claim: AcquireResult, track: Track) -> Spawned:
    verify = repo.config.scope.verify_build and repo.config.scope.build_command
    return Spawned(
        slot=claim.slot,
        path=claim.path,
        task=str(claim.task),
        track=track.id,
        branch=str(claim.branch),
        agent=claim.agent,
        patterns=claim.scope,
        agent_pid=claim.agent_pid,
        build=build_slot(repo, claim.slot) if verify and claim.slot else None,
        held_by=claim.held_by,
    )


def assign(
    repo: Repository,
    store: Store,
    agent: str,
    task: str,
    *,
    force: bool = False,
    lenient: bool = False,
) -> AcquireResult:
    """Put `agent` on the track of `task`, starting with that task.

    Refused, unless `force`, when the task is not ready, or its track is already assigned, or
    its scope overlaps a slot in use or a queued request.
    """
    validate_name("agent", agent)
    validate_name("task", task)
    graph, tracks = load_tracks(repo, lenient, store)
    check_task_id(repo, task, "`wtpool tracks analyze` lists the tasks", graph)
    track = next((t for t in tracks if task in t.tasks), None)
    if track is None:
        raise bad_input(f"task {task} is {graph.tasks[task].status}: there is nothing to do")
    if not force and task not in track.ready:
        waiting = ", ".join(t for t in track.ready) or "none"
        raise WtpoolError(
            f"task {task} is not ready: it is {graph.tasks[task].status} or waits for another",
            f"ready tasks on {track.id}: {waiting}; pass --force to assign it anyway",
        )
    problem = scope_problem(track)
    if problem is not None:
        raise bad_input(problem)
    return _claim(repo, store, graph, track, task, agent, not force, launch_agent=False)

"""Doctor's checks of task claims: this pool's claims against its slots and queue, and, where a
control plane is shared, the claims of hosts that went silent.

- A claim of this pool that no slot or queued request of it holds is dropped (a crash between
  the control plane's commit and the local one, a restored backup, a state that was shared and
  is local again). Then a slot that holds a task its pool does not have claimed gets the
  claim back, if the task is free. A task that a slot here holds and another host has claimed
  is reported, never settled by force: both have work on it.
- A host silent for longer than `state.host_ttl` may be dead, with tasks claimed that nobody
  will finish. `--fix` on any host releases them, but first saves, on `merge.remote`, each one's
  branch as the dead host last pushed it, as `wtpool/salvage/<host>/<task>-<commit>`. What the
  dead host never pushed exists only there: the repair says so, and claims to save nothing more.

Each repair looks again inside its own transaction: what was read for the report may have
changed since (a claim made meanwhile, a host that came back), and then the repair does nothing.
"""

from __future__ import annotations

import time

from worktree_pool.agents.audit import audit
from worktree_pool.coord.findings import DoctorReport, Finding, record_finding, unreachable
from worktree_pool.errors import WtpoolError
from worktree_pool.git.remote import copy_remote_branch
from worktree_pool.git.repo import Repository
from worktree_pool.pool.worktrees import BRANCH_NAMESPACE, branch_for
from worktree_pool.store import claims, hosts, merges, reservations
from worktree_pool.store.claims import QUEUED, Claim
from worktree_pool.store.hosts import HostRecord
from worktree_pool.store.origin import this_pool
from worktree_pool.store.protocol import Connection, Store
from worktree_pool.store.queue import agent_queued_for_task
from worktree_pool.store.slots import TRANSIENT_STATES, Slot, SlotState, all_slots, owner_alive
from worktree_pool.store.split import SplitStore
from worktree_pool.store.values import encode_scope


def examine_claims(repo: Repository, store: Store, report: DoctorReport) -> None:
    """Check the claims; where the control plane cannot be reached, say so and go on."""
    try:
        _examine(repo, store, report)
    except WtpoolError as exc:
        report.findings.append(
            unreachable("control-plane-unreachable", "control plane", "claims and hosts are", exc)
        )


def _examine(repo: Repository, store: Store, report: DoctorReport) -> None:
    with store.snapshot() as conn:
        here = this_pool(conn)
        slots = all_slots(conn)
        every = claims.every_claim(conn)
        listed = hosts.every_host(conn, repo.config.state.host_ttl) if _shared(store) else []
    _examine_own_claims(store, report, slots, [c for c in every if c.pool_id == here])
    for host in listed:
        if host.stale and host.pool_id != here:
            held = [claim for claim in every if claim.pool_id == host.pool_id]
            _examine_stale_host(repo, store, report, host, held)


def _shared(store: Store) -> bool:
    return isinstance(store, SplitStore) and store.shared.host is not None


def _holds(slot: Slot | None, task: str) -> bool:
    """Whether `slot` holds `task`, or a wtpool process is claiming something for it now."""
    if slot is None or slot.state == SlotState.IDLE:
        return False
    return slot.task == task or (slot.state in TRANSIENT_STATES and owner_alive(slot))


def _examine_own_claims(
    store: Store, report: DoctorReport, slots: list[Slot], mine: list[Claim]
) -> None:
    by_name = {slot.name: slot for slot in slots}
    for claim in mine:
        if claim.slot == QUEUED or _holds(by_name.get(claim.slot), claim.task):
            continue  # a queued claim is checked in its repair, against the queue
        record_finding(
            report,
            Finding(
                "claim-orphaned",
                claim.task,
                f"task {claim.task} is claimed for {claim.slot} here, which does not hold it",
                "release the claim",
            ),
            lambda claim=claim: _release_orphan(store, claim),
        )
    claimed = {(claim.task, claim.slot) for claim in mine}
    for slot in slots:
        if slot.task is None or slot.state == SlotState.IDLE:
            continue
        if (slot.task, slot.name) in claimed or slot.state in TRANSIENT_STATES:
            continue  # a slot in a transient state: its process, or doctor's other checks
        record_finding(
            report,
            Finding(
                "claim-missing",
                slot.name,
                f"{slot.name} holds task {slot.task}, which is not claimed for it",
                "claim the task for it again, if no other host has claimed it since",
            ),
            lambda slot=slot: _claim_again(store, slot.name),
        )


def _release_orphan(store: Store, claim: Claim) -> str | None:
    with store.transaction() as conn:
        slots = {slot.name: slot for slot in all_slots(conn)}
        if _holds(slots.get(claim.slot), claim.task) or _queued_here(conn, claim):
            return "not released: it is held now"
        claims.release_task(conn, claim.task, claim.pool_id)
    return None


def _queued_here(conn: Connection, claim: Claim) -> bool:
    return claim.slot == QUEUED and agent_queued_for_task(conn, claim.task) == claim.agent


def _claim_again(store: Store, name: str) -> str | None:
    with store.transaction() as conn:
        slot = next((slot for slot in all_slots(conn) if slot.name == name), None)
        if slot is None or slot.task is None or slot.state == SlotState.IDLE:
            return "nothing to claim: the slot holds no task now"
        scope = encode_scope(slot.scope)
        claims.take(conn, this_pool(conn), slot.task, slot.name, slot.agent, slot.track, scope)
    return None


def _examine_stale_host(
    repo: Repository, store: Store, report: DoctorReport, host: HostRecord, held: list[Claim]
) -> None:
    minutes = host.silent_for / 60
    tasks = ", ".join(claim.task for claim in held) or "no task"
    remote = repo.config.merge.remote
    record_finding(
        report,
        Finding(
            "stale-host",
            host.id,
            f"host {host.id} ({host.hostname}:{host.repository}) has been silent for "
            f"{minutes:.0f} min, holding {tasks}",
            f"save each task's branch as {host.id} last pushed it to {remote}, there, as "
            f"{BRANCH_NAMESPACE}salvage/{host.id}/<task>-<commit>; then release its claims and "
            "file reservations, and forget the host",
        ),
        lambda: _release_stale_host(repo, store, host, held),
    )


def _release_stale_host(repo: Repository, store: Store, host: HostRecord, held: list[Claim]) -> str:
    remote, ttl = repo.config.merge.remote, repo.config.state.host_ttl
    outcomes = []
    for claim in held:
        branch = branch_for(claim.agent or claim.task, claim.task)
        saved = copy_remote_branch(
            repo.git, remote, branch, f"{BRANCH_NAMESPACE}salvage/{host.id}/{claim.task}"
        )
        with store.transaction() as conn:  # one at a time: what was saved is released
            if not hosts.still_silent(conn, host.pool_id, ttl):
                raise WtpoolError(f"host {host.id} was heard from again: its claims stay")
            claims.release_task(conn, claim.task, claim.pool_id)
        outcomes.append(
            f"{claim.task}: saved {remote}/{branch} as {saved}"
            if saved is not None
            else f"{claim.task}: {remote} has no {branch}; what {host.id} never pushed is not saved"
        )
    with store.transaction() as conn:
        if hosts.still_silent(conn, host.pool_id, ttl):
            hosts.forget(conn, host.id, host.pool_id)
            if released := reservations.release_pool(conn, host.pool_id, time.time()):
                audit(conn, "unreserve", agent=None, ids=released, patterns=[], host=host.id)
                outcomes.append(f"released its {len(released)} file reservation(s)")
            silent = f"its host {host.id} went silent before anything pushed it to {remote}"
            if failed := merges.abandon_pool(conn, host.pool_id, silent):
                outcomes.append(f"{failed} of its queue entries can never land: failed")
    return "; ".join(outcomes) or "it held no task"

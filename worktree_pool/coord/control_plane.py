"""Doctor's checks of a shared control plane: this host's claims against its slots, and the
claims of hosts that went silent.

- A slot here that holds a task the control plane does not give it (a crash between the
  control plane's commit and the local one, or a server reset) gets its claim back, if the
  task is free; a claim of this host that no slot of its holds is dropped. A task that a slot
  here holds and the control plane gives to another host is reported, never settled by force:
  both have work on it.
- A host silent for longer than `state.host_ttl` may be dead, with tasks claimed that nobody
  will finish. `--fix` on any host releases them, but first saves, on `merge.remote`, each one's
  branch as the dead host last pushed it, as `wtpool/salvage/<host>/<task>`. What the dead
  host never pushed exists only there: the repair says so, and claims to save nothing more.
"""

from __future__ import annotations

from worktree_pool.coord.findings import DoctorReport, Finding, record_finding
from worktree_pool.git.remote import copy_remote_branch
from worktree_pool.git.repo import Repository
from worktree_pool.pool.worktrees import BRANCH_NAMESPACE, branch_for
from worktree_pool.store import claims
from worktree_pool.store.claims import Claim
from worktree_pool.store.hosts import HostRecord, every_host, forget
from worktree_pool.store.origin import this_pool
from worktree_pool.store.protocol import Store
from worktree_pool.store.slots import TRANSIENT_STATES, Slot, SlotState, all_slots, owner_alive
from worktree_pool.store.split import SplitStore
from worktree_pool.store.values import encode_scope


def examine_control_plane(repo: Repository, store: Store, report: DoctorReport) -> None:
    if not isinstance(store, SplitStore) or store.shared.host is None:
        return
    with store.snapshot() as conn:
        slots = all_slots(conn)
        every = claims.every_claim(conn)
        hosts = every_host(conn, repo.config.state.host_ttl)
    me = store.shared.host
    _examine_own_claims(store, report, slots, [c for c in every if c.pool_id == me.pool_id])
    for host in hosts:
        if host.stale and host.pool_id != me.pool_id:
            held = [claim for claim in every if claim.pool_id == host.pool_id]
            _examine_stale_host(repo, store, report, host, held)


def _examine_own_claims(
    store: SplitStore, report: DoctorReport, slots: list[Slot], mine: list[Claim]
) -> None:
    holding = {
        slot.task: slot
        for slot in slots
        if slot.task is not None
        and slot.state != SlotState.IDLE
        and not (slot.state in TRANSIENT_STATES and owner_alive(slot))  # a claim under way
    }
    for task, slot in holding.items():
        if any(claim.task == task and claim.slot == slot.name for claim in mine):
            continue
        record_finding(
            report,
            Finding(
                "claim-missing",
                slot.name,
                f"{slot.name} holds task {task}, which the control plane does not give it",
                "claim the task for it again, if no other host has claimed it since",
            ),
            lambda slot=slot, task=task: _claim_again(store, slot, task),
        )
    for claim in mine:
        if holding.get(claim.task) is not None or _under_way(slots, claim):
            continue
        record_finding(
            report,
            Finding(
                "claim-orphaned",
                claim.task,
                f"the control plane gives task {claim.task} to {claim.slot} here, which does "
                "not hold it",
                "release the claim",
            ),
            lambda claim=claim: _release(store, claim),
        )


def _under_way(slots: list[Slot], claim: Claim) -> bool:
    return any(
        slot.name == claim.slot and slot.state in TRANSIENT_STATES and owner_alive(slot)
        for slot in slots
    )


def _claim_again(store: SplitStore, slot: Slot, task: str) -> None:
    with store.transaction() as conn:
        pool_id = this_pool(conn)
        scope = encode_scope(slot.scope)
        claims.take(conn, pool_id, task, slot.name, slot.agent, slot.track, scope)


def _release(store: SplitStore, claim: Claim) -> None:
    with store.transaction() as conn:
        claims.release_task(conn, claim.task, claim.pool_id)


def _examine_stale_host(
    repo: Repository, store: SplitStore, report: DoctorReport, host: HostRecord, held: list[Claim]
) -> None:
    minutes = host.silent_for / 60
    tasks = ", ".join(claim.task for claim in held) or "no task"
    record_finding(
        report,
        Finding(
            "stale-host",
            host.id,
            f"host {host.id} ({host.hostname}:{host.repository}) has been silent for "
            f"{minutes:.0f} min, holding {tasks}",
            f"save each task's branch as last pushed to {repo.config.merge.remote} on "
            f"{repo.config.merge.remote} as {BRANCH_NAMESPACE}salvage/{host.id}/<task>, then "
            "release its claims and forget the host",
        ),
        lambda: _release_stale_host(repo, store, host, held),
    )


def _release_stale_host(
    repo: Repository, store: SplitStore, host: HostRecord, held: list[Claim]
) -> str:
    remote = repo.config.merge.remote
    outcomes = []
    for claim in held:
        branch = branch_for(claim.agent or claim.task, claim.task)
        salvage = f"{BRANCH_NAMESPACE}salvage/{host.id}/{claim.task}"
        saved = copy_remote_branch(repo.git, remote, branch, salvage)
        if saved is None:
            outcomes.append(
                f"{claim.task}: {remote} has no {branch}; what {host.id} never pushed is not saved"
            )
        else:
            outcomes.append(f"{claim.task}: saved {remote}/{branch} ({saved[:10]}) as {salvage}")
        with store.transaction() as conn:  # one at a time: what was saved is released
            claims.release_task(conn, claim.task, claim.pool_id)
    with store.shared.transaction() as conn:
        forget(conn, host.id, host.pool_id)
    return "; ".join(outcomes) or "it held no task"

"""`wtpool check` and `wtpool monitor`: assess the limits, tend the pool, build the frames.

Tending is what a watcher does besides watching. Where a control plane is shared, it beats
this host's heartbeat, so that a host whose daemon or monitor runs never shows as stale. While
no limit is critical, queued requests get idle slots; with `pool.autoscale`, when requests
wait and no slot is idle, one slot is added per refresh, below max, so that a pool coming back
from a critical limit grows at a pace its limits are checked at. Requests held back by a
critical limit (see claims.acquire) move on once it clears. While no daemon runs, the monitor
also tells of agents' state changes (hooks.on_state_change, see coord/notify.py), and shows
the last few things that went wrong doing so.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace

from worktree_pool.coord.daemon_lock import is_running as daemon_running
from worktree_pool.coord.notify import StateNotifier
from worktree_pool.errors import WtpoolError
from worktree_pool.git.repo import Repository
from worktree_pool.monitor.limits import Alert, Assessment, assess, last_alerts
from worktree_pool.monitor.slot_facts import SlotFacts, SlotFactsCache
from worktree_pool.pool.scaling import scale_pool
from worktree_pool.pool.serving import serve_queue
from worktree_pool.store.pool import require_pool
from worktree_pool.store.protocol import Store
from worktree_pool.store.queue import queued_requests
from worktree_pool.store.slots import SlotState, all_slots
from worktree_pool.store.split import heartbeat
from worktree_pool.store.values import utc_now

LAST_ALERTS = 5
# Notes of the on_state_change hook shown by the monitor: the last few.
_NOTES_SHOWN = 3


@dataclass(frozen=True)
class Frame:
    """Everything one frame of the dashboard shows."""

    repository: str
    assessment: Assessment
    slots: list[SlotFacts]
    queue: list[str]  # "agent (task)", oldest first
    alerts: list[Alert]
    refreshed_at: str
    queue_error: str | None = None  # why tending could not serve the queue
    # What went wrong telling of state changes, lately (see coord/notify.py).
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Tended:
    served: dict[str, str]  # slot -> the queued agent it went to
    added: list[str]  # slots autoscale added
    error: str | None = None  # why the queue could not be served, if it could not


def tend(repo: Repository, store: Store, assessment: Assessment) -> Tended:
    # Not at the top: the merge queue's modules would add about 0.1 s to `wtpool check`.
    from worktree_pool.merge.landing import follow_landed_elsewhere

    try:  # first: a host whose queue is stuck is still alive
        heartbeat(store)
        follow_landed_elsewhere(repo, store)
    except WtpoolError as exc:  # the control plane is down: this pool's own work goes on
        unheard = exc.message
    else:
        unheard = None
    tended = _tend_queue(repo, store, assessment)
    return replace(tended, error=tended.error or unheard)


def _tend_queue(repo: Repository, store: Store, assessment: Assessment) -> Tended:
    if assessment.critical:
        return Tended({}, [])
    with store.snapshot() as conn:
        pool = require_pool(conn, repo)
        slots = all_slots(conn)
        waiting = bool(queued_requests(conn))
    if not waiting:
        return Tended({}, [])
    idle = any(slot.state == SlotState.IDLE for slot in slots)
    try:
        if not idle and repo.config.pool.autoscale and len(slots) < pool.max:
            # Another process may have filled the pool since the count: scale_pool then
            # refuses, and the next refresh looks again.
            return Tended({}, list(scale_pool(repo, store, up=1).created))
        served, error = serve_queue(repo, store, pool.base, grow=False)
    except WtpoolError as exc:
        return Tended({}, [], exc.message)
    return Tended(served, [], error)


class Monitor:
    """Builds frames; the slow measurements run in a background thread when `background`."""

    def __init__(self, repo: Repository, store: Store, *, background: bool) -> None:
        self.repo = repo
        self.store = store
        self.facts = SlotFactsCache(repo)
        self.background = background
        self._worker: threading.Thread | None = None
        self.notifier = StateNotifier(repo, store)
        self.notes: list[str] = []  # the last few, shown until newer ones push them out

    def frame(self) -> Frame:
        with self.store.snapshot() as conn:
            slots = all_slots(conn)
        max_age = self.repo.config.monitor.disk_refresh
        if not self.background or self._worker is None:
            # The first frame waits for the measurements: judging the disk limit on readings
            # not yet taken would report "ok", then an alert as soon as they arrive.
            self.facts.refresh_slow(slots, max_age)
            self._worker = threading.Thread()  # a finished placeholder: later frames go on
        elif not self._worker.is_alive():
            # Daemonic: a walk of a huge slot must not keep `q` from quitting.
            self._worker = threading.Thread(
                target=self.facts.refresh_slow, args=(slots, max_age), daemon=True
            )
            self._worker.start()
        assessment = assess(self.repo, self.store, measure_disk=False, ports=True)
        tended = tend(self.repo, self.store, assessment)
        with self.store.snapshot() as conn:
            pool = require_pool(conn, self.repo)
            slots = all_slots(conn)
            queue = [
                f"{request.agent} ({request.task})" if request.task else request.agent
                for request in queued_requests(conn)
            ]
        # The daemon tells of changes while it runs: told twice, a change is noise.
        if daemon_running(self.repo):
            self.notifier.forget()
        else:
            told = self.notifier.observe(assessment.sample.agents, slots)
            self.notes += [f"{utc_now()[11:19]} {note}" for note in told]
            del self.notes[:-_NOTES_SHOWN]
        return Frame(
            repository=str(self.repo.root),
            assessment=assessment,
            slots=self.facts.facts(slots, assessment.sample, pool.base),
            queue=queue,
            alerts=last_alerts(self.repo, LAST_ALERTS),
            refreshed_at=utc_now(),
            queue_error=tended.error,
            notes=list(self.notes),
        )

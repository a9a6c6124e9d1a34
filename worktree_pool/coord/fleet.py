"""`wtpool hosts`: the machines that share this repository's control plane.

Each host is a pool on a machine (store/hosts.py): when it was last heard from, how many slots
it had in use then, and which tasks its slots hold now. A host silent for longer than
`state.host_ttl` is stale: its daemon, monitor and commands have all stopped, or it cannot
reach the server.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from worktree_pool.git.repo import Repository
from worktree_pool.store.hosts import HostRecord, every_host
from worktree_pool.store.protocol import Store
from worktree_pool.store.split import SplitStore
from worktree_pool.util.redact import mask


@dataclass(frozen=True)
class FleetReport:
    control_plane: str | None  # the server, password masked; None: the state is local
    schema: str | None
    this_host: str | None
    host_ttl: float
    hosts: list[HostRecord] = field(default_factory=list)


def fleet(repo: Repository, store: Store) -> FleetReport:
    settings = repo.config.state
    if not isinstance(store, SplitStore):
        return FleetReport(None, None, None, settings.host_ttl)
    store.heartbeat()  # asking is being heard from: this host is current in what it shows
    with store.shared.snapshot() as conn:
        found = every_host(conn, settings.host_ttl)
    me = store.shared.host
    return FleetReport(
        mask(store.shared.conninfo),
        settings.schema,
        me.id if me else None,
        settings.host_ttl,
        found,
    )

"""Widening a slot's write scope by hand (`wtpool filter set|add`), checked first.

The guard's refusal of a file the slot only shows for building points the agent here. Taking
that file for writing is taking it from whoever else may write it, so the new patterns are
checked against the other slots' write scopes (other hosts' too, through their claims, where
a control plane is shared) and against other agents' exclusive reservations; either is
refused with a real example path and a hint, unless `--force`.
"""

from __future__ import annotations

import time

from worktree_pool.agents.reservations import Reservation, conflicts_with
from worktree_pool.errors import bad_input
from worktree_pool.scope.overlap import readable, scopes_overlap
from worktree_pool.scope.patterns import check_compiles
from worktree_pool.store import reservations
from worktree_pool.store.claims import every_claim
from worktree_pool.store.origin import this_pool
from worktree_pool.store.protocol import Store
from worktree_pool.store.slots import SlotState, all_slots, lookup_slot
from worktree_pool.util.pattern_syntax import validate_patterns

WHOLE_TREE = ("**",)
HINT = "pass --force to widen it anyway: the merge queue settles what two slots both change"


def check_widening(store: Store, name: str, patterns: tuple[str, ...]) -> None:
    """Refuse `patterns` for slot `name` when another slot in use may write there, or another
    agent holds it exclusively."""
    check_compiles(validate_patterns(patterns))
    now = time.time()
    with store.snapshot() as conn:
        slot = lookup_slot(conn, name)
        in_use = [s for s in all_slots(conn) if s.name != name and s.state != SlotState.IDLE]
        others = [(other.name, other.scope) for other in in_use]
        here = this_pool(conn)
        others += [(c.where, c.scope) for c in every_claim(conn) if c.pool_id != here]
        held = [Reservation.of(stored, now) for stored in reservations.active(conn, now)]
    for holder, scope in others:
        path = scopes_overlap(patterns, scope or WHOLE_TREE)
        if path is not None:
            path = readable(path, patterns, scope or WHOLE_TREE)
            raise bad_input(
                f"{', '.join(patterns)} overlaps {holder}'s write scope "
                f"({', '.join(scope or WHOLE_TREE)}), e.g. at {path}",
                HINT,
            )
    agent = slot.agent or ""
    for conflict in conflicts_with(held, agent, patterns, exclusive=True):
        if conflict.holder.exclusive:
            raise bad_input(
                f"{conflict.holder.agent} holds {', '.join(conflict.holder.patterns)} "
                f"exclusively, e.g. {conflict.path}",
                HINT,
            )

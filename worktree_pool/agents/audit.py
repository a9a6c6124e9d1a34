"""`.agent-worktrees/audit.jsonl`: one JSON line for every reservation change and every message
sent, for anyone who later asks who held what, and when.

A line is written inside the transaction that makes the change, before it commits: a change
rolled back after its line was written leaves that line behind, but a committed change never
lacks one.
"""

from __future__ import annotations

import json
from typing import Any

from worktree_pool.git.repo import Repository
from worktree_pool.store.values import utc_now
from worktree_pool.util.private import open_private

AUDIT_FILE = "audit.jsonl"


def audit(repo: Repository, event: str, **details: Any) -> None:
    line = json.dumps({"at": utc_now(), "event": event, **details}, sort_keys=False)
    with open_private(repo.pool_dir / AUDIT_FILE) as log:
        log.write(line + "\n")

"""`wtpool doctor`: compare the state store with git and the disk, and repair the difference.

Doctor runs its own checks (consistency.py: the state against git and the disk;
control_plane.py: the pool's task claims, and hosts gone silent, where a control plane is shared),
then every check of `wtpool leaks` (leaks.py), so that `doctor --fix` repairs all that
`leaks --fix` does: one list of checks, not two that drift apart. Leaks, for its part, runs the
checks of doctor's that find leaks.
"""

from __future__ import annotations

from worktree_pool.coord.consistency import examine
from worktree_pool.coord.control_plane import examine_claims
from worktree_pool.coord.findings import DoctorReport
from worktree_pool.coord.leaks import examine_leaks
from worktree_pool.git.repo import Repository
from worktree_pool.pool.opening import open_store
from worktree_pool.store.pool import read_pool


def doctor(repo: Repository, *, fix: bool) -> DoctorReport:
    with open_store(repo) as store:
        report = examine(repo, store, DoctorReport(fix=fix))
        examine_claims(repo, store, report)
        with store.snapshot() as conn:
            pool = read_pool(conn)
        if pool is not None and pool.closing_pid is None:  # else a cleanup is under way
            examine_leaks(repo, store, report, pool)
        return report

"""A slot's environment outside its agent: `wtpool env`, `wtpool run`, and the hooks.

The variables are the ones the hand-off file gives the slot's agent (see handoff.py): the
slot, its task, its ports and its database. They are computed from the state, not read back from
the hand-off file, so an idle slot has them too (its ports and database; no task).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from worktree_pool.agents.process import require_program
from worktree_pool.db.slots import database_environment
from worktree_pool.errors import ExitCode, WtpoolError, bad_input
from worktree_pool.git.repo import Repository
from worktree_pool.git.run import environment_without_locations
from worktree_pool.pool.handoff import slot_environment
from worktree_pool.store.pool import require_pool
from worktree_pool.store.protocol import Store
from worktree_pool.store.slots import ClaimRequest, Slot, lookup_slot
from worktree_pool.util.names import validate_name


@dataclass(frozen=True)
class SlotEnvironment:
    slot: str
    path: str
    variables: dict[str, str]


def slot_variables(
    repo: Repository, store: Store, slot: Slot, *, best_effort: bool = False
) -> dict[str, str]:
    """What the slot's agent has, or would have: WTPOOL_*, its ports, its database.
    `best_effort`: a database server that cannot be reached leaves its variables out rather
    than failing (a release's hooks still run)."""
    request = ClaimRequest(slot.agent or "", slot.task, slot.scope, slot.track)
    variables = slot_environment(repo, slot.name, request)
    if repo.config.database.mode != "none":
        try:
            variables.update(database_environment(repo, store, slot.name))
        except WtpoolError:
            if not best_effort:
                raise
    return variables


def environment_of(repo: Repository, store: Store, name: str) -> SlotEnvironment:
    validate_name("slot", name)
    with store.snapshot() as conn:
        require_pool(conn, repo)
        slot = lookup_slot(conn, name)
    return SlotEnvironment(name, str(repo.slot_path(name)), slot_variables(repo, store, slot))


def run_in_slot(repo: Repository, store: Store, name: str, command: list[str]) -> int:
    """Run `command` in the slot with its environment, as the user's own process (its output
    is theirs, its exit code the command's); wtpool only sets it up."""
    if not command:
        raise bad_input(
            "no command given",
            "e.g. wtpool run pool-wt-1 -- npm test",
        )
    environment = environment_of(repo, store, name)
    program = require_program(repo, command[0], "wtpool run")
    path = Path(environment.path)
    if not path.is_dir():
        raise WtpoolError(f"{name} has no directory at {path}", "run `wtpool doctor --fix`")
    inherited = environment_without_locations()
    try:
        return subprocess.run(
            [program, *command[1:]],
            cwd=path,
            env={**inherited, **environment.variables, "PWD": str(path)},
            check=False,
        ).returncode
    except OSError as exc:
        raise WtpoolError(
            f"cannot run {command[0]}: {exc.strerror or exc}", None, ExitCode.USAGE
        ) from exc

"""Reaching agents in their slots: the tmux session to attach to, lines typed into sessions,
and the output an agent printed (the verbs behind `attach`, `send` and `logs`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from worktree_pool.agents.output import log_chunks
from worktree_pool.agents.terminal import attach_argv, live_sessions, send_text
from worktree_pool.errors import bad_input
from worktree_pool.git.repo import Repository
from worktree_pool.store.pool import require_pool
from worktree_pool.store.protocol import Store
from worktree_pool.store.slots import Slot, all_slots, lookup_slot
from worktree_pool.util.names import validate_name


@dataclass(frozen=True)
class Sent:
    text: str
    slots: list[str]


def _slot(repo: Repository, store: Store, name: str) -> Slot:
    validate_name("slot", name)
    with store.snapshot() as conn:
        require_pool(conn, repo)
        return lookup_slot(conn, name)


def attach_command(
    repo: Repository, store: Store, name: str, *, terminal: bool
) -> tuple[list[str], dict[str, str]]:
    """The command (and environment) that attaches to the slot's session; `terminal`: whether
    this process has one to attach, which tmux needs."""
    argv, environment = attach_argv(repo, _slot(repo, store, name).name)
    if not terminal:
        raise bad_input(
            "attach needs a terminal", f"`wtpool logs -f {name}` follows the agent's output"
        )
    return argv, environment


def send(
    repo: Repository, store: Store, target: str | None, text: str | None, *, to_all: bool
) -> Sent:
    """Type `text` into one slot's session, or with `to_all` into every live one."""
    if to_all:
        if text is not None:
            raise bad_input("give the text alone with --all", "wtpool send --all 'TEXT'")
        text = target
    if text is None or (not to_all and target is None):
        raise bad_input("say what to send, and where", "wtpool send SLOT TEXT, or --all TEXT")
    if not to_all:
        name = _slot(repo, store, target or "").name
        send_text(repo, name, text)
        return Sent(text, [name])
    with store.snapshot() as conn:
        require_pool(conn, repo)
        slots = {slot.name for slot in all_slots(conn)}
    reached = [name for name in live_sessions(repo) if name in slots]
    if not reached:
        raise bad_input(
            "no slot's agent runs in tmux", "agent.terminal: tmux makes spawn start them there"
        )
    for name in reached:
        send_text(repo, name, text)
    return Sent(text, reached)


def agent_output(repo: Repository, store: Store, name: str, *, follow: bool) -> Iterator[bytes]:
    return log_chunks(repo, _slot(repo, store, name), follow=follow)

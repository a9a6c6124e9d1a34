"""What the agents' commands print for a person: file reservations, the audit log, mail, and
lines sent to agents' terminals (scripts use `--json`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from worktree_pool.cli.render.common import console, escape, table

if TYPE_CHECKING:
    from worktree_pool.agents.reservations import Reservation, ReserveResult
    from worktree_pool.coord.reaching import Sent
    from worktree_pool.store.audit_log import AuditEntry
    from worktree_pool.store.mail import Message


def show_reserve(result: ReserveResult) -> None:
    reservation = result.reservation
    kind = "exclusively" if reservation.exclusive else "shared"
    console.print(
        f"reserved #{reservation.id} for {escape(reservation.agent)} ({kind}) until "
        f"{reservation.expires_at}: {escape(', '.join(reservation.patterns))}"
    )
    for conflict in result.conflicts:
        console.print(
            f"[yellow]conflict ({result.mode}): {escape(conflict.holder.agent)} holds "
            f"{escape(', '.join(conflict.holder.patterns))} (#{conflict.holder.id}); both take "
            f"{escape(conflict.path)}[/]"
        )


def show_reservations(reservations: list[Reservation]) -> None:
    if not reservations:
        console.print("no reservations")
        return
    # Shared reservations come from every host: each row says which.
    shared = any(item.host for item in reservations)
    host = ("host",) if shared else ()
    rows = table("id", "agent", *host, "patterns", "kind", "expires", "state", "reason")
    for item in reservations:
        state = "active" if item.active else "released" if item.released_at else "expired"
        rows.add_row(
            str(item.id),
            escape(item.agent),
            *((escape(item.host or "?"),) if shared else ()),
            escape(", ".join(item.patterns)),
            "exclusive" if item.exclusive else "shared",
            item.expires_at,
            state,
            escape(item.reason or ""),
        )
    console.print(rows)


def show_audit(entries: list[AuditEntry]) -> None:
    if not entries:
        console.print("no events")
        return
    shared = any(entry.host for entry in entries)
    rows = table("at", *(("host",) if shared else ()), "event", "details")
    for entry in entries:
        details = " ".join(f"{key}={value}" for key, value in entry.details.items())
        host = (escape(entry.host or "?"),) if shared else ()
        rows.add_row(entry.at, *host, entry.event, escape(details))
    console.print(rows)


def show_sent(message: Message) -> None:
    console.print(
        f"sent #{message.id} to {escape(message.recipient)} (thread {escape(message.thread)}): "
        f"{escape(message.subject)}"
    )


def show_inbox(messages: list[Message]) -> None:
    if not messages:
        console.print("no messages")
        return
    rows = table("id", "from", "subject", "thread", "sent", "state")
    for message in messages:
        state = "acked" if message.acked_at else "read" if message.read_at else "unread"
        rows.add_row(
            str(message.id),
            escape(message.sender + (f" ({message.host})" if message.host else "")),
            escape(message.subject),
            escape(message.thread),
            message.created_at,
            state,
        )
    console.print(rows)


def show_message(message: Message) -> None:
    sender = message.sender + (f" on host {message.host}" if message.host else "")
    console.print(f"#{message.id} from {escape(sender)} to {escape(message.recipient)}")
    console.print(f"subject: {escape(message.subject)}")
    console.print(f"thread:  {escape(message.thread)}   sent {message.created_at}")
    console.print()
    console.print(escape(message.body, lines=True), markup=True)


def show_typed(sent: Sent) -> None:
    console.print(f"sent to {', '.join(sent.slots)}: {escape(sent.text)}")

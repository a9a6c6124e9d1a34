"""Agent mail: short messages between agents (and from wtpool to them), kept in the state store.

A message has a sender, a recipient, a subject, a body and a thread (by default its own), and
is unread, read, or acknowledged. Every send is recorded in the audit log (audit.py).
Spawn mails each agent its task brief; wtpool mails the holder of a reservation it releases by
force. Agents read with `wtpool mail inbox AGENT`, `read ID` and `ack ID`; `inbox --wait`
blocks until something unread arrives. Where a control plane is shared, mail lives there: an
agent's name is its address on every host, and each message says which host sent it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

from worktree_pool.agents.audit import audit
from worktree_pool.errors import ExitCode, WtpoolError, bad_input
from worktree_pool.git.repo import Repository
from worktree_pool.store import mail
from worktree_pool.store.mail import Message
from worktree_pool.store.pool import require_pool
from worktree_pool.store.protocol import Connection, Store
from worktree_pool.store.shared_schema import MAIL_CHANNEL
from worktree_pool.store.split import waiting_for
from worktree_pool.util.inputs import read_text_bounded
from worktree_pool.util.names import validate_name

WTPOOL_SENDER = "wtpool"
# The subject of a task brief starts so (spawn, assign): what cleanup retires unread.
BRIEF_SUBJECT = "your task "
MAX_SUBJECT = 200
MAX_BODY = 1_000_000  # a message, not a file transfer
# A subject is one line, shown in tables: no control character of any kind, C1 and DEL too.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def check_message(sender: str, recipient: str, subject: str, body: str, thread: str | None) -> None:
    validate_name("agent", sender)
    validate_name("agent", recipient)
    if not subject.strip() or len(subject) > MAX_SUBJECT or _CONTROL.search(subject):
        raise bad_input(f"a subject is one line of 1 to {MAX_SUBJECT} characters")
    if len(body.encode()) > MAX_BODY:
        raise bad_input(f"a message body is at most {MAX_BODY} bytes")
    if thread is not None:
        validate_name("thread", thread)


def subject_line(text: str) -> str:
    """`text` made a subject for a mail wtpool sends (it may quote a task's title or a branch):
    each run of whitespace and control characters one space, cut to MAX_SUBJECT."""
    return re.sub(f"(?:\\s|{_CONTROL.pattern})+", " ", text)[:MAX_SUBJECT].strip()


def post(
    conn: Connection,
    sender: str,
    recipient: str,
    subject: str,
    body: str,
    thread: str | None = None,
) -> Message:
    """Send inside the caller's transaction (a reservation released by force, say)."""
    check_message(sender, recipient, subject, body, thread)
    message = _get(conn, mail.insert(conn, sender, recipient, subject, body, thread))
    audit(
        conn,
        "mail",
        id=message.id,
        sender=sender,
        recipient=recipient,
        subject=subject,
        thread=message.thread,
    )
    return message


def send(
    repo: Repository,
    store: Store,
    sender: str,
    recipient: str,
    subject: str,
    body: str,
    thread: str | None = None,
) -> Message:
    with store.transaction() as conn:
        require_pool(conn, repo)
        return post(conn, sender, recipient, subject, body, thread)


def inbox(repo: Repository, store: Store, agent: str, *, unread: bool = False) -> list[Message]:
    validate_name("agent", agent)
    with store.snapshot() as conn:
        require_pool(conn, repo)
        return mail.to(conn, agent, unread=unread)


def wait_for_mail(
    repo: Repository, store: Store, agent: str, timeout: float | None
) -> list[Message]:
    """The agent's unread messages, once there is one: woken by the control plane where one is
    shared, else looking every half second. An error after `timeout` seconds without any."""
    if timeout is not None and not 0 < timeout < 1e9:
        raise bad_input(f"--timeout must be a positive number of seconds, got {timeout}")
    deadline = None if timeout is None else time.monotonic() + timeout
    with waiting_for(store, MAIL_CHANNEL) as wait:
        while not (unread := inbox(repo, store, agent, unread=True)):
            left = 3600.0 if deadline is None else deadline - time.monotonic()
            if left <= 0:
                raise WtpoolError(
                    f"no unread mail for {agent} within {timeout:g} s",
                    "wait longer with --timeout, or without it",
                )
            wait(left)
    return unread


def read_message(repo: Repository, store: Store, message_id: int) -> Message:
    """The message, marked read (the first time)."""
    return _mark(repo, store, message_id, mail.mark_read)


def ack(repo: Repository, store: Store, message_id: int) -> Message:
    """Acknowledge the message (which also marks it read)."""
    return _mark(repo, store, message_id, mail.mark_acked)


def _mark(
    repo: Repository, store: Store, message_id: int, mark: Callable[[Connection, int], None]
) -> Message:
    """Mark an existing message, in one transaction, and return it as it now is."""
    with store.transaction() as conn:
        require_pool(conn, repo)
        _get(conn, message_id)  # an unknown id is an error, not a no-op
        mark(conn, message_id)
        return _get(conn, message_id)


def _get(conn: Connection, message_id: int) -> Message:
    message = mail.get(conn, message_id)
    if message is None:
        raise bad_input(f"no message #{message_id}", "`wtpool mail inbox AGENT` lists them")
    return message


def message_body(body: str | None, body_file: Path | None) -> str:
    """The text of a message to send: given as it is, or read from a file (at most one byte
    past MAX_BODY is read, even of /dev/zero)."""
    if body is not None and body_file is not None:
        raise WtpoolError("give --body or --body-file, not both", code=ExitCode.USAGE)
    if body_file is not None:
        return read_text_bounded(body_file, MAX_BODY, "message body")
    return body or ""

"""`wtpool mail send|inbox|read|ack`: messages between agents."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from worktree_pool.agents import mail
from worktree_pool.cli.invocation import repository
from worktree_pool.cli.options import JsonOption, commands, emit
from worktree_pool.cli.render.agents import show_inbox, show_message, show_sent
from worktree_pool.pool.opening import open_store

app = commands(name="mail", help="Messages between agents.", no_args_is_help=True)


@app.command("send")
def mail_send(
    sender: Annotated[str, typer.Option("--from", help="The sending agent.")],
    recipient: Annotated[str, typer.Option("--to", help="The receiving agent.")],
    subject: Annotated[str, typer.Option("--subject", help="One line.")],
    body: Annotated[str | None, typer.Option("--body", help="The text.")] = None,
    body_file: Annotated[
        Path | None, typer.Option("--body-file", help="Read the text from this file.")
    ] = None,
    thread: Annotated[str | None, typer.Option("--thread", help="Thread to reply in.")] = None,
    json: JsonOption = False,
) -> None:
    """Send a message to an agent."""
    text = mail.message_body(body, body_file)
    repo = repository()
    with open_store(repo) as store:
        message = mail.send(repo, store, sender, recipient, subject, text, thread)
        emit(message, json, show_sent)


@app.command("inbox")
def mail_inbox(
    agent: Annotated[str, typer.Argument(help="Whose messages.")],
    unread: Annotated[bool, typer.Option("--unread", help="Only those not read yet.")] = False,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait until one is unread; show the unread ones.")
    ] = False,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", help="With --wait: give up after this many seconds."),
    ] = None,
    json: JsonOption = False,
) -> None:
    """An agent's messages, oldest first."""
    repo = repository()
    with open_store(repo) as store:
        found = (
            mail.wait_for_mail(repo, store, agent, timeout)
            if wait
            else mail.inbox(repo, store, agent, unread=unread)
        )
        emit(found, json, show_inbox)


@app.command("read")
def mail_read(
    message_id: Annotated[int, typer.Argument(help="The message's number.")],
    json: JsonOption = False,
) -> None:
    """Show a message, and mark it read."""
    repo = repository()
    with open_store(repo) as store:
        emit(mail.read_message(repo, store, message_id), json, show_message)


@app.command("ack")
def mail_ack(
    message_id: Annotated[int, typer.Argument(help="The message's number.")],
    json: JsonOption = False,
) -> None:
    """Acknowledge a message."""
    repo = repository()
    with open_store(repo) as store:
        emit(mail.ack(repo, store, message_id), json, show_message)

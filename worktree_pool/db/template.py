"""The template each slot's database is cloned from, built by the configured setup.

The template is rebuilt only when the setup changes: its comment carries a fingerprint of the
setup (each SQL file's content, each command's arguments). Building happens under a PostgreSQL
advisory lock keyed on the template's name, so when several processes spawn at once the
template is built exactly once and the others wait for it.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from worktree_pool.config.settings import DatabaseSettings
from worktree_pool.db.clone import check_can_create, create_recorded, drop, undo_create
from worktree_pool.db.connection import Server, admin_connection, hint_for, sql_naming
from worktree_pool.db.names import template_name
from worktree_pool.db.ownership import COMMENT_PREFIX, Owner, comment_of, set_comment
from worktree_pool.errors import ExitCode, WtpoolError, first_line
from worktree_pool.util import testpoints
from worktree_pool.util.redact import mask

if TYPE_CHECKING:
    import psycopg


def fingerprint(settings: DatabaseSettings, repo_root: Path) -> str:
    """What the template is built from: each SQL file's content, each command's arguments."""
    parts = []
    for step in settings.setup:
        if isinstance(step, str):
            path = repo_root / step
            try:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError as exc:
                raise WtpoolError(
                    f"database.setup: cannot read {step}: {exc.strerror}", code=ExitCode.USAGE
                ) from exc
            parts.append(["file", step, digest])
        else:
            parts.append(["command", *step])
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class TemplateResult:
    name: str
    fingerprint: str
    built: bool  # False when an up-to-date template was already there


def ensure_template(
    server: Server,
    settings: DatabaseSettings,
    repo_root: Path,
    owner: Owner,
    wanted: str | None = None,
) -> TemplateResult:
    """Build the template unless one with the setup's fingerprint (`wanted`, if the caller
    has it already) exists."""
    name = template_name(settings, owner.prefix)
    wanted = wanted or fingerprint(settings, repo_root)
    marker = f"{COMMENT_PREFIX}:template:{owner.pool_id}:{wanted}"
    with admin_connection(server) as connection, _advisory_lock(connection, name):
        current = comment_of(connection, name)
        if current == marker:
            return TemplateResult(name, wanted, built=False)
        if current is not None and not owner.owns(name, current):
            raise WtpoolError(
                f"database {name} exists and was not made by this wtpool pool",
                "set database.template to another name, or drop that database yourself",
            )
        check_can_create(connection)
        if current is not None:
            drop(connection, name)
        create_recorded(connection, owner, name, None, sql_naming("CREATE DATABASE {}", name))
        testpoints.reached("template.created")
        try:
            set_comment(connection, name, f"{COMMENT_PREFIX}:template:{owner.pool_id}:building")
            _run_setup(server, settings, repo_root, name)
            set_comment(connection, name, marker)
            connection.execute(sql_naming("ALTER DATABASE {} WITH IS_TEMPLATE true", name))
        except BaseException:
            undo_create(connection, owner, name)
            raise
    return TemplateResult(name, wanted, built=True)


@contextmanager
def _advisory_lock(connection: psycopg.Connection[Any], name: str) -> Iterator[None]:
    key = int.from_bytes(hashlib.sha256(f"wtpool:{name}".encode()).digest()[:8], "big", signed=True)
    connection.execute("SELECT pg_advisory_lock(%s)", (key,))
    try:
        yield
    finally:
        connection.execute("SELECT pg_advisory_unlock(%s)", (key,))


def _run_setup(server: Server, settings: DatabaseSettings, repo_root: Path, name: str) -> None:
    import psycopg  # not at the top: see admin_connection

    environment = server.environment(name)
    for index, step in enumerate(settings.setup):
        where = f"database.setup[{index}]"
        if isinstance(step, str):
            text = (repo_root / step).read_text(encoding="utf-8")
            try:
                with psycopg.connect(environment["DATABASE_URL"], autocommit=True) as target:
                    target.execute(text.encode())
            except psycopg.Error as exc:
                message = mask(f"{where}: {step} failed: {first_line(exc)}", server.conninfo)
                raise WtpoolError(message, hint_for(exc)) from exc
            continue
        try:
            done = subprocess.run(
                list(step),
                cwd=repo_root,
                env={**os.environ, **environment},
                capture_output=True,
                text=True,
                check=False,
            )
        except OSError as exc:
            raise WtpoolError(f"{where}: cannot run {step[0]}: {exc.strerror}") from exc
        if done.returncode != 0:
            detail = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise WtpoolError(
                mask(
                    f"{where}: {' '.join(step)} exited with {done.returncode}: {detail}",
                    server.conninfo,
                )
            )

"""Where the databases live and how wtpool talks to the server: URLs, admin connections, errors.

Every statement runs in autocommit mode (`CREATE DATABASE` cannot run in a transaction), and a
PostgreSQL error leaves as a WtpoolError whose message never shows the URL's password.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from worktree_pool.config.settings import DatabaseSettings
from worktree_pool.errors import ExitCode, WtpoolError, first_line
from worktree_pool.util.redact import mask

if TYPE_CHECKING:
    import psycopg

URL_VARIABLE = "WTPOOL_DATABASE_URL"
DISK_FULL = "53100"  # SQLSTATE disk_full


@dataclass(frozen=True)
class Server:
    """Where the databases live, and as whom wtpool connects."""

    conninfo: str  # the admin connection, to the maintenance database

    def params(self) -> dict[str, str]:
        import psycopg  # not at the top: see admin_connection
        from psycopg.conninfo import conninfo_to_dict

        try:
            parsed = conninfo_to_dict(self.conninfo)
        except psycopg.ProgrammingError as exc:
            raise _invalid_url(self.conninfo, exc) from exc
        return {key: str(value) for key, value in parsed.items()}

    def url_for(self, database: str) -> str:
        """A postgresql:// URL for `database`, as an agent's tools expect DATABASE_URL."""
        params = self.params()
        user = quote(params.get("user", ""), safe="")
        password = params.get("password")
        auth = f"{user}:{quote(password, safe='')}@" if password else (f"{user}@" if user else "")
        host = params.get("host", "")
        port = params.get("port", "")
        query = ""
        if host.startswith("/"):  # a Unix socket directory goes in the query string
            query, host = f"?host={quote(host, safe='')}", ""
        netloc = f"{auth}{host}" + (f":{port}" if port and host else "")
        if port and not host:
            query += ("&" if query else "?") + f"port={port}"
        return f"postgresql://{netloc}/{quote(database, safe='')}{query}"

    def environment(self, database: str) -> dict[str, str]:
        params = self.params()
        return {
            "DATABASE_URL": self.url_for(database),
            "PGHOST": params.get("host", ""),
            "PGPORT": params.get("port", "5432"),
            "PGUSER": params.get("user", ""),
            "PGDATABASE": database,
        }


def external_server(settings: DatabaseSettings) -> Server:
    conninfo = os.environ.get(URL_VARIABLE) or settings.url
    if not conninfo:
        raise WtpoolError(
            "database.mode is external, but no server is given",
            f"set database.url in wtpool.yaml or {URL_VARIABLE}",
            ExitCode.USAGE,
        )
    return Server(conninfo)


@contextmanager
def admin_connection(server: Server) -> Iterator[psycopg.Connection[Any]]:
    # Imported here and in every function of db/ that needs it, never at a module's top:
    # psycopg takes a large part of a second to import, and `wtpool status` imports db/.
    import psycopg

    conninfo = server.conninfo
    try:
        connection = psycopg.connect(conninfo, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        raise WtpoolError(
            mask(f"cannot connect to PostgreSQL at {conninfo}: {first_line(exc)}", conninfo),
            "check that the server is running and that the URL's user and password are right",
        ) from exc
    except psycopg.ProgrammingError as exc:  # a malformed connection string
        raise _invalid_url(conninfo, exc) from exc
    try:
        yield connection
    except psycopg.Error as exc:
        message = mask(f"PostgreSQL refused: {first_line(exc)}", conninfo)
        raise WtpoolError(message, hint_for(exc)) from exc
    finally:
        connection.close()


def _invalid_url(conninfo: str, exc: BaseException) -> WtpoolError:
    return WtpoolError(
        mask(f"invalid database URL {conninfo}: {first_line(exc)}", conninfo),
        code=ExitCode.USAGE,
    )


def hint_for(exc: BaseException) -> str | None:
    import psycopg  # not at the top: see admin_connection

    # A full disk can crash the server mid-statement (a WAL write that fails is a PANIC), and
    # then the error arrives without its SQLSTATE: the message is all there is.
    if (
        isinstance(exc, psycopg.Error) and exc.sqlstate == DISK_FULL
    ) or "No space left on device" in str(exc):
        return "the server's disk is full: free space where it keeps its data, then try again"
    return None


def sql_naming(template: str, *names: str) -> Any:
    from psycopg import sql  # not at the top: see admin_connection

    return sql.SQL(template).format(*(identifier(n) for n in names))


def identifier(name: str) -> Any:
    from psycopg import sql  # not at the top: see admin_connection

    return sql.Identifier(name)

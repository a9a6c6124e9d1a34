"""One PostgreSQL database per slot, cloned from a template.

Cloning (`CREATE DATABASE x TEMPLATE t`) takes tens of milliseconds where re-running a project's
schema and seed data takes seconds, so each slot's database is a clone of a template that the
configured setup builds once, and again only when the setup changes.

Names are unique per pool: `<prefix>_template` and `<prefix>_wt_<n>`, where the prefix is the
repository directory's name plus the start of the pool's random id (pools made before that
have the directory's name alone, and keep it until their cleanup), so two repositories with
the same directory name on one server never reach for the same name.

Ownership is checked, never assumed from a name, before a database is used, cloned over or
dropped. A database is this pool's when its comment, `wtpool:<kind>:<pool id>:<fingerprint or
slot>`, names the pool, or when it has no comment and the pool's ledger (the state's
`databases` table) recorded the intent to create it: the intent is recorded after the server
showed the name free and before CREATE DATABASE, so a kill between CREATE and COMMENT leaves a
database that is still known to be the pool's. Anything else is never touched.

Concurrency: building the template happens under a PostgreSQL advisory lock keyed on the
template's name, so when several processes spawn at once the template is built exactly once and
the others wait for it. `CREATE DATABASE` cannot run in a transaction, so every statement here
runs in autocommit mode; a failure after CREATE drops what it made before reporting.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from worktree_pool.config.settings import DatabaseSettings
from worktree_pool.errors import ExitCode, WtpoolError
from worktree_pool.util import testpoints
from worktree_pool.util.redact import mask

if TYPE_CHECKING:
    import psycopg

MAX_IDENTIFIER_BYTES = 63  # PostgreSQL's NAMEDATALEN - 1; longer names are cut silently
URL_VARIABLE = "WTPOOL_DATABASE_URL"
COMMENT_PREFIX = "wtpool"
DISK_FULL = "53100"  # SQLSTATE disk_full
DUPLICATE_DATABASE = "42P04"  # SQLSTATE duplicate_database
POOL_TAG_LENGTH = 8  # hex digits of the pool id in its database names
_LONGEST_SUFFIX = "_template"  # longer than any `_wt_<n>` of a pool's at most 64 slots


# --- names ----------------------------------------------------------------------------------


def prefix_for(repo_root: Path, limit: int = MAX_IDENTIFIER_BYTES - len(_LONGEST_SUFFIX)) -> str:
    """The repository directory's name as an identifier: lowercase letters, digits and _; at
    most `limit` bytes. Alone, the prefix of a pool made before names carried the pool id."""
    name = re.sub(r"[^a-z0-9_]+", "_", repo_root.name.lower()).strip("_")
    if not name or not name[0].isalpha():
        name = f"wt_{name}".rstrip("_")
    return fit(name, limit)


def pool_prefix(repo_root: Path, pool_id: str) -> str:
    """The start of every database name of a new pool: the repository directory's name and the
    start of the pool's id, short enough that each of its names fits in 63 bytes."""
    tag = pool_id[:POOL_TAG_LENGTH]
    room = MAX_IDENTIFIER_BYTES - len(_LONGEST_SUFFIX) - len(tag) - 1
    return f"{prefix_for(repo_root, room)}_{tag}"


def fit(name: str, limit: int = MAX_IDENTIFIER_BYTES) -> str:
    """`name`, or, when it is longer than `limit` bytes, its start plus a hash of the whole:
    never a name the server would cut, so two long names can never end up the same."""
    if len(name.encode()) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:10]
    head = name.encode()[: limit - len(digest) - 1].decode(errors="ignore")
    return f"{head}_{digest}"


def template_name(settings: DatabaseSettings, prefix: str) -> str:
    return fit(settings.template or f"{prefix}_template")


def slot_database_name(prefix: str, slot_number: int) -> str:
    return fit(f"{prefix}_wt_{slot_number}")


# --- ownership ------------------------------------------------------------------------------


class Ledger(Protocol):
    """The pool's record of the databases it creates (the state's `databases` table)."""

    def intents(self) -> dict[str, str | None]:
        """Names recorded just before their CREATE, each with its slot (None: the template)."""
        ...

    def record(self, name: str, slot: str | None) -> None: ...

    def forget(self, name: str) -> None: ...


@dataclass(frozen=True)
class Owner:
    """A pool as the owner of databases: the id its comments name, the prefix of its names, and
    its ledger."""

    pool_id: str
    prefix: str
    ledger: Ledger

    def owns(
        self, name: str, comment: str | None, intents: dict[str, str | None] | None = None
    ) -> bool:
        """Whether the database `name`, with `comment` (None: there is none), is this pool's.
        `intents` is the ledger's, when the caller has read it already."""
        if comment is None:
            return False
        if owned_by(comment, self.pool_id):
            return True
        return comment == "" and name in (self.ledger.intents() if intents is None else intents)


@dataclass(frozen=True)
class Server:
    """Where the databases live, and as whom wtpool connects."""

    conninfo: str  # the admin connection, to the maintenance database

    def params(self) -> dict[str, str]:
        import psycopg
        from psycopg.conninfo import conninfo_to_dict

        try:
            parsed = conninfo_to_dict(self.conninfo)
        except psycopg.ProgrammingError as exc:
            raise _invalid_url(self.conninfo, exc) from exc
        return {key: str(value) for key, value in parsed.items()}

    def url_for(self, database: str) -> str:
        """A postgresql:// URL for `database`, as an agent's tools expect DATABASE_URL."""
        from urllib.parse import quote

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
    import psycopg

    conninfo = server.conninfo
    try:
        connection = psycopg.connect(conninfo, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        raise WtpoolError(
            mask(f"cannot connect to PostgreSQL at {conninfo}: {_first_line(exc)}", conninfo),
            "check that the server is running and that the URL's user and password are right",
        ) from exc
    except psycopg.ProgrammingError as exc:  # a malformed connection string
        raise _invalid_url(conninfo, exc) from exc
    try:
        yield connection
    except psycopg.Error as exc:
        message = mask(f"PostgreSQL refused: {_first_line(exc)}", conninfo)
        raise WtpoolError(message, _hint_for(exc)) from exc
    finally:
        connection.close()


def _invalid_url(conninfo: str, exc: BaseException) -> WtpoolError:
    return WtpoolError(
        mask(f"invalid database URL {conninfo}: {_first_line(exc)}", conninfo),
        code=ExitCode.USAGE,
    )


def _hint_for(exc: BaseException) -> str | None:
    import psycopg

    # A full disk can crash the server mid-statement (a WAL write that fails is a PANIC), and
    # then the error arrives without its SQLSTATE: the message is all there is.
    if (
        isinstance(exc, psycopg.Error) and exc.sqlstate == DISK_FULL
    ) or "No space left on device" in str(exc):
        return "the server's disk is full: free space where it keeps its data, then try again"
    return None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _identifier(name: str) -> Any:
    from psycopg import sql

    return sql.Identifier(name)


def _comment(connection: psycopg.Connection[Any], database: str) -> str | None:
    row = connection.execute(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
        (database,),
    ).fetchone()
    return None if row is None else (row[0] or "")


def owned_by(comment: str | None, pool_id: str) -> bool:
    return (
        comment is not None
        and comment.startswith(f"{COMMENT_PREFIX}:")
        and (comment.split(":")[2:3] == [pool_id])
    )


def _set_comment(connection: psycopg.Connection[Any], database: str, text: str) -> None:
    from psycopg import sql

    connection.execute(
        sql.SQL("COMMENT ON DATABASE {} IS {}").format(_identifier(database), sql.Literal(text))
    )


def _check_can_create(connection: psycopg.Connection[Any]) -> None:
    row = connection.execute(
        "SELECT rolsuper OR rolcreatedb FROM pg_roles WHERE rolname = current_user"
    ).fetchone()
    if not row or not row[0]:
        user = connection.execute("SELECT current_user").fetchone()
        raise WtpoolError(
            f"PostgreSQL role {user[0] if user else '?'} may not create databases",
            "connect as a superuser, or grant it CREATEDB: ALTER ROLE ... CREATEDB",
        )


def _drop(connection: psycopg.Connection[Any], database: str) -> None:
    row = connection.execute(
        "SELECT datistemplate FROM pg_database WHERE datname = %s", (database,)
    ).fetchone()
    if row and row[0]:  # PostgreSQL refuses to drop a database marked as a template
        connection.execute(_sql("ALTER DATABASE {} WITH IS_TEMPLATE false", database))
    connection.execute(_sql("DROP DATABASE IF EXISTS {} WITH (FORCE)", database))


def _create(
    connection: psycopg.Connection[Any], owner: Owner, name: str, slot: str | None, statement: Any
) -> None:
    """Run `statement`, a CREATE DATABASE of `name`, which the caller has seen free or the
    pool's. The intent is recorded first, so that a kill after the CREATE leaves a database the
    state names; a CREATE that fails forgets it again, unless the server cannot say whether the
    database exists."""
    import psycopg

    owner.ledger.record(name, slot)
    try:
        connection.execute(statement)
    except BaseException as exc:
        # duplicate_database: someone else's, made since we looked. A database that is not
        # there was not made. A connection that broke cannot tell: the record stays.
        taken = isinstance(exc, psycopg.Error) and exc.sqlstate == DUPLICATE_DATABASE
        with contextlib.suppress(psycopg.Error):
            if taken or _comment(connection, name) is None:
                owner.ledger.forget(name)
        raise


def _undo_create(connection: psycopg.Connection[Any], owner: Owner, name: str) -> None:
    """Drop a database this command made, and its record: nothing half-made is left."""
    _drop(connection, name)
    owner.ledger.forget(name)


# --- the template ---------------------------------------------------------------------------


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
        current = _comment(connection, name)
        if current == marker:
            return TemplateResult(name, wanted, built=False)
        if current is not None and not owner.owns(name, current):
            raise WtpoolError(
                f"database {name} exists and was not made by this wtpool pool",
                "set database.template to another name, or drop that database yourself",
            )
        _check_can_create(connection)
        if current is not None:
            _drop(connection, name)
        _create(connection, owner, name, None, _sql("CREATE DATABASE {}", name))
        testpoints.reached("template.created")
        try:
            _set_comment(connection, name, f"{COMMENT_PREFIX}:template:{owner.pool_id}:building")
            _run_setup(server, settings, repo_root, name)
            _set_comment(connection, name, marker)
            connection.execute(_sql("ALTER DATABASE {} WITH IS_TEMPLATE true", name))
        except BaseException:
            _undo_create(connection, owner, name)
            raise
    return TemplateResult(name, wanted, built=True)


def _sql(template: str, *names: str) -> Any:
    from psycopg import sql

    return sql.SQL(template).format(*(_identifier(n) for n in names))


@contextmanager
def _advisory_lock(connection: psycopg.Connection[Any], name: str) -> Iterator[None]:
    key = int.from_bytes(hashlib.sha256(f"wtpool:{name}".encode()).digest()[:8], "big", signed=True)
    connection.execute("SELECT pg_advisory_lock(%s)", (key,))
    try:
        yield
    finally:
        connection.execute("SELECT pg_advisory_unlock(%s)", (key,))


def _run_setup(server: Server, settings: DatabaseSettings, repo_root: Path, name: str) -> None:
    import psycopg

    environment = server.environment(name)
    for index, step in enumerate(settings.setup):
        where = f"database.setup[{index}]"
        if isinstance(step, str):
            text = (repo_root / step).read_text(encoding="utf-8")
            try:
                with psycopg.connect(environment["DATABASE_URL"], autocommit=True) as target:
                    target.execute(text.encode())
            except psycopg.Error as exc:
                message = mask(f"{where}: {step} failed: {_first_line(exc)}", server.conninfo)
                raise WtpoolError(message, _hint_for(exc)) from exc
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


# --- slot databases -------------------------------------------------------------------------


def clone_for_slot(
    server: Server,
    settings: DatabaseSettings,
    template: str,
    database: str,
    slot: str,
    owner: Owner,
    *,
    keep_existing: bool = False,
) -> None:
    """(Re)create the slot's database as a fresh clone of the template; with `keep_existing`,
    leave a finished clone this pool already made alone."""
    from psycopg import sql

    with admin_connection(server) as connection:
        existing = _comment(connection, database)
        if existing is not None and not owner.owns(database, existing):
            raise WtpoolError(
                f"database {database} exists and was not made by this wtpool pool",
                "drop or rename it yourself; wtpool never drops a database it did not create",
            )
        if keep_existing and owned_by(existing, owner.pool_id):  # not a half-made one
            return
        _clear_template(connection, settings, template)
        _drop(connection, database)
        statement = sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY {}").format(
            _identifier(database), _identifier(template), sql.SQL(settings.strategy.upper())
        )
        _create(connection, owner, database, slot, statement)
        testpoints.reached("clone.created")
        try:
            _set_comment(connection, database, f"{COMMENT_PREFIX}:slot:{owner.pool_id}:{slot}")
        except BaseException:
            _undo_create(connection, owner, database)
            raise


def _clear_template(
    connection: psycopg.Connection[Any], settings: DatabaseSettings, template: str
) -> None:
    """CREATE DATABASE fails while anyone is connected to the template: say who, or
    disconnect them when configured to. Clients only: an autovacuum worker (one comes after a
    large template is built) is PostgreSQL's own, and CREATE DATABASE stops it itself."""
    clients = connection.execute(
        "SELECT pid, usename, application_name, client_addr FROM pg_stat_activity"
        " WHERE datname = %s AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
        (template,),
    ).fetchall()
    if not clients:
        return
    if settings.terminate_template_connections:
        for pid, *_ in clients:
            connection.execute("SELECT pg_terminate_backend(%s)", (pid,))
        return
    who = ", ".join(
        f"pid {pid} ({', '.join(str(part) for part in (user or '?', app, addr) if part)})"
        for pid, user, app, addr in clients
    )
    raise WtpoolError(
        f"clients are connected to the template {template}: {who}",
        "disconnect them, or set database.terminate_template_connections: true",
    )


def drop_owned(server: Server, databases: list[str], owner: Owner) -> list[str]:
    """Drop those of `databases` this pool made; return the ones dropped."""
    dropped = []
    intents = owner.ledger.intents()
    with admin_connection(server) as connection:
        for database in databases:
            if owner.owns(database, _comment(connection, database), intents):
                _drop(connection, database)
                dropped.append(database)
    return dropped


def check_owned(server: Server, name: str, owner: Owner) -> None:
    """Refuse to hand out `name` unless it exists and is this pool's."""
    with admin_connection(server) as connection:
        comment = _comment(connection, name)
    if comment is None:
        raise WtpoolError(
            f"database {name} does not exist",
            "a slot gets its database when it is claimed; `wtpool db reset SLOT` makes one now",
        )
    if not owner.owns(name, comment):
        raise WtpoolError(
            f"database {name} exists and was not made by this wtpool pool",
            "drop or rename it yourself; wtpool never hands out a database it did not create",
        )


def list_strangers(server: Server) -> list[str]:
    """The server's databases that no wtpool pool made, PostgreSQL's own aside."""
    with admin_connection(server) as connection:
        rows = connection.execute(
            "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database"
            " WHERE datname NOT IN ('postgres', 'template0', 'template1') ORDER BY datname"
        ).fetchall()
    return [name for name, comment in rows if not (comment or "").startswith(f"{COMMENT_PREFIX}:")]


def list_lookalikes(server: Server, owner: Owner) -> list[str]:
    """Databases named like this pool's slot databases that this pool did not make."""
    pattern = re.compile(re.escape(owner.prefix) + r"_wt_\d+")
    intents = owner.ledger.intents()
    with admin_connection(server) as connection:
        rows = connection.execute(
            "SELECT datname, coalesce(shobj_description(oid, 'pg_database'), '')"
            " FROM pg_database ORDER BY datname"
        ).fetchall()
    return [
        name
        for name, comment in rows
        if pattern.fullmatch(name) and not owner.owns(name, comment, intents)
    ]


@dataclass(frozen=True)
class DatabaseInfo:
    slot: str | None  # None for the template
    database: str
    size_bytes: int
    connections: int


def list_owned(server: Server, owner: Owner) -> list[DatabaseInfo]:
    with admin_connection(server) as connection:
        return _owned(connection, owner)


def _owned(connection: psycopg.Connection[Any], owner: Owner) -> list[DatabaseInfo]:
    """This pool's databases: those whose comment names it, and those its ledger names that
    have no comment (made, then killed before COMMENT)."""
    intents = owner.ledger.intents()
    # Filtered before sizing: pg_database_size of every database on a shared server would
    # cost far more than wtpool's own few.
    rows = connection.execute(
        "SELECT datname, comment, pg_database_size(oid),"
        " (SELECT count(*) FROM pg_stat_activity a WHERE a.datname = d.datname)"
        " FROM (SELECT oid, datname, coalesce(shobj_description(oid, 'pg_database'), '')"
        "       AS comment FROM pg_database) d"
        " WHERE comment LIKE %s OR (comment = '' AND datname = ANY(%s)) ORDER BY datname",
        (f"{COMMENT_PREFIX}:%:{owner.pool_id}:%", list(intents)),
    ).fetchall()
    found = []
    for name, comment, size, connections in rows:
        if not owner.owns(name, comment, intents):
            continue
        if owned_by(comment, owner.pool_id):
            kind, _pool, detail = comment.split(":", 3)[1:4]
            slot = detail if kind == "slot" else None
        else:
            slot = intents[name]
        found.append(DatabaseInfo(slot, name, size, connections))
    return found


@dataclass(frozen=True)
class ServerLoad:
    connections: int  # client connections to the whole server but this one, anyone's
    max_connections: int
    by_database: dict[str, int]
    databases: list[DatabaseInfo]  # this pool's


def server_load(server: Server, owner: Owner) -> ServerLoad:
    with admin_connection(server) as connection:
        rows = connection.execute(
            "SELECT coalesce(datname, ''), count(*) FROM pg_stat_activity"
            " WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
            " GROUP BY 1 ORDER BY 1"
        ).fetchall()
        row = connection.execute("SELECT current_setting('max_connections')::int").fetchone()
        by_database = {name: count for name, count in rows}
        return ServerLoad(
            connections=sum(by_database.values()),
            max_connections=row[0] if row else 0,
            by_database=by_database,
            databases=_owned(connection, owner),
        )

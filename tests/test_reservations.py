"""File reservations through the real CLI: conflicts by exact glob overlap, enforce and
advisory modes, expiry without cleanup, renewal, release, the audit log, and a 20-process race."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import Pool, assert_one_line_error, snapshot, wtpool, wtpool_json


def _reserve(root: Path, agent: str, *args: str) -> subprocess.CompletedProcess:
    return wtpool(root, "reserve", agent, *args)


def _active(root: Path) -> list[dict]:
    return wtpool_json(root, "reservations")


def _audit(root: Path) -> list[dict]:
    path = root / ".agent-worktrees" / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize(
    ("held", "wanted", "shared_path"),
    [
        # One-way text matching misses these: neither pattern matches the other's text.
        ("src/a/*.py", "src/*/b.py", "src/a/b.py"),
        ("docs/*.md", "**/guide.md", "docs/guide.md"),
        ("src/", "src/api/auth.py", "src/api/auth.py"),
    ],
)
def test_overlapping_patterns_conflict_even_when_neither_matches_the_others_text(
    pool: Pool, held: str, wanted: str, shared_path: str
) -> None:
    assert _reserve(pool.root, "alice", held).returncode == 0
    before = snapshot(pool.root)
    refused = _reserve(pool.root, "bob", wanted)
    assert_one_line_error(refused, 1, f"cannot reserve {wanted}: alice holds {held}")
    assert f"both take {shared_path}" in refused.stderr
    assert snapshot(pool.root) == before


def test_disjoint_same_agent_and_shared_reservations_do_not_conflict(pool: Pool) -> None:
    assert _reserve(pool.root, "alice", "src/a/*.py").returncode == 0
    assert _reserve(pool.root, "bob", "src/a/*.md").returncode == 0  # no path matches both
    assert _reserve(pool.root, "alice", "src/a/x.py").returncode == 0  # never blocks itself
    assert _reserve(pool.root, "carol", "docs/", "--shared").returncode == 0
    assert _reserve(pool.root, "dave", "docs/guide.md", "--shared").returncode == 0
    refused = _reserve(pool.root, "erin", "docs/guide.md")  # exclusive meets shared: conflict
    assert refused.returncode == 1 and "carol holds docs/" in refused.stderr
    assert sorted(r["agent"] for r in _active(pool.root)) == [
        "alice",
        "alice",
        "bob",
        "carol",
        "dave",
    ]


def test_advisory_mode_grants_and_reports_the_conflict(pool: Pool) -> None:
    (pool.root / "wtpool.yaml").write_text("reservations:\n  mode: advisory\n")
    assert _reserve(pool.root, "alice", "src/").returncode == 0
    granted = wtpool_json(pool.root, "reserve", "bob", "src/util.py")
    assert granted["reservation"]["agent"] == "bob"
    assert [c["holder"]["agent"] for c in granted["conflicts"]] == ["alice"]
    assert granted["mode"] == "advisory"


def test_a_reservation_expires_on_its_own(pool: Pool) -> None:
    assert _reserve(pool.root, "alice", "src/", "--ttl", "1").returncode == 0
    assert [r["agent"] for r in _active(pool.root)] == ["alice"]
    time.sleep(1.2)
    assert _active(pool.root) == []  # nothing ran in between: the clock did it
    leaks = wtpool_json(pool.root, "leaks", "--fix")["findings"]
    assert [(f["kind"], f["fixed"]) for f in leaks] == [("expired-reservation", True)]
    assert _reserve(pool.root, "bob", "src/").returncode == 0
    everything = wtpool_json(pool.root, "reservations", "--all")
    assert [(r["agent"], r["active"]) for r in everything] == [("alice", False), ("bob", True)]
    assert everything[0]["released_at"] == everything[0]["expires_at"]


def test_renew_extends_and_unreserve_releases_some_or_all(pool: Pool) -> None:
    assert _reserve(pool.root, "alice", "src/", "docs/", "--ttl", "60").returncode == 0
    renewed = wtpool_json(pool.root, "renew", "alice", "--by", "7200")
    first = _active(pool.root)[0]
    assert renewed[0]["expires_at"] == first["expires_at"] > first["created_at"]
    released = wtpool_json(pool.root, "unreserve", "alice", "src/")
    assert [r["patterns"] for r in released] == [["src/", "docs/"]]
    (left,) = _active(pool.root)
    assert left["patterns"] == ["docs/"] and left["expires_at"] == first["expires_at"]
    assert _reserve(pool.root, "bob", "src/app.py").returncode == 0  # src/ is free again
    assert wtpool(pool.root, "unreserve", "alice").returncode == 0
    assert [r["agent"] for r in _active(pool.root)] == ["bob"]
    events = [(e["event"], e["agent"]) for e in _audit(pool.root)]
    assert events == [
        ("reserve", "alice"),
        ("renew", "alice"),
        ("unreserve", "alice"),
        ("reserve", "bob"),
        ("unreserve", "alice"),
    ]


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (["reserve", "alice"], 2, "missing argument"),
        (["reserve", "../x", "src/"], 2, "invalid agent"),
        (["reserve", "alice", "../etc"], 2, "escapes the repository"),
        (["reserve", "alice", "/etc/passwd"], 2, "absolute path"),
        (["reserve", "alice", "!src/"], 2, "negated patterns"),
        (["reserve", "alice", "src/", "--ttl", "0"], 2, "--ttl must be between"),
        (["reserve", "alice", "src/", "--ttl", "nan"], 2, "--ttl must be between"),
        (["renew", "nobody"], 1, "holds no active reservation"),
        (["renew", "alice", "--by", "-5"], 2, "--by must be between"),
        (["unreserve", "nobody"], 1, "holds no active reservation"),
    ],
)
def test_bad_reservation_requests_are_refused_cleanly(
    pool: Pool, args: list[str], code: int, fragment: str
) -> None:
    before = snapshot(pool.root)
    assert_one_line_error(wtpool(pool.root, *args), code, fragment)
    assert snapshot(pool.root) == before


def test_a_bad_reservation_mode_is_a_config_error(pool: Pool) -> None:
    (pool.root / "wtpool.yaml").write_text("reservations:\n  mode: polite\n")
    result = wtpool(pool.root, "reservations")
    assert_one_line_error(result, 2, "reservations.mode must be one of enforce, advisory")


def test_twenty_processes_reserving_overlapping_patterns_leave_one_holder_each(
    pool: Pool,
) -> None:
    # Four contested sets of paths, five agents wanting each, with patterns that overlap
    # within a set only: in enforce mode each set ends up with exactly one holder.
    wants = {
        f"agent-{n}": [
            f"area{n % 4}/",
            f"area{n % 4}/*.py",
            f"area{n % 4}/**",
            f"area{n % 4}/x.py",
        ][n // 5 % 4]
        for n in range(20)
    }
    racers = [
        subprocess.Popen(
            [sys.executable, "-m", "worktree_pool", "reserve", agent, pattern],
            cwd=pool.root,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for agent, pattern in wants.items()
    ]
    codes = [racer.wait(timeout=300) for racer in racers]
    holders = _active(pool.root)
    assert len(holders) == 4 and codes.count(0) == 4
    areas = sorted(holder["patterns"][0].split("/")[0] for holder in holders)
    assert areas == ["area0", "area1", "area2", "area3"]

"""File reservations through the real CLI: conflicts by exact glob overlap, enforce and
advisory modes, expiry without cleanup, renewal, release, the audit log, and a 20-process race."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from tests.conftest import (
    Pool,
    assert_one_line_error,
    make_pool,
    make_repo,
    snapshot,
    wtpool,
    wtpool_json,
)


def _reserve(root: Path, agent: str, *args: str) -> subprocess.CompletedProcess:
    return wtpool(root, "reserve", agent, *args)


def _active(root: Path) -> list[dict]:
    return wtpool_json(root, "reservations")


def _audit(root: Path) -> list[dict]:
    return [{"event": e["event"], **e["details"]} for e in wtpool_json(root, "audit")]


SEND_X = ["mail", "send", "--from", "a", "--to", "b", "--subject", "x"]


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
    # Judged by the times it reports, not by a sleep: a loaded machine may take seconds
    # between two commands.
    granted = wtpool_json(pool.root, "reserve", "alice", "src/", "--ttl", "2")["reservation"]
    assert granted["active"]
    expiry = datetime.fromisoformat(granted["expires_at"]).timestamp()
    time.sleep(max(0.0, expiry - time.time()) + 1.1)  # expiry is given to the second
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
    released, replacement = wtpool_json(pool.root, "unreserve", "alice", "src/")
    assert (released["patterns"], released["active"]) == (["src/", "docs/"], False)
    (left,) = _active(pool.root)
    assert left == replacement and left["patterns"] == ["docs/"]
    assert (left["created_at"], left["expires_at"]) == (first["created_at"], first["expires_at"])
    assert _reserve(pool.root, "carol", "docs/x.md").returncode == 1  # refused: not logged
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
    assert [e["event"] for e in wtpool_json(pool.root, "audit", "--limit", "2")] == [
        "reserve",
        "unreserve",
    ]  # the newest two, oldest first
    assert_one_line_error(wtpool(pool.root, "audit", "--limit", "0"), 2, "--limit must be")


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
        (["mail", "send", "--from", "a", "--to", "b", "--subject", " "], 2, "a subject is one"),
        (["mail", "send", "--from", "../a", "--to", "b", "--subject", "x"], 2, "invalid agent"),
        (
            [*SEND_X, "--body", "1", "--body-file", "f"],
            2,
            "not both",
        ),
        (
            [*SEND_X, "--body-file", "/nonexistent/f"],
            2,
            "cannot read",
        ),
        (["mail", "read", "99"], 2, "no message #99"),
        (["mail", "ack", "x"], 2, "should be a valid integer"),
        (["unreserve", "--id", "1"], 2, "--id N --force"),
        (["unreserve", "--id", "99", "--force"], 2, "no reservation #99"),
        (["unreserve"], 2, "name the agent"),
    ],
)
def test_bad_reservation_and_mail_requests_are_refused_cleanly(
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


def _commit(slot: Path, path: str, text: str) -> subprocess.CompletedProcess:
    (slot / path).parent.mkdir(parents=True, exist_ok=True)
    (slot / path).write_text(text)
    subprocess.run(["git", "add", "--sparse", path], cwd=slot, check=True)
    return subprocess.run(
        ["git", "commit", "-qm", f"change {path}"], cwd=slot, capture_output=True, text=True
    )


def test_the_guard_refuses_a_commit_of_a_path_another_agent_holds(pool: Pool) -> None:
    claim = wtpool_json(pool.root, "acquire", "--agent", "alice", "--task", "t1")
    slot = Path(claim["path"])
    assert _reserve(pool.root, "bob", "src/util.py", "--reason", "refactor").returncode == 0
    assert _reserve(pool.root, "carol", "docs/", "--shared").returncode == 0  # shared: no block
    assert _reserve(pool.root, "alice", "README.md").returncode == 0  # her own: no block

    refused = _commit(slot, "src/util.py", "def helper():\n    return 2\n")
    assert refused.returncode != 0
    assert "bob holds src/util.py (reservation #1), which covers:" in refused.stderr
    assert "  src/util.py" in refused.stderr
    subprocess.run(["git", "reset", "-q", "HEAD", "src/util.py"], cwd=slot, check=True)
    subprocess.run(["git", "checkout", "--", "src/util.py"], cwd=slot, check=True)

    for path in ("docs/guide.md", "README.md"):
        done = _commit(slot, path, "changed\n")
        assert done.returncode == 0, done.stderr
    assert wtpool(pool.root, "unreserve", "bob").returncode == 0
    done = _commit(slot, "src/util.py", "def helper():\n    return 2\n")
    assert done.returncode == 0, done.stderr  # released: the path is free


def test_spawn_reserves_each_tracks_files_and_release_and_cleanup_free_them(
    tmp_path: Path,
) -> None:
    files = {"README.md": "x\n", "src/api/a.py": "1\n", "src/ui/b.js": "2\n", "docs/g.md": "3\n"}
    root = make_repo(tmp_path / "shop", files)
    tasks = [
        {"id": "api", "title": "API", "priority": 1, "files": ["src/api/"]},
        {"id": "ui", "title": "UI", "priority": 1, "files": ["src/ui/"]},
        {"id": "docs", "title": "Docs", "priority": 2, "files": ["docs/"]},
    ]
    (root / "tasks.yaml").write_text(json.dumps({"tasks": tasks}))
    (root / "wtpool.yaml").write_text("pool:\n  min: 1\n  max: 4\ntasks:\n  source: yaml\n")
    make_pool(root, 1, 4)
    assert _reserve(root, "human", "src/ui/b.js").returncode == 0  # someone is on the UI

    spawned = wtpool_json(root, "spawn", "3")
    assert sorted(item["task"] for item in spawned["spawned"]) == ["api", "docs"]
    (skip,) = [s for s in spawned["skipped"] if s["track"] == "track:ui"]
    assert "human holds src/ui/b.js" in skip["reason"]
    held = {r["agent"]: r["patterns"] for r in _active(root)}
    assert held == {"human": ["src/ui/b.js"], "api": ["src/api/"], "docs": ["docs/"]}

    api_slot = next(item["slot"] for item in spawned["spawned"] if item["task"] == "api")
    assert wtpool(root, "release", api_slot).returncode == 0
    assert sorted(r["agent"] for r in _active(root)) == ["docs", "human"]
    note = ["mail", "send", "--from", "human", "--to", "api", "--subject", "thanks"]
    assert wtpool(root, *note, "--body", "x").returncode == 0
    cleaned = wtpool_json(root, "cleanup")
    assert len(cleaned["released_reservations"]) == 2
    # The session's task briefs are done with: the next session's agent `api` finds only
    # what others wrote to it.
    assert wtpool(root, "init", "--min", "1").returncode == 0
    unread = wtpool_json(root, "mail", "inbox", "api", "--unread")
    assert [(m["sender"], m["subject"]) for m in unread] == [("human", "thanks")]
    assert wtpool(root, "cleanup").returncode == 0
    state = sqlite3.connect(root / ".agent-worktrees" / "state.db")
    active = state.execute("SELECT count(*) FROM reservations WHERE released_at IS NULL")
    assert active.fetchone() == (0,)  # the pool is gone, and nothing is held any more
    state.close()


def test_mail_makes_a_round_trip_and_every_send_is_audited(pool: Pool, tmp_path: Path) -> None:
    sent = wtpool_json(
        pool.root,
        "mail",
        "send",
        "--from",
        "alice",
        "--to",
        "bob",
        "--subject",
        "src/util.py?",
        "--body",
        "May I change helper()?",
    )
    assert (sent["sender"], sent["recipient"], sent["thread"]) == ("alice", "bob", f"m{sent['id']}")
    body = tmp_path / "reply.txt"
    body.write_text("Yes, after 3pm.\n")
    reply = wtpool_json(
        pool.root,
        "mail",
        "send",
        "--from",
        "bob",
        "--to",
        "alice",
        "--subject",
        "re",
        "--body-file",
        str(body),
        "--thread",
        sent["thread"],
    )
    assert reply["thread"] == sent["thread"]
    assert [m["id"] for m in wtpool_json(pool.root, "mail", "inbox", "bob", "--unread")] == [
        sent["id"]
    ]
    shown = wtpool(pool.root, "mail", "read", str(sent["id"]))
    assert "May I change helper()?" in shown.stdout and "from alice to bob" in shown.stdout
    assert wtpool_json(pool.root, "mail", "inbox", "bob", "--unread") == []
    acked = wtpool_json(pool.root, "mail", "ack", str(sent["id"]))
    assert acked["acked_at"] and acked["read_at"]
    (answer,) = wtpool_json(pool.root, "mail", "inbox", "alice")
    assert answer["body"] == "Yes, after 3pm.\n" and answer["read_at"] is None
    assert [(e["event"], e["sender"]) for e in _audit(pool.root)] == [
        ("mail", "alice"),
        ("mail", "bob"),
    ]


def test_a_stale_reservation_is_released_by_force_and_its_holder_is_told(pool: Pool) -> None:
    assert wtpool(pool.root, "acquire", "--agent", "alice").returncode == 0
    assert _reserve(pool.root, "alice", "src/").returncode == 0
    refused = wtpool(pool.root, "unreserve", "--id", "1", "--force")
    assert_one_line_error(refused, 1, "is not stale: alice holds pool-wt-1")
    assert wtpool(pool.root, "release", "pool-wt-1").returncode == 0  # frees alice's own...
    assert _reserve(pool.root, "ghost", "docs/").returncode == 0  # ...but ghost has no slot
    forced = wtpool_json(pool.root, "unreserve", "--id", "2", "--force")
    assert forced[0]["released_at"] is not None
    (note,) = wtpool_json(pool.root, "mail", "inbox", "ghost")
    assert note["sender"] == "wtpool" and "released by force" in note["subject"]


def test_spawn_mails_each_agent_its_brief(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "shop", {"README.md": "x\n", "src/a.py": "1\n"})
    task = {"id": "t1", "title": "Add\ta\nthing", "files": ["src/"], "description": "Do it."}
    (root / "tasks.yaml").write_text(json.dumps({"tasks": [task]}))
    (root / "wtpool.yaml").write_text("pool:\n  min: 1\n  max: 2\ntasks:\n  source: yaml\n")
    make_pool(root, 1, 2)
    assert wtpool(root, "spawn", "1").returncode == 0
    (brief,) = wtpool_json(root, "mail", "inbox", "t1")
    assert brief["subject"] == "your task t1: Add a thing" and brief["thread"] == "t1"
    assert "Do it." in brief["body"]


def test_spawn_all_reserves_shared_so_overlapping_agents_can_both_commit(tmp_path: Path) -> None:
    files = {"README.md": "x\n", "src/a.py": "1\n", "src/b.py": "2\n"}
    root = make_repo(tmp_path / "shop", files)
    tasks = [
        {"id": "wide", "title": "All of src", "priority": 1, "files": ["src/"]},
        {"id": "narrow", "title": "Just a", "priority": 2, "files": ["src/a.py"]},
    ]
    (root / "tasks.yaml").write_text(json.dumps({"tasks": tasks}))
    (root / "wtpool.yaml").write_text("pool:\n  min: 1\n  max: 4\ntasks:\n  source: yaml\n")
    make_pool(root, 1, 4)
    spawned = wtpool_json(root, "spawn", "2", "all")
    assert sorted(item["task"] for item in spawned["spawned"]) == ["narrow", "wide"]
    assert {r["agent"]: r["exclusive"] for r in _active(root)} == {"wide": False, "narrow": False}
    for item in spawned["spawned"]:
        done = _commit(Path(item["path"]), "src/a.py", f"{item['task']}\n")
        assert done.returncode == 0, done.stderr  # sent to share src/a.py: neither blocks

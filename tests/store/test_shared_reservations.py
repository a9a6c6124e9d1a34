"""File reservations in a shared control plane: a path one host's agent holds exclusively is
held on every host, by `reserve`, by the merge queue and by each host's commit guard, which
reads the copy of the active reservations its host keeps (store/split.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import assert_one_line_error, git, snapshot, wtpool, wtpool_json
from tests.fleet import Plane, make_hosts


def _host_id(plane: Plane, root: Path) -> str:
    return plane.query("SELECT id FROM {schema}.hosts WHERE repository = %s", str(root))[0][0]


def test_a_path_reserved_on_one_host_is_refused_on_another(tmp_path: Path, plane: Plane) -> None:
    first, second = make_hosts(tmp_path, plane, 2)
    assert wtpool(first, "reserve", "a1", "docs/**").returncode == 0
    before = snapshot(second)

    refused = wtpool(second, "reserve", "b1", "docs/plan.md")
    assert_one_line_error(refused, 1, f"a1 on host {_host_id(plane, first)} holds docs/**")
    assert snapshot(second) == before
    (listed,) = wtpool_json(second, "reservations")
    assert listed["agent"] == "a1" and listed["host"] == _host_id(plane, first)
    assert _host_id(plane, first) in wtpool(second, "reservations").stdout
    assert wtpool_json(second, "status")["pool"]["host"] == _host_id(plane, second)
    # Whether its holder still works is for its own host to say, not this one.
    (held,) = wtpool_json(first, "reservations")
    forced = wtpool(second, "unreserve", "--id", str(held["id"]), "--force")
    assert_one_line_error(forced, 1, f"was made on host {_host_id(plane, first)}")
    (logged,) = wtpool_json(second, "audit")  # one log for every host; the refusal is not in it
    assert (logged["event"], logged["host"]) == ("reserve", _host_id(plane, first))


def test_another_hosts_reservation_binds_this_hosts_commit_guard(
    tmp_path: Path, plane: Plane
) -> None:
    first, second = make_hosts(tmp_path, plane, 2)
    assert wtpool(second, "acquire", "--agent", "b1", "--task", "t02").returncode == 0
    slot = second / ".agent-worktrees" / "pool-wt-1"
    assert wtpool(first, "reserve", "a1", "src/t02/code.py").returncode == 0
    # The second host hears of it at its next change to the control plane: here its monitor's
    # refresh, which beats the heartbeat (as the daemon does every monitor.interval).
    assert wtpool(second, "monitor", "--once").returncode == 0
    facts = (second / ".agent-worktrees" / "state.db-guard").read_text()
    assert "hold\ta1\t" in facts

    (slot / "src" / "t02" / "code.py").write_text("N = 'mine'\n")
    refused = _commit(slot)
    assert refused.returncode != 0 and "a1" in refused.stderr

    assert wtpool(first, "unreserve", "a1").returncode == 0
    assert wtpool(second, "monitor", "--once").returncode == 0
    assert _commit(slot).returncode == 0  # released on the first host: free here


def _commit(slot: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["git", "commit", "-qam", "change t02"], cwd=slot, capture_output=True, text=True
    )


def test_cleanup_releases_this_hosts_reservations_only(tmp_path: Path, plane: Plane) -> None:
    first, second = make_hosts(tmp_path, plane, 2)
    assert wtpool(first, "reserve", "a1", "docs/a.md").returncode == 0
    assert wtpool(second, "reserve", "b1", "docs/b.md").returncode == 0

    cleaned = wtpool_json(first, "cleanup")
    assert len(cleaned["released_reservations"]) == 1
    (left,) = wtpool_json(second, "reservations")
    assert left["agent"] == "b1" and left["active"]
    assert git(second, "status", "--porcelain") == ""

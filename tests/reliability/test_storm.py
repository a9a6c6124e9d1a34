"""A storm: 30 processes make random spawn, assign, release, reserve, merge and status calls
for a bounded time, with each slot's database on the real PostgreSQL server. Afterwards the
state agrees with git and PostgreSQL (doctor finds nothing), no slot, agent or task is held
twice, and every commit any worker made is still reachable from a branch."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import git, make_pool, make_repo, wtpool, wtpool_json
from tests.db.test_postgres import EXTERNAL, server  # noqa: F401 - used via usefixtures
from tests.reliability.storm_worker import TASKS

WORKERS = 30
SECONDS = 30.0


def _settle_merges(root: Path) -> None:
    """Wait for the background merge runs the workers started."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        queue = wtpool_json(root, "queue")
        busy = any(e["state"] in ("queued", "merging") for e in queue["entries"])
        if not busy and queue["processor"] is None:
            return
        if queue["processor"] is None:  # queued with nobody on it: an error left it in line
            wtpool(root, "queue", "--run")
        time.sleep(0.2)
    raise AssertionError(f"the merge queue did not settle: {wtpool_json(root, 'queue')}")


@pytest.mark.usefixtures("with_databases", "server")
def test_thirty_processes_of_random_calls_leave_a_consistent_pool(tmp_path: Path) -> None:
    files = {"README.md": "storm\n"}
    files |= {f"area{n}/f{k}.txt": f"{n}.{k}\n" for n in range(TASKS) for k in range(3)}
    root = make_repo(tmp_path / "storm", files)
    tasks = "".join(f"  - id: t{n}\n    files: [area{n}/]\n" for n in range(TASKS))
    (root / "tasks.yaml").write_text(f"tasks:\n{tasks}")
    (root / "wtpool.yaml").write_text(
        f"tasks:\n  source: yaml\ndatabase:\n  mode: external\n  url: {EXTERNAL}\n"
    )
    git(root, "add", "tasks.yaml", "wtpool.yaml")
    git(root, "commit", "--quiet", "-m", "storm setup")
    make_pool(root, 3, 10)
    deadline = time.time() + SECONDS
    outputs = [tmp_path / f"worker-{n}.json" for n in range(WORKERS)]
    worker = Path(__file__).with_name("storm_worker.py")
    try:
        processes = [
            subprocess.Popen(
                [sys.executable, str(worker), str(root), str(n), str(deadline), str(n), str(out)]
            )
            for n, out in enumerate(outputs)
        ]
        for process in processes:
            assert process.wait(timeout=SECONDS + 240) == 0
        reports = [json.loads(out.read_text()) for out in outputs]
        surprises = [s for report in reports for s in report["surprises"]]
        assert surprises == []
        calls = [call for report in reports for call in report["calls"]]
        assert len(calls) >= WORKERS  # the storm happened
        if any(report["commits"] for report in reports):  # each lands its work at the end
            assert any(code == 0 for args, code in calls if args[0] == "merge")
        _settle_merges(root)

        # Nothing is wrong but what a storm may rightly leave: merged branches, and
        # reservations that expired, or whose agent holds no slot at the end.
        rightly_left = {"merged-branch", "expired-reservation", "stale-reservation"}
        findings = json.loads(wtpool(root, "doctor", "--json").stdout)["findings"]
        assert [
            f for f in findings if not f["informational"] and f["kind"] not in rightly_left
        ] == []
        slots = wtpool_json(root, "status")["worktrees"]
        for key in ("agent", "task", "branch"):
            held = [slot[key] for slot in slots if slot[key]]
            assert len(held) == len(set(held)), (key, held)
        # PostgreSQL agrees: every database the pool made belongs to a slot it has; and
        # leaks finds what doctor did.
        listed = {db["slot"] for db in wtpool_json(root, "db", "list") if db["slot"]}
        assert listed <= {slot["name"] for slot in slots}
        leaks = json.loads(wtpool(root, "leaks", "--json").stdout)["findings"]
        assert {f["kind"] for f in leaks} - rightly_left == set(), leaks
        reachable = set(git(root, "rev-list", "--branches").split())
        lost = [sha for report in reports for sha in report["commits"] if sha not in reachable]
        assert lost == []
    finally:
        wtpool(root, "cleanup", "--force")

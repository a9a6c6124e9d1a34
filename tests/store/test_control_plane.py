"""A control plane shared by several hosts: three clones of one bare remote, three pools, one
PostgreSQL schema (the server at 127.0.0.1:5432; a schema created and dropped per test).

Everything is real: the CLI in subprocesses, git, and the server. These skip with a reason when
no server answers there, except in CI, where they are mandatory.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row

from tests.conftest import (
    Pool,
    assert_one_line_error,
    git,
    make_pool,
    make_repo,
    snapshot,
    wtpool,
    wtpool_json,
)
from tests.fleet import TASK_COUNT, Plane, make_hosts
from worktree_pool.db import server
from worktree_pool.errors import WtpoolError
from worktree_pool.git.repo import open_repository
from worktree_pool.store import claims
from worktree_pool.store.postgres import Adapted
from worktree_pool.store.shared_schema import MIGRATIONS
from worktree_pool.store.split import is_shared
from worktree_pool.util.testpoints import VARIABLE


def _claims(plane: Plane) -> list[tuple]:
    return plane.query("SELECT task, pool_id, slot FROM {schema}.claims ORDER BY task")


def test_a_task_claimed_on_one_host_is_refused_on_another_until_released(
    tmp_path: Path, plane: Plane
) -> None:
    first, second = make_hosts(tmp_path, plane, 2)
    assert wtpool(first, "acquire", "--agent", "a1", "--task", "t01").returncode == 0
    (claim,) = _claims(plane)
    assert claim[0] == "t01"

    before = snapshot(second)
    refused = wtpool(second, "acquire", "--agent", "b1", "--task", "t01")
    assert_one_line_error(refused, 1, "task t01 is already held by agent a1 in pool-wt-1 on host")
    assert snapshot(second) == before

    assert wtpool(first, "release", "pool-wt-1").returncode == 0
    assert _claims(plane) == []
    taken = wtpool(second, "acquire", "--agent", "b1", "--task", "t01")
    assert taken.returncode == 0, taken.stderr
    hosts = plane.query("SELECT id, repository FROM {schema}.hosts ORDER BY id")
    assert sorted(repository for _, repository in hosts) == [str(first), str(second)]


def test_thirty_agents_on_three_hosts_claim_thirty_distinct_tasks(
    tmp_path: Path, plane: Plane
) -> None:
    hosts = make_hosts(tmp_path, plane, 3)
    commands = [
        subprocess.Popen(
            [sys.executable, "-m", "worktree_pool", "spawn", "10", "independent", "--json"],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for root in hosts
    ]
    spawned: list[str] = []
    for process in commands:
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err
        spawned += [slot["task"] for slot in json.loads(out)["spawned"]]
    assert sorted(spawned) == [f"t{n:02}" for n in range(1, TASK_COUNT + 1)]
    claims = _claims(plane)
    assert [task for task, _, _ in claims] == sorted(spawned)
    assert len({pool for _, pool, _ in claims}) == 3  # ten on each host
    for root in hosts:  # each host's slots hold exactly what the control plane says
        status = json.loads(wtpool(root, "status", "--json").stdout)
        held = {slot["task"] for slot in status["worktrees"] if slot["task"]}
        assert len(held) == 10


def test_thirty_agents_asking_one_track_each_at_once(tmp_path: Path, plane: Plane) -> None:
    """Ten agents per host, each running `wtpool spawn 1` at the same moment."""
    hosts = make_hosts(tmp_path, plane, 3)
    command = [sys.executable, "-m", "worktree_pool", "spawn", "1", "independent", "--json"]
    agents = [
        subprocess.Popen(
            command, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for root in hosts
        for _ in range(10)
    ]
    spawned: list[str] = []
    for agent in agents:
        out, err = agent.communicate(timeout=600)
        assert agent.returncode == 0, err
        spawned += [slot["task"] for slot in json.loads(out)["spawned"]]
    assert sorted(spawned) == [f"t{n:02}" for n in range(1, TASK_COUNT + 1)]
    assert [task for task, _, _ in _claims(plane)] == sorted(spawned)


def test_the_claim_statement_alone_never_claims_twice(tmp_path: Path, plane: Plane) -> None:
    """30 connections race `claims.take` for one task without the control plane's write lock,
    20 times over: the key alone lets exactly one through."""
    (root,) = make_hosts(tmp_path, plane, 1)
    assert wtpool(root, "acquire", "--agent", "a1", "--task", "t01").returncode == 0  # schema
    connections = [
        psycopg.connect(plane.url, autocommit=True, row_factory=dict_row) for _ in range(30)
    ]
    try:
        for conn in connections:
            conn.execute("SELECT set_config('search_path', %s, false)", (plane.schema,))
        for run in range(20):
            won = _race(connections, f"race-{run}")
            assert won == 1, f"run {run}: {won} of 30 claimed the task"
        rows = plane.query("SELECT task FROM {schema}.claims WHERE task LIKE 'race-%%'")
        assert len(rows) == 20
    finally:
        for conn in connections:
            conn.close()


def _race(connections: list[psycopg.Connection], task: str) -> int:
    """How many of `connections` claimed `task`, all trying at the same moment."""
    start = threading.Barrier(len(connections))

    def claim(n: int) -> bool:
        conn = connections[n]
        start.wait()
        try:
            with conn.transaction():
                claims.take(Adapted(conn), f"pool-{n}", task, "slot", f"a{n}", None, None)
        except WtpoolError as exc:
            assert "is already held by agent" in exc.message
            return False
        return True

    with ThreadPoolExecutor(len(connections)) as executor:
        return sum(executor.map(claim, range(len(connections))))


def test_the_schema_is_versioned_and_a_newer_one_is_refused(tmp_path: Path, plane: Plane) -> None:
    (root,) = make_hosts(tmp_path, plane, 1)
    assert wtpool(root, "acquire", "--agent", "a1", "--task", "t01").returncode == 0
    assert plane.query("SELECT version FROM {schema}.schema_version") == [(len(MIGRATIONS),)]
    plane.query("UPDATE {schema}.schema_version SET version = version + 1")
    before = snapshot(root)
    refused = wtpool(root, "acquire", "--agent", "a2", "--task", "t02")
    assert_one_line_error(refused, 1, "newer than this wtpool understands")
    assert "upgrade wtpool" in refused.stderr
    assert snapshot(root) == before


def test_a_server_that_is_down_is_named_with_its_password_masked(tmp_path: Path) -> None:
    down = "postgresql://fleet:s3cret-pw@127.0.0.1:1/postgres"
    root = make_repo(tmp_path / "repo")
    (root / "wtpool.yaml").write_text(f"state:\n  url: {down}\n")
    refused = wtpool(root, "init")  # said at once, before anything is made
    assert_one_line_error(refused, 1, "cannot reach the control plane at postgresql://fleet:")
    assert "s3cret-pw" not in refused.stderr and not (root / ".agent-worktrees").exists()
    (root / "wtpool.yaml").unlink()
    make_pool(root)  # then the server goes down
    (root / "wtpool.yaml").write_text(f"state:\n  url: {down}\n")
    before = snapshot(root)
    refused = wtpool(root, "acquire", "--agent", "a1", "--task", "t1")
    assert_one_line_error(refused, 1, "cannot reach the control plane at postgresql://fleet:")
    assert "s3cret-pw" not in refused.stderr + refused.stdout
    assert snapshot(root) == before
    # What concerns this machine's slots alone still works.
    assert wtpool(root, "status").returncode == 0
    assert wtpool(root, "acquire", "--agent", "a1").returncode == 0


def test_wrong_credentials_and_a_role_that_may_not_create_the_schema(
    tmp_path: Path, plane: Plane
) -> None:
    role = f"wtpool_weak_{secrets.token_hex(3)}"
    plane.query(f"CREATE ROLE {role} LOGIN PASSWORD 'right-pw'")
    plane.query(f"REVOKE CREATE ON DATABASE postgres FROM {role}")
    try:
        root = make_repo(tmp_path / "repo")
        make_pool(root)
        # The server trusts local connections, so a wrong password gets in: an unknown role
        # is the wrong credential it refuses.
        for user, message, hint in (
            ("nobody_here:some-pw", "cannot reach the control plane", "user and password"),
            (f"{role}:right-pw", "refused: permission denied", "needs CREATE on the database"),
        ):
            url = f"postgresql://{user}@127.0.0.1:5432/postgres"
            (root / "wtpool.yaml").write_text(f"state:\n  url: {url}\n  schema: {plane.schema}\n")
            before = snapshot(root)
            refused = wtpool(root, "acquire", "--agent", "a1", "--task", "t1")
            assert_one_line_error(refused, 1, message)
            assert hint in refused.stderr
            assert user.split(":")[1] not in refused.stderr
            assert snapshot(root) == before
        assert (
            plane.query(
                "SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", plane.schema
            )
            == []
        )
    finally:
        plane.query(f"DROP ROLE {role}")


def test_two_hosts_may_not_share_an_id(tmp_path: Path, plane: Plane) -> None:
    first, second = make_hosts(tmp_path, plane, 2, host="builder")
    assert wtpool(first, "acquire", "--agent", "a1", "--task", "t01").returncode == 0
    before = snapshot(second)
    refused = wtpool(second, "acquire", "--agent", "b1", "--task", "t02")
    assert_one_line_error(refused, 1, "host id builder is already used by the pool at")
    assert "state.host" in refused.stderr
    assert snapshot(second) == before
    assert [task for task, _, _ in _claims(plane)] == ["t01"]


def test_a_statement_goes_to_one_side_only() -> None:
    assert is_shared("INSERT INTO claims (task) VALUES (?)")
    assert is_shared("SELECT c.task FROM claims c LEFT JOIN hosts h ON h.pool_id = c.pool_id")
    assert not is_shared("SELECT pool_id FROM pool WHERE id = 1")
    assert not is_shared("UPDATE slots SET state = ? WHERE name = ?")
    with pytest.raises(ValueError, match="shared and local"):
        is_shared("SELECT * FROM claims JOIN slots ON slots.task = claims.task")


def test_hosts_shows_each_host_its_heartbeat_slots_and_claims(tmp_path: Path, plane: Plane) -> None:
    first, second = make_hosts(tmp_path, plane, 2)
    assert wtpool(first, "acquire", "--agent", "a1", "--task", "t01").returncode == 0
    report = wtpool_json(second, "hosts")
    assert report["control_plane"] == plane.url and report["schema"] == plane.schema
    by_place = {host["repository"]: host for host in report["hosts"]}
    assert by_place[str(first)]["claims"] == ["t01"]
    assert by_place[str(first)]["busy"] == 1 and by_place[str(first)]["slots"] == 1
    assert by_place[str(second)]["id"] == report["this_host"]
    assert not any(host["stale"] for host in report["hosts"])

    # A host silent for longer than state.host_ttl is stale.
    plane.query(
        "UPDATE {schema}.hosts SET heartbeat_at = now() - interval '1 hour' WHERE repository = %s",
        str(first),
    )
    shown = wtpool(second, "hosts")
    assert shown.returncode == 0, shown.stderr
    assert "stale" in shown.stdout
    # The monitor's (and the daemon's) tending beats the heartbeat.
    assert wtpool(first, "monitor", "--once").returncode == 0
    again = {h["repository"]: h for h in wtpool_json(second, "hosts")["hosts"]}
    assert not again[str(first)]["stale"]

    # A session that ends leaves the control plane: its claims and its host row go.
    assert wtpool(first, "release", "pool-wt-1").returncode == 0
    assert wtpool(first, "cleanup").returncode == 0
    left = wtpool_json(second, "hosts")["hosts"]
    assert [host["repository"] for host in left] == [str(second)]


def test_hosts_of_a_local_state_says_so(pool: Pool) -> None:
    report = wtpool_json(pool.root, "hosts")
    assert report["control_plane"] is None and report["hosts"] == []
    assert "local to this machine" in wtpool(pool.root, "hosts").stdout


def test_a_connection_cut_in_the_middle_of_a_claim_claims_nothing(
    tmp_path: Path, plane: Plane
) -> None:
    first, second = make_hosts(tmp_path, plane, 2)
    assert wtpool(second, "status").returncode == 0
    gate = tmp_path / "go"
    before = snapshot(first)
    claiming = subprocess.Popen(
        [sys.executable, "-m", "worktree_pool", "acquire", "--agent", "a1", "--task", "t01"],
        cwd=first,
        env={**os.environ, VARIABLE: f"claims.taken:wait:{gate}"},
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for(Path(f"{gate}.reached"), claiming)
    # The claim is written, not committed: its connection is the one idle in a transaction.
    (cut,) = plane.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE application_name = 'wtpool' AND state = 'idle in transaction'"
    )
    assert cut == (True,)
    gate.touch()
    _, err = claiming.communicate(timeout=120)
    assert claiming.returncode == 1 and err.startswith("error: cannot reach the control plane")
    assert _claims(plane) == []
    assert snapshot(first) == before  # the slot was not claimed either
    # Nothing is held twice afterwards: the task goes to one host, and only one.
    assert wtpool(second, "acquire", "--agent", "b1", "--task", "t01").returncode == 0
    again = wtpool(first, "acquire", "--agent", "a1", "--task", "t01")
    assert_one_line_error(again, 1, "is already held by agent b1")
    assert [task for task, _, _ in _claims(plane)] == ["t01"]


def _wait_for(path: Path, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while not path.exists():
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


@pytest.fixture
def private_plane() -> Iterator[Plane]:
    """A control plane on a PostgreSQL server of the test's own (the embedded one), which the
    test may stop and start without disturbing anything else on the machine. Its socket
    lives below a short path: a Unix socket's path is limited to 107 bytes."""
    root = make_repo(Path(tempfile.mkdtemp(prefix="wtp-")) / "plane")
    make_pool(root)
    repo = open_repository(root)
    try:
        yield Plane(server.ensure_running(repo), "wtpool", repo)
    finally:
        server.stop(repo)
        shutil.rmtree(root.parent, ignore_errors=True)


def test_the_control_plane_stopped_for_ten_seconds_then_started(
    tmp_path: Path, private_plane: Plane
) -> None:
    first, second = make_hosts(tmp_path, private_plane, 2)
    plane_repo = private_plane.server
    assert plane_repo is not None
    assert wtpool(first, "daemon", "start").returncode == 0
    try:
        assert wtpool(first, "acquire", "--agent", "a1", "--task", "t01").returncode == 0
        server.stop(plane_repo, keep_data=True)
        stopped = time.monotonic()

        before = snapshot(second)
        refused = wtpool(second, "acquire", "--agent", "b1", "--task", "t02")
        assert_one_line_error(refused, 1, "cannot reach the control plane")
        assert snapshot(second) == before
        assert wtpool(second, "status").returncode == 0  # this machine's own slots: still fine
        time.sleep(max(0.0, 10 - (time.monotonic() - stopped)))
        server.ensure_running(plane_repo)
        restarted = time.time()

        # The claim made before the outage held through it; the refused one left nothing.
        held = wtpool(second, "acquire", "--agent", "b1", "--task", "t01")
        assert_one_line_error(held, 1, "task t01 is already held by agent a1")
        assert wtpool(second, "acquire", "--agent", "b1", "--task", "t02").returncode == 0
        assert [task for task, _, _ in _claims(private_plane)] == ["t01", "t02"]
        # The daemon, a long-running process, reconnects by itself: its heartbeats go on.
        deadline = time.monotonic() + 30
        while _heartbeat_of(private_plane, first) < restarted:
            assert time.monotonic() < deadline, "the daemon never beat again"
            time.sleep(0.5)
    finally:
        wtpool(first, "daemon", "stop")


def _heartbeat_of(plane: Plane, root: Path) -> float:
    (row,) = plane.query(
        "SELECT extract(epoch FROM heartbeat_at) FROM {schema}.hosts WHERE repository = %s",
        str(root),
    )
    return float(row[0])


def _doctor(root: Path, *args: str) -> tuple[int, dict]:
    result = wtpool(root, "doctor", *args, "--json")
    return result.returncode, json.loads(result.stdout)


def test_doctor_releases_a_silent_hosts_claims_after_saving_what_it_pushed(
    tmp_path: Path, plane: Plane
) -> None:
    first, second = make_hosts(tmp_path, plane, 2)
    for task in ("t01", "t02"):
        assert wtpool(first, "acquire", "--agent", f"a-{task}", "--task", task).returncode == 0
    slot = first / ".agent-worktrees" / "pool-wt-1"
    (slot / "README.md").write_text("pushed work\n")
    git(slot, "commit", "-qam", "work on t01")
    git(slot, "push", "-q", "origin", "wtpool/task/t01")
    pushed = git(slot, "rev-parse", "HEAD").strip()
    assert wtpool(first, "reserve", "a-t01", "docs/plan.md").returncode == 0
    (silent,) = plane.query("SELECT id FROM {schema}.hosts WHERE repository = %s", str(first))
    plane.query(
        "UPDATE {schema}.hosts SET heartbeat_at = now() - interval '1 hour' WHERE id = %s",
        silent[0],
    )

    code, report = _doctor(second)
    (finding,) = report["findings"]
    assert code == 1 and finding["kind"] == "stale-host" and not finding["fixed"]
    assert "holding t01, t02" in finding["detail"]
    assert [task for task, _, _ in _claims(plane)] == ["t01", "t02"]  # a look changes nothing

    code, report = _doctor(second, "--fix")
    (finding,) = report["findings"]
    assert code == 0 and finding["fixed"], finding
    salvage = f"wtpool/salvage/{silent[0]}/t01-{pushed[:10]}"
    assert f"t01: saved origin/wtpool/task/t01 as {salvage}" in finding["repair"]
    assert "t02: origin has no wtpool/task/t02" in finding["repair"]
    assert "is not saved" in finding["repair"]
    assert "file reservation(s)" in finding["repair"]
    active = "SELECT id FROM {schema}.reservations WHERE released_at IS NULL"
    assert plane.query(active) == []  # a dead host's reservations hold nothing any more
    remote = tmp_path / "remote.git"
    assert git(remote, "rev-parse", f"refs/heads/{salvage}").strip() == pushed
    assert _claims(plane) == []
    assert [h["repository"] for h in wtpool_json(second, "hosts")["hosts"]] == [str(second)]
    assert wtpool(second, "acquire", "--agent", "b1", "--task", "t01").returncode == 0


def test_doctor_settles_this_hosts_claims_against_its_slots(tmp_path: Path, plane: Plane) -> None:
    (root,) = make_hosts(tmp_path, plane, 1)
    assert wtpool(root, "acquire", "--agent", "a1", "--task", "t01").returncode == 0
    (pool_id,) = plane.query("SELECT pool_id FROM {schema}.claims")
    # The control plane lost the claim (a crash between its commit and the local one, a
    # restored backup), and holds one for a slot that has no task.
    plane.query("DELETE FROM {schema}.claims")
    plane.query(
        "INSERT INTO {schema}.claims (task, pool_id, slot, claimed_at)"
        " VALUES ('t09', %s, 'pool-wt-7', 'then')",
        pool_id[0],
    )
    code, report = _doctor(root)
    assert code == 1
    assert sorted(f["kind"] for f in report["findings"]) == ["claim-missing", "claim-orphaned"]
    code, report = _doctor(root, "--fix")
    assert code == 0, report
    assert [(task, slot) for task, _, slot in _claims(plane)] == [("t01", "pool-wt-1")]

    # Given to another host meanwhile: both have work on it, so doctor only says so.
    plane.query(
        "UPDATE {schema}.claims SET pool_id = 'elsewhere', agent = 'b1', slot = 'pool-wt-3'"
    )
    code, report = _doctor(root, "--fix")
    (finding,) = report["findings"]
    assert code == 1 and finding["kind"] == "claim-missing" and not finding["fixed"]
    assert "failed: task t01 is already held by agent b1 in pool-wt-3" in finding["repair"]


def test_thirty_agents_on_three_hosts_land_on_the_shared_remote(
    tmp_path: Path, plane: Plane
) -> None:
    hosts = make_hosts(tmp_path, plane, 3, push=True)

    def spawn(root: Path) -> list[dict]:
        result = wtpool(root, "spawn", "10", "independent", "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)["spawned"]

    with ThreadPoolExecutor(3) as executor:
        spawned = list(executor.map(spawn, hosts))
    tips: dict[str, str] = {}
    for slots in spawned:
        for slot in slots:
            path = Path(slot["path"])
            (path / "src" / slot["task"] / "code.py").write_text(f"DONE = {slot['task']!r}\n")
            git(path, "commit", "-qam", f"finish {slot['task']}")
            tips[slot["task"]] = git(path, "rev-parse", "HEAD").strip()

    def land(root: Path, slots: list[dict]) -> list[str]:
        states = []
        for slot in slots:
            result = wtpool(root, "merge", slot["slot"], "--wait", "--json")
            assert result.returncode == 0, result.stderr
            states.append(json.loads(result.stdout)["entry"]["state"])
        return states

    with ThreadPoolExecutor(3) as executor:
        landed = list(executor.map(land, hosts, spawned))
    assert [state for states in landed for state in states] == ["merged"] * TASK_COUNT
    remote = tmp_path / "remote.git"
    for task, tip in tips.items():  # every commit reachable from the remote's base
        assert (
            subprocess.run(
                ["git", "merge-base", "--is-ancestor", tip, "main"], cwd=remote
            ).returncode
            == 0
        ), task
    final = git(remote, "rev-parse", "main").strip()
    for root in hosts:  # each host's base follows the remote, its main worktree clean
        assert wtpool(root, "queue", "--run").returncode == 0
        assert git(root, "rev-parse", "main").strip() == final
        assert git(root, "status", "--porcelain") == ""


def test_a_processor_killed_after_its_push_lands_nothing_twice(
    tmp_path: Path, plane: Plane
) -> None:
    first, second = make_hosts(tmp_path, plane, 2, push=True)
    for root, task in ((first, "t01"), (second, "t02")):
        assert wtpool(root, "acquire", "--agent", f"a-{task}", "--task", task).returncode == 0
        slot = root / ".agent-worktrees" / "pool-wt-1"
        (slot / "src" / task / "code.py").write_text("DONE = 1\n")
        git(slot, "commit", "-qam", f"finish {task}")
    killed = wtpool(first, "merge", "pool-wt-1", "--wait", env={VARIABLE: "merge.pushed:kill"})
    assert killed.returncode == -9
    remote = tmp_path / "remote.git"
    landed = git(remote, "rev-parse", "main").strip()
    # Pushed, and not recorded: the entry is still `merging`, the local base where it was.
    assert git(remote, "log", "-1", "--format=%s", "main").startswith("Merge wtpool/task/t01")
    # The dead processor's lock went with its connection: the other host's run settles the
    # entry it left (one queue for both), lands its own, and the first host follows.
    assert wtpool(second, "merge", "pool-wt-1", "--wait").returncode == 0
    entries = wtpool_json(second, "queue")["entries"]
    assert [(e["task"], e["state"]) for e in entries] == [("t01", "merged"), ("t02", "merged")]
    assert wtpool(first, "queue", "--run").returncode == 0
    subjects = git(remote, "log", "--format=%s", "main").splitlines()
    landings = [subject for subject in subjects if subject.startswith("Merge wtpool/task/t01")]
    assert len(landings) == 1  # landed once, not twice
    assert git(remote, "merge-base", "--is-ancestor", landed, "main") == ""
    assert git(first, "rev-parse", "main") == git(remote, "rev-parse", "main")
    assert git(first, "status", "--porcelain") == ""


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("state:\n  url: ''\n", "state.url is empty"),
        ("state:\n  schema: Fleet\n", "state.schema must be a plain PostgreSQL name"),
        ("state:\n  schema: pg_fleet\n", "state.schema 'pg_fleet' is reserved"),
        ("state:\n  schema: public\n", "state.schema 'public' is reserved"),
        ("state:\n  url: http://db/x\n", "state.url must be a postgresql:// URL or key=value"),
        ("state:\n  schema: a;drop\n", "state.schema must be a plain PostgreSQL name"),
        ("state:\n  host: ../up\n", "state.host must be 1-64 letters"),
        ("state:\n  host_ttl: -5\n", "state.host_ttl must be a positive number of seconds"),
        ("state:\n  url: [a]\n", "state.url"),
        ("state:\n  url: 'host=h password=pw port'\n", "invalid state.url"),
    ],
)
def test_bad_state_settings_are_one_line_errors(pool: Pool, text: str, fragment: str) -> None:
    (pool.root / "wtpool.yaml").write_text(text)
    before = snapshot(pool.root)
    refused = wtpool(pool.root, "acquire", "--agent", "a", "--task", "t1")
    assert_one_line_error(refused, 2, fragment)
    assert ":pw@" not in refused.stderr and "password=pw" not in refused.stderr
    assert snapshot(pool.root) == before


def test_mail_reaches_an_agent_on_another_host_and_wakes_its_wait(
    tmp_path: Path, plane: Plane
) -> None:
    first, second = make_hosts(tmp_path, plane, 2)
    waiting = subprocess.Popen(
        [sys.executable, "-m", "worktree_pool", "mail", "inbox", "b1", "--wait", "--json"],
        cwd=second,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Once it has connected (its host is registered) and looked, it waits for a notification
    # (for an hour, were none to come): the message from the other host must wake it.
    deadline = time.monotonic() + 60
    while plane.query("SELECT to_regclass('{schema}.hosts')") == [(None,)] or not plane.query(
        "SELECT id FROM {schema}.hosts"
    ):
        assert waiting.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)
    time.sleep(1)
    body = ("--subject", "hi", "--body", "x")
    sent = wtpool(first, "mail", "send", "--from", "a1", "--to", "b1", *body)
    assert sent.returncode == 0, sent.stderr
    out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, err
    (message,) = json.loads(out)
    (host,) = plane.query("SELECT id FROM {schema}.hosts WHERE repository = %s", str(first))
    assert (message["sender"], message["subject"], message["host"]) == ("a1", "hi", host[0])
    # One mailbox for every host: read on the second, it is read for the first too.
    assert wtpool(second, "mail", "read", str(message["id"])).returncode == 0
    (seen,) = wtpool_json(first, "mail", "inbox", "b1")
    assert seen["read_at"] is not None


def test_waiting_for_mail_gives_up_after_its_timeout(pool: Pool) -> None:
    before = snapshot(pool.root)
    result = wtpool(pool.root, "mail", "inbox", "b1", "--wait", "--timeout", "0.5")
    assert_one_line_error(result, 1, "no unread mail for b1 within 0.5 s")
    assert snapshot(pool.root) == before
    bad = wtpool(pool.root, "mail", "inbox", "b1", "--wait", "--timeout", "-1")
    assert_one_line_error(bad, 2, "--timeout must be a positive number of seconds")


def test_waiting_for_mail_without_a_control_plane_looks_again(pool: Pool) -> None:
    waiting = subprocess.Popen(
        [sys.executable, "-m", "worktree_pool", "mail", "inbox", "b1", "--wait", "--json"],
        cwd=pool.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    sent = wtpool(
        pool.root, "mail", "send", "--from", "a", "--to", "b1", "--subject", "s", "--body", ""
    )
    assert sent.returncode == 0, sent.stderr
    out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, err
    assert [m["subject"] for m in json.loads(out)] == ["s"]


def test_a_queued_task_is_claimed_on_every_host(tmp_path: Path, plane: Plane) -> None:
    first, second = make_hosts(tmp_path, plane, 2)
    assert wtpool(first, "init", "--min", "1", "--max", "1").returncode == 0
    assert wtpool(first, "acquire", "--agent", "a1", "--task", "t01").returncode == 0
    queued = wtpool_json(first, "acquire", "--agent", "a2", "--task", "t02")
    assert queued["queued"]
    refused = wtpool(second, "acquire", "--agent", "b2", "--task", "t02")
    assert_one_line_error(refused, 1, "task t02 is already held by agent a2 in the queue on host")
    # Served, the queued request's claim moves to the slot it gets.
    assert wtpool(first, "release", "pool-wt-1").returncode == 0
    assert [(task, slot) for task, _, slot in _claims(plane)] == [("t02", "pool-wt-1")]
    assert _doctor(first) == (0, {"fix": False, "findings": [], "healthy": True})


def test_a_slot_widened_on_one_host_is_seen_by_the_others(tmp_path: Path, plane: Plane) -> None:
    first, second = make_hosts(tmp_path, plane, 2)
    assert wtpool(first, "assign", "a1", "t01").returncode == 0
    assert wtpool(second, "assign", "b2", "t02").returncode == 0
    refused = wtpool(first, "filter", "add", "pool-wt-1", "src/t02/")
    assert_one_line_error(refused, 2, "overlaps pool-wt-1 on host")
    # Widened by force, the claim carries the new scope: the other host no longer takes it.
    assert wtpool(first, "filter", "add", "pool-wt-1", "src/t03/", "--force").returncode == 0
    assert_one_line_error(wtpool(second, "assign", "b3", "t03"), 1, "overlaps pool-wt-1 on host")


def test_a_pool_that_changes_its_host_id_keeps_one_row(tmp_path: Path, plane: Plane) -> None:
    first, second = make_hosts(tmp_path, plane, 2)
    assert wtpool(first, "acquire", "--agent", "a1", "--task", "t01").returncode == 0
    config = (first / "wtpool.yaml").read_text().replace("state:\n", "state:\n  host: renamed\n")
    (first / "wtpool.yaml").write_text(config)
    assert wtpool(first, "hosts").returncode == 0
    rows = plane.query("SELECT id FROM {schema}.hosts WHERE repository = %s", str(first))
    assert rows == [("renamed",)]
    plane.query("UPDATE {schema}.hosts SET heartbeat_at = now() - interval '1 hour'")
    assert wtpool(first, "hosts").returncode == 0  # it beats again; nothing old is left to go stale
    code, report = _doctor(second, "--fix")
    assert code == 0 and report["findings"] == [], report
    assert [task for task, _, _ in _claims(plane)] == ["t01"]


def test_doctor_says_when_the_control_plane_is_down_and_goes_on(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo")
    make_pool(root)
    (root / "wtpool.yaml").write_text("state:\n  url: postgresql://fleet@127.0.0.1:1/x\n")
    shutil.rmtree(root / ".agent-worktrees" / "pool-wt-2")  # a local problem to repair
    code, report = _doctor(root, "--fix")
    kinds = {finding["kind"]: finding for finding in report["findings"]}
    assert kinds["missing-on-disk"]["fixed"]
    assert kinds["control-plane-unreachable"]["informational"]
    assert code == 0


def test_doctor_settles_claims_where_the_state_is_local(pool: Pool) -> None:
    # A claim left in the local store (the state was shared, then local again, say).
    conn = sqlite3.connect(pool.root / ".agent-worktrees" / "state.db")
    (pool_id,) = conn.execute("SELECT pool_id FROM pool").fetchone()
    with conn:
        conn.execute(
            "INSERT INTO claims (task, pool_id, slot, claimed_at)"
            " VALUES ('t9', ?, 'pool-wt-1', 'x')",
            (pool_id,),
        )
    conn.close()
    code, report = _doctor(pool.root, "--fix")
    assert [f["kind"] for f in report["findings"]] == ["claim-orphaned"] and code == 0
    assert wtpool(pool.root, "acquire", "--agent", "a", "--task", "t9", "--adhoc").returncode == 0


def test_a_schema_holding_someone_elses_tables_is_refused(tmp_path: Path, plane: Plane) -> None:
    plane.query("CREATE SCHEMA {schema}")
    plane.query("CREATE TABLE {schema}.hosts (id integer)")
    root = make_repo(tmp_path / "repo")
    (root / "wtpool.yaml").write_text(plane.config())
    before = snapshot(root)
    refused = wtpool(root, "init")
    assert_one_line_error(refused, 2, f"schema {plane.schema} at")
    assert "is no wtpool control plane" in refused.stderr
    assert snapshot(root) == before and not (root / ".agent-worktrees").exists()
    tables = plane.query("SELECT tablename FROM pg_tables WHERE schemaname = %s", plane.schema)
    assert tables == [("hosts",)]  # nothing added, not even schema_version

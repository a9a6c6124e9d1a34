"""Each slot its own ports: stable blocks, handed out in the hand-off file, and those someone
else holds reported with the process that holds them."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import (
    Pool,
    assert_one_line_error,
    env_file,
    make_pool,
    make_repo,
    snapshot,
    wtpool,
    wtpool_json,
)
from worktree_pool.config.settings import PortSettings
from worktree_pool.config.validation import validate_ports
from worktree_pool.errors import WtpoolError
from worktree_pool.monitor.ports import busy_ports, foreign_holders, slot_ports


@given(st.integers(1, 64), st.integers(1, 64), st.integers(1, 50))
def test_two_slots_never_share_a_port(first: int, second: int, per_slot: int) -> None:
    settings = PortSettings(range="10000-13199", per_slot=per_slot)
    one = set(slot_ports(settings, f"pool-wt-{first}"))
    other = set(slot_ports(settings, f"pool-wt-{second}"))
    assert len(one) == per_slot and (one == other if first == second else not one & other)


def test_a_slot_beyond_the_range_is_a_clear_error() -> None:
    settings = PortSettings(range="40000-40019", per_slot=10)
    assert slot_ports(settings, "pool-wt-2") == tuple(range(40010, 40020))
    with pytest.raises(WtpoolError, match="has no block of 10 ports for pool-wt-3"):
        slot_ports(settings, "pool-wt-3")
    assert slot_ports(PortSettings(per_slot=0), "pool-wt-1") == ()


def listener(port: int, cwd: Path, host: str = "0.0.0.0") -> subprocess.Popen:
    """A real process listening on host:port, working in `cwd`."""
    family = "socket.AF_INET6" if ":" in host else "socket.AF_INET"
    code = (
        f"import socket, time; s = socket.socket({family}); "
        "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
        + ("s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1); " if host == "::1" else "")
        + f"s.bind(({host!r}, {port})); s.listen(); print('up', flush=True); time.sleep(300)"
    )
    process = subprocess.Popen([sys.executable, "-c", code], cwd=cwd, stdout=subprocess.PIPE)
    assert process.stdout is not None and process.stdout.readline() == b"up\n"
    return process


def test_the_hand_off_file_holds_the_slots_ports_stable_across_claims(pool: Pool) -> None:
    (pool.root / "wtpool.yaml").write_text("ports:\n  range: 41000-41999\n  per_slot: 5\n")
    wtpool_json(pool.root, "acquire", "--agent", "a")
    wtpool_json(pool.root, "acquire", "--agent", "b")
    assert env_file(pool.slot(2))["WTPOOL_PORT"] == "41005"
    assert env_file(pool.slot(2))["WTPOOL_PORTS"] == "41005,41006,41007,41008,41009"
    wtpool_json(pool.root, "release", "pool-wt-2")
    wtpool_json(pool.root, "acquire", "--agent", "c")
    assert env_file(pool.slot(2))["WTPOOL_PORT"] == "41005"


def test_a_port_taken_by_another_process_is_reported_with_its_pid(pool: Pool) -> None:
    (pool.root / "wtpool.yaml").write_text("ports:\n  range: 42000-42999\n  per_slot: 4\n")
    stranger = listener(42006, pool.root)  # pool-wt-2's third port, from outside the slot
    own = listener(42001, pool.slot(1))  # pool-wt-1's second port, its own server
    try:
        assert busy_ports((42006, 42001, 42002)) == [42006, 42001]
        conflicts = json.loads(wtpool(pool.root, "check", "--json").stdout)["port_conflicts"]
        assert [(c["slot"], c["port"], c["pid"]) for c in conflicts] == [
            ("pool-wt-2", 42006, stranger.pid)
        ]
        shown = wtpool(pool.root, "check").stdout
        assert f"port 42006 of pool-wt-2 is held by process {stranger.pid}" in shown
        assert wtpool(pool.root, "check", "--strict").returncode == 1
        wtpool_json(pool.root, "acquire", "--agent", "a")
        claim = wtpool_json(pool.root, "acquire", "--agent", "b")  # gets pool-wt-2
        assert any("port 42006 of pool-wt-2" in w for w in claim["warnings"])
    finally:
        stop(stranger, own)
    deadline = time.monotonic() + 10
    while busy_ports((42006,)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert wtpool(pool.root, "check", "--strict").returncode == 0


def stop(*processes: subprocess.Popen) -> None:
    for process in processes:
        process.kill()
        process.wait()


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def test_monitor_shows_a_taken_port_with_its_holder(pool: Pool) -> None:
    (pool.root / "wtpool.yaml").write_text("ports:\n  range: 43000-43999\n  per_slot: 4\n")
    stranger = listener(43005, pool.root, host="::")  # pool-wt-2's second port, dual-stack
    try:
        name = psutil.Process(stranger.pid).name()
        frame = wtpool_json(pool.root, "monitor")
        assert frame["assessment"]["port_conflicts"] == [
            {"slot": "pool-wt-2", "port": 43005, "pid": stranger.pid, "process": name}
        ]
        shown = wtpool(pool.root, "monitor", "--once", env={"COLUMNS": "200"}).stdout
        assert f"port 43005 of pool-wt-2 is held by process {stranger.pid} ({name})" in shown
    finally:
        stop(stranger)


@pytest.mark.skipif(not ipv6_loopback(), reason="this host has no ::1")
def test_a_listener_on_ipv6_loopback_alone_takes_the_port(tmp_path: Path) -> None:
    # A dev server on "localhost" often listens on ::1 only, and a browser tries ::1 first.
    stranger = listener(43107, tmp_path, host="::1")
    try:
        assert busy_ports((43106, 43107)) == [43107]
    finally:
        stop(stranger)


def test_a_port_an_outgoing_connection_uses_is_named_with_its_process(pool: Pool) -> None:
    # The default range overlaps Linux's ephemeral ports: a client's connection can hold one.
    (pool.root / "wtpool.yaml").write_text("ports:\n  range: 43200-43999\n  per_slot: 4\n")
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        code = (
            "import socket, sys, time; c = socket.socket(); c.bind(('127.0.0.1', 43201)); "
            f"c.connect(('127.0.0.1', {server.getsockname()[1]})); print('up', flush=True); "
            "time.sleep(300)"
        )
        client = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
        try:
            assert client.stdout is not None and client.stdout.readline() == b"up\n"
            conflicts = wtpool_json(pool.root, "check")["port_conflicts"]
            assert [(c["slot"], c["port"], c["pid"]) for c in conflicts] == [
                ("pool-wt-1", 43201, client.pid)
            ]
        finally:
            stop(client)


# Listens on the agent's WTPOOL_PORT from outside the slot, so only its being the agent's says
# that the port is the slot's own use.
AGENT_SERVER = """\
import os, socket, time
os.chdir("/")
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(os.environ["WTPOOL_PORT"])))
s.listen()
time.sleep(600)
"""


def test_a_port_the_slots_own_agent_holds_is_no_conflict(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo", {"src/a.py": "a\n"})
    (root / "tasks.yaml").write_text("tasks:\n  - {id: one, title: One, files: [src/]}\n")
    command = json.dumps([sys.executable, "-c", AGENT_SERVER])
    (root / "wtpool.yaml").write_text(
        "pool:\n  min: 1\n  max: 3\ntasks:\n  source: yaml\n"
        f"agent:\n  command: {command}\n  stop_grace: 5\n"
        "ports:\n  range: 43300-43999\n  per_slot: 3\n"
    )
    make_pool(root, 1, 3)
    (item,) = wtpool_json(root, "spawn", "1")["spawned"]
    try:
        deadline = time.monotonic() + 60
        while not busy_ports((43300,)):
            assert time.monotonic() < deadline, "the agent's server never listened"
            time.sleep(0.05)
        # By its working directory alone, the agent's server would be a stranger's.
        settings = PortSettings(range="43300-43999", per_slot=3)
        (alone,) = foreign_holders(settings, {item["slot"]: Path(item["path"])})
        assert (alone.port, psutil.Process(alone.pid).cwd()) == (43300, "/")
        assert wtpool_json(root, "check")["port_conflicts"] == []
        assert wtpool(root, "check", "--strict").returncode == 0
    finally:
        result = wtpool(root, "cleanup", "--json")
        assert result.returncode == 0, result.stderr
    assert not busy_ports((43300,))


def test_a_slot_past_the_range_gets_no_ports_and_check_still_works(repo: Path) -> None:
    # The config's range was checked against its pool.max (2); init --max raised it to 4.
    (repo / "wtpool.yaml").write_text(
        "pool:\n  min: 1\n  max: 2\nports:\n  range: 43400-43419\n  per_slot: 10\n"
    )
    make_pool(repo, 1, 4)
    wtpool_json(repo, "acquire", "--agent", "a")
    wtpool_json(repo, "acquire", "--agent", "b")
    result = wtpool(repo, "acquire", "--agent", "c")
    assert_one_line_error(
        result, 1, "ports.range 43400-43419 has no block of 10 ports for pool-wt-3"
    )
    assert wtpool_json(repo, "check")["port_conflicts"] == []


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("ports:\n  range: 50000-40000\n", "ports.range 50000-40000 is inverted"),
        ("ports:\n  range: 40000-40050\n", "holds 51 ports, too few for 10 slots"),
        ("ports:\n  range: forty\n", "ports.range 'forty' is not FIRST-LAST"),
        ("ports:\n  range: 40000-70000\n", "1 <= FIRST <= LAST <= 65535"),
        ("ports:\n  per_slot: -1\n", "ports.per_slot must be between 0 and 1000"),
    ],
)
def test_bad_port_settings_are_one_line_errors(pool: Pool, text: str, fragment: str) -> None:
    (pool.root / "wtpool.yaml").write_text(text)
    before = snapshot(pool.root)
    assert_one_line_error(wtpool(pool.root, "status"), 2, fragment)
    assert_one_line_error(wtpool(pool.root, "acquire", "--agent", "a"), 2, fragment)
    assert snapshot(pool.root) == before


def test_ports_below_1024_need_root() -> None:
    low = PortSettings(range="80-1079", per_slot=10)
    validate_ports(low, 10, Path("wtpool.yaml"), euid=0)
    with pytest.raises(WtpoolError, match="starts below 1024, which only root may bind"):
        validate_ports(low, 10, Path("wtpool.yaml"), euid=1000)


def test_nothing_listening_means_nothing_busy() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    assert busy_ports((free,)) == []

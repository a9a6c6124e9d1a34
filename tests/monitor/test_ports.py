"""Each slot its own ports: stable blocks, handed out in the hand-off file, and those someone
else holds reported with the process that holds them."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import Pool, assert_one_line_error, env_file, wtpool, wtpool_json
from worktree_pool.config.settings import PortSettings
from worktree_pool.config.validation import validate_ports
from worktree_pool.errors import WtpoolError
from worktree_pool.monitor.ports import busy_ports, slot_ports


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


def listener(port: int, cwd: Path) -> subprocess.Popen:
    """A real process listening on 0.0.0.0:port, working in `cwd`."""
    code = (
        "import socket, time; s = socket.socket(); "
        "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
        f"s.bind(('0.0.0.0', {port})); s.listen(); print('up', flush=True); time.sleep(300)"
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
        for process in (stranger, own):
            process.kill()
            process.wait()
    deadline = time.monotonic() + 10
    while busy_ports((42006,)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert wtpool(pool.root, "check", "--strict").returncode == 0


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
    assert_one_line_error(wtpool(pool.root, "acquire", "--agent", "a"), 2, fragment)


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

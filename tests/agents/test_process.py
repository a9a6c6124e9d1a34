"""What runs in a slot is stopped before the slot is salvaged or removed, and nothing else is.

An agent's processes are found by more than its process group: its session, the mark the
runner puts in their environment, their descendants; and any other process without a
terminal whose working directory is in the slot. Everything here runs for real: the CLI in a
subprocess, agents under the runner, processes that call setsid or double-fork, and a process
with a controlling terminal (a pseudo-terminal, as a person's shell has).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from tests.conftest import assert_one_line_error, make_pool, make_repo, wtpool, wtpool_json

TASKS = """\
tasks:
  - {id: one, title: One, files: [src/]}
  - {id: two, title: Two, files: [docs/]}
"""

# Forks a daemon the classic way (fork, setsid, fork, chdir /), writes its pid, and exits:
# the daemon is in neither the agent's group nor its session, nor below any of its processes.
DAEMON = """\
import os, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.chdir("/")
        with open(sys.argv[1] + ".tmp", "w") as out:
            out.write(str(os.getpid()))
        os.rename(sys.argv[1] + ".tmp", sys.argv[1])
        time.sleep(600)
    os._exit(0)
os.wait()
"""

# Works from the first slot's directory whichever slot it was given.
VISITOR = """\
import os, sys, time
os.chdir(os.path.join(os.path.dirname(sys.argv[1]), "pool-wt-1"))
print("ready", flush=True)
time.sleep(600)
"""


def _pool(tmp: Path, agent: list[str] | None = None) -> Path:
    root = make_repo(tmp / "repo", {"src/a.py": "a\n", "docs/d.md": "d\n"})
    (root / "tasks.yaml").write_text(TASKS)
    config = "pool:\n  min: 1\n  max: 3\ntasks:\n  source: yaml\n"
    if agent is not None:
        config += f"agent:\n  command: {json.dumps(agent)}\n  stop_grace: 5\n"
    (root / "wtpool.yaml").write_text(config)
    make_pool(root, 1, 3)
    return root


def _wait_for(predicate: Callable[[], object], what: str) -> None:
    """Polls: agents are separate processes. The limit only keeps a broken test from hanging."""
    deadline = time.monotonic() + 60
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _in(path: Path, command: list[str]) -> list[int]:
    """The processes running `command` whose working directory is `path`."""
    found = []
    for process in psutil.process_iter(["cmdline", "cwd"]):
        if process.info["cmdline"] == command and process.info["cwd"] == str(path):
            found.append(process.pid)
    return found


@pytest.fixture
def started() -> Iterator[list[int]]:
    """Pids to kill after the test, whatever became of it: no test leaves a sleeper behind."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        try:
            psutil.Process(pid).kill()
        except psutil.NoSuchProcess:
            continue


def _sleeper(cwd: Path, started: list[int], **options: object) -> subprocess.Popen:
    process = subprocess.Popen(
        ["sleep", "600"],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        **options,  # type: ignore[call-overload]
    )
    started.append(process.pid)
    return process


def test_cleanup_stops_an_agent_child_that_called_setsid(
    tmp_path: Path, started: list[int]
) -> None:
    root = _pool(tmp_path, ["sh", "-c", "setsid sleep 287 & sleep 60"])
    (item,) = wtpool_json(root, "spawn", "1")["spawned"]
    slot = Path(item["path"])
    _wait_for(lambda: _in(slot, ["sleep", "287"]), "the agent's setsid child")
    (child,) = _in(slot, ["sleep", "287"])
    started.append(child)
    assert os.getsid(child) != item["agent_pid"] and os.getpgid(child) != item["agent_pid"]

    result = wtpool(root, "cleanup", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert _gone(child), "the setsid child survived cleanup"
    assert [(s["slot"], s["outcome"]) for s in report["stopped_agents"]] == [
        (item["slot"], "stopped")
    ]
    # The recorded agent's own processes are not reported as an unrecorded agent's.
    assert report["stopped_unrecorded"] == []
    assert "no slot had recorded" not in wtpool(root, "cleanup").stdout


def test_cleanup_stops_what_runs_in_every_slot_and_spares_a_terminal(
    tmp_path: Path, started: list[int]
) -> None:
    root = _pool(tmp_path)
    slots = [Path(wtpool_json(root, "acquire", "--agent", a)["path"]) for a in ("ann", "bo", "cy")]
    # Left running in two slots; one look at the processes serves all three slots until the
    # first stop, and the second must still be found after it.
    strays = [_sleeper(slots[n], started, start_new_session=True) for n in (0, 2)]
    primary, secondary = os.openpty()
    try:
        person = subprocess.Popen(
            ["setsid", "--ctty", "sleep", "600"], cwd=slots[1], stdin=secondary, stdout=secondary
        )
        started.append(person.pid)
        _wait_for(lambda: psutil.Process(person.pid).terminal(), "the terminal")
        result = wtpool(root, "cleanup", "--json")
    finally:
        os.close(secondary)
    report = json.loads(result.stdout)
    assert all(_gone(stray.pid) for stray in strays), "cleanup left a process in a slot"
    assert person.poll() is None
    os.close(primary)  # the person's terminal closes: only now does their shell hang up
    assert [(s["slot"], s["strays"], s["spared"]) for s in report["stopped_agents"]] == [
        ("pool-wt-1", [strays[0].pid], []),
        ("pool-wt-2", [], [person.pid]),
        ("pool-wt-3", [strays[1].pid], []),
    ]
    assert report["complete"] and not any(slot.exists() for slot in slots)


def test_a_double_forked_daemon_keeps_the_agent_running_until_stopped(
    tmp_path: Path, started: list[int]
) -> None:
    script = tmp_path / "daemon.py"
    script.write_text(textwrap.dedent(DAEMON))
    pid_file = tmp_path / "daemon.pid"
    root = _pool(tmp_path, [sys.executable, str(script), str(pid_file)])
    (item,) = wtpool_json(root, "spawn", "1")["spawned"]
    _wait_for(pid_file.exists, "the daemon")
    daemon = int(pid_file.read_text())
    started.append(daemon)

    def agent() -> dict:
        slots = wtpool_json(root, "status")["worktrees"]
        return next(s for s in slots if s["name"] == item["slot"])["agent_process"]

    _wait_for(lambda: agent()["exit_code"] == 0, "the agent to exit")
    assert agent()["state"] == "running"  # its daemon still runs, outside the slot
    assert_one_line_error(wtpool(root, "release", item["slot"]), 1, "still running")

    (stopped,) = json.loads(wtpool(root, "stop", item["slot"], "--json").stdout)
    assert stopped["outcome"] == "stopped"
    assert stopped["exit_code"] == 0  # the agent's own, recorded when it exited
    assert _gone(daemon)
    assert agent()["state"] == "exited"
    assert wtpool(root, "release", item["slot"]).returncode == 0


def test_release_stops_what_runs_in_the_slot_but_spares_a_terminal_and_the_main_worktree(
    tmp_path: Path, started: list[int]
) -> None:
    root = _pool(tmp_path)
    slot = Path(wtpool_json(root, "acquire", "--agent", "ann")["path"])
    # Left running in the slot by something that is no child of any agent.
    stray = _sleeper(slot / "src", started, start_new_session=True)
    # A person's shell in the slot: it has a controlling terminal.
    primary, secondary = os.openpty()
    try:
        person = subprocess.Popen(
            ["setsid", "--ctty", "sleep", "600"], cwd=slot, stdin=secondary, stdout=secondary
        )
        started.append(person.pid)
        _wait_for(lambda: psutil.Process(person.pid).terminal(), "the terminal")
        # And a process in the main worktree, which is no slot.
        main = _sleeper(root, started, start_new_session=True)

        result = wtpool(root, "release", slot.name, "--json")
    finally:
        os.close(secondary)
    assert result.returncode == 0, result.stderr
    assert _gone(stray.pid), "release left a process running in the slot"
    assert person.poll() is None and main.poll() is None
    released = json.loads(result.stdout)
    assert released["stopped_processes"] == [stray.pid]
    assert released["spared_processes"] == [person.pid]
    os.close(primary)


def test_releasing_one_slot_leaves_another_slots_agent_alone_even_there(
    tmp_path: Path, started: list[int]
) -> None:
    script = tmp_path / "visitor.py"
    script.write_text(VISITOR)
    root = _pool(tmp_path, [sys.executable, str(script), "{path}"])
    spawned = {s["slot"]: s for s in wtpool_json(root, "spawn", "2", "all")["spawned"]}
    assert sorted(spawned) == ["pool-wt-1", "pool-wt-2"]
    logs = root / ".agent-worktrees" / "logs"
    for name in spawned:
        _wait_for(lambda name=name: "ready" in (logs / f"{name}.log").read_text(), name)
    visitor = spawned["pool-wt-2"]["agent_pid"]

    (stopped,) = json.loads(wtpool(root, "stop", "pool-wt-1", "--json").stdout)
    assert stopped["outcome"] == "stopped"
    assert _gone(spawned["pool-wt-1"]["agent_pid"])
    released = wtpool_json(root, "release", "pool-wt-1")
    # pool-wt-2's agent works in pool-wt-1's directory, and is still pool-wt-2's.
    assert released["stopped_processes"] == []
    assert not _gone(visitor)
    assert [s["outcome"] for s in json.loads(wtpool(root, "stop", "--all", "--json").stdout)] == [
        "stopped"
    ]


def test_scale_down_keeps_an_idle_slot_in_which_something_runs(
    tmp_path: Path, started: list[int]
) -> None:
    root = _pool(tmp_path)
    assert wtpool(root, "scale", "--to", "2").returncode == 0
    slot = root / ".agent-worktrees" / "pool-wt-2"
    sleeper = _sleeper(slot, started, start_new_session=True)
    result = wtpool_json(root, "scale", "--to", "1")
    assert result["removed"] == ["pool-wt-1"]  # the next candidate goes instead
    assert [k["name"] for k in result["kept"]] == ["pool-wt-2"]
    assert str(sleeper.pid) in result["kept"][0]["reason"]
    assert slot.is_dir() and sleeper.poll() is None


def test_leaks_fix_stops_a_process_left_in_an_idle_slot(tmp_path: Path, started: list[int]) -> None:
    root = _pool(tmp_path)
    slot = root / ".agent-worktrees" / "pool-wt-1"
    sleeper = _sleeper(slot, started, start_new_session=True)
    found = wtpool(root, "leaks", "--json")
    assert found.returncode == 1
    (finding,) = json.loads(found.stdout)["findings"]
    assert finding["kind"] == "stray-process" and f"pid {sleeper.pid}" == finding["subject"]
    fixed = wtpool(root, "leaks", "--fix", "--json")
    assert fixed.returncode == 0, fixed.stdout
    assert sleeper.wait(timeout=30) < 0

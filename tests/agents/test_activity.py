"""Agents you can watch and reach: their state, their tmux sessions, their output, and the
hook told when their state changes. Real agents under the runner, real tmux.

Timing: idle_after is small (1.5 s) and every wait polls with a deadline; where an agent must
change what it does at a moment the test chooses, it waits for a flag file the test creates,
so a slow machine makes a test slower, never wrong."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
import yaml

from tests.conftest import assert_one_line_error, make_pool, make_repo, wtpool, wtpool_json
from worktree_pool.agents.terminal import live_sessions, tmux_argv
from worktree_pool.coord.daemon import _reap_children
from worktree_pool.coord.notify import StateNotifier
from worktree_pool.coord.watch import Monitor
from worktree_pool.git.repo import open_repository
from worktree_pool.monitor.resources import AgentUse
from worktree_pool.pool.opening import open_store
from worktree_pool.store.slots import all_slots

TASKS = (
    "tasks:\n  - {id: one, title: One, files: [src/]}\n  - {id: two, title: Two, files: [docs/]}\n"
)
NEEDS_TMUX = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux installed")


def pool_with_agent(tmp: Path, script: str, *, hooks: dict | None = None, **agent: object) -> Path:
    """A pool whose agent is `script` (sh), with a small idle_after."""
    root = make_repo(tmp / "repo", {"src/a.py": "a\n", "docs/d.md": "d\n"})
    (root / "tasks.yaml").write_text(TASKS)
    (root / "agent.sh").write_text(script)
    config: dict = {
        "pool": {"min": 1, "max": 3},
        "tasks": {"source": "yaml"},
        "agent": {"command": ["sh", str(root / "agent.sh")], "idle_after": 1.5, **agent},
        "monitor": {"interval": 0.3},
    }
    (root / "wtpool.yaml").write_text(yaml.safe_dump(config))
    make_pool(root, 1, 3)
    if hooks:  # trusted once the pool is there, as a user would
        (root / "wtpool.yaml").write_text(yaml.safe_dump({**config, "hooks": hooks}))
        assert wtpool(root, "trust").returncode == 0
    return root


def gone(pid: int) -> bool:
    """Whether the process has ended (a zombie its parent has yet to reap has ended)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.fixture
def tmux_server_ends(tmp_path: Path) -> Iterator[None]:
    """Whatever a test leaves, the tmux server of its pool does not outlive it."""
    yield
    repo_root = tmp_path / "repo"
    if repo_root.is_dir():
        wtpool(repo_root, "stop", "--all")
        argv = tmux_argv(open_repository(repo_root), "kill-server")
        subprocess.run(argv, capture_output=True, check=False)


def wait_for(predicate: Callable[[], object], what: str, seconds: float = 60) -> object:
    deadline = time.monotonic() + seconds
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return value


def activity(root: Path, slot: str = "pool-wt-1") -> dict:
    (found,) = [s for s in wtpool_json(root, "status")["worktrees"] if s["name"] == slot]
    return found["activity"] or {}


def state_becomes(root: Path, state: str, slot: str = "pool-wt-1") -> dict:
    seen: list[dict] = []

    def reached() -> dict | None:
        seen[:] = [activity(root, slot)]
        return seen[0] if seen[0].get("state") == state else None

    deadline = time.monotonic() + 60
    while (found := reached()) is None:
        assert time.monotonic() < deadline, f"{slot} never became {state}: last {seen}"
        time.sleep(0.1)
    return found


def test_a_working_agent_that_goes_silent_is_waiting(tmp_path: Path) -> None:
    quiet = tmp_path / "quiet"
    root = pool_with_agent(
        tmp_path, f"while [ ! -e {quiet} ]; do echo tick; sleep 0.2; done\nsleep 600\n"
    )
    wtpool_json(root, "spawn", "1")
    assert state_becomes(root, "working")["last_line"] == "tick"
    quiet.touch()
    found = state_becomes(root, "waiting")
    assert found["quiet_for"] >= 1.5 and found["last_line"] == "tick"
    stopped = wtpool_json(root, "stop", "pool-wt-1")
    assert [item["outcome"] for item in stopped] == ["stopped"], stopped
    assert state_becomes(root, "stopped")
    assert "stopped" in wtpool(root, "status").stdout


def test_a_prompt_matching_the_pattern_is_waiting_at_once(tmp_path: Path) -> None:
    root = pool_with_agent(
        tmp_path, "echo 'Apply these changes? [y/n]'; sleep 600\n", idle_after=600
    )
    wtpool_json(root, "spawn", "1")
    found = state_becomes(root, "waiting")  # long before idle_after
    assert found["last_line"] == "Apply these changes? [y/n]"
    shown = wtpool(root, "status").stdout
    assert "waiting" in shown
    wtpool(root, "stop", "pool-wt-1")


def test_an_agent_that_works_then_asks_is_waiting_at_once(tmp_path: Path) -> None:
    asks = tmp_path / "asks"
    script = f"echo thinking\nwhile [ ! -e {asks} ]; do :; done\necho 'Go on? [y/n]'\nsleep 600\n"
    root = pool_with_agent(tmp_path, script, idle_after=600)
    wtpool_json(root, "spawn", "1")
    state_becomes(root, "working")
    state_becomes(root, "working")  # a second look: it has seen the CPU time grow
    asks.touch()
    # The CPU time the looks saw grow around the prompt was the work before it.
    assert state_becomes(root, "waiting")["last_line"] == "Go on? [y/n]"
    wtpool(root, "stop", "pool-wt-1")


def test_an_agent_that_computes_in_silence_is_working(tmp_path: Path) -> None:
    root = pool_with_agent(tmp_path, "echo go\nwhile true; do :; done\n")
    wtpool_json(root, "spawn", "1")
    state_becomes(root, "working")
    # Past idle_after with no output: only its CPU time, seen between two looks, says it works.
    log = root / ".agent-worktrees" / "logs" / "pool-wt-1.log"
    wait_for(lambda: time.time() - log.stat().st_mtime > 2, "silence past idle_after")
    found = activity(root)
    assert found["state"] == "working" and found["last_line"] == "go", found
    wtpool(root, "stop", "pool-wt-1")


def test_an_agent_that_starts_silent_is_starting(tmp_path: Path) -> None:
    root = pool_with_agent(tmp_path, "sleep 600\n", idle_after=600)
    wtpool_json(root, "spawn", "1")
    found = activity(root)
    assert found["state"] == "starting" and found["last_line"] is None, found
    wtpool(root, "stop", "pool-wt-1")


def test_exited_with_its_code(tmp_path: Path) -> None:
    root = pool_with_agent(tmp_path, "echo done; exit 3\n")
    wtpool_json(root, "spawn", "1")
    found = state_becomes(root, "exited")
    assert found["exit_code"] == 3 and found["label"] == "exited 3"
    assert "exited 3" in wtpool(root, "status").stdout
    assert wtpool(root, "logs", "pool-wt-1").stdout.splitlines()[-1] == "done"


def test_an_agent_the_daemon_starts_is_still_found_and_stopped(tmp_path: Path) -> None:
    """The daemon (and so whatever it starts) carries the pool's mark; the agents it starts
    from the queue must not, or they would be invisible to status and stop."""
    root = pool_with_agent(tmp_path, "echo up; sleep 600\n", idle_after=600)
    marked = {"WTPOOL_POOL_PROCESS": "1", "WTPOOL_AGENT_GROUP": "1"}
    spawned = wtpool(root, "spawn", "1", "--json", env=marked)
    assert spawned.returncode == 0, spawned.stderr
    (item,) = json.loads(spawned.stdout)["spawned"]
    assert state_becomes(root, "working")["last_line"] == "up"
    environment = {}
    for child in psutil.Process(item["agent_pid"]).children(recursive=True):
        environment = child.environ()
    assert "WTPOOL_POOL_PROCESS" not in environment
    assert environment["WTPOOL_AGENT_GROUP"] == str(item["agent_pid"])
    assert wtpool_json(root, "stop", "pool-wt-1")[0]["outcome"] == "stopped"
    assert gone(item["agent_pid"])


def test_logs_follow_until_the_agent_ends(tmp_path: Path) -> None:
    root = pool_with_agent(tmp_path, "for i in 1 2 3; do echo line $i; sleep 0.5; done\n")
    wtpool_json(root, "spawn", "1")
    followed = wtpool(root, "logs", "-f", "pool-wt-1")
    assert followed.returncode == 0
    assert followed.stdout.splitlines()[-3:] == ["line 1", "line 2", "line 3"]
    assert_one_line_error(wtpool(root, "logs", "pool-wt-2"), 2, "no slot named 'pool-wt-2'")
    wtpool_json(root, "scale", "up")
    assert_one_line_error(wtpool(root, "logs", "pool-wt-2"), 1, "has no agent log yet")


def test_logs_follow_ends_quietly_on_ctrl_c(tmp_path: Path) -> None:
    root = pool_with_agent(tmp_path, "echo first; sleep 600\n")
    wtpool_json(root, "spawn", "1")
    follower = subprocess.Popen(
        [sys.executable, "-m", "worktree_pool", "logs", "-f", "pool-wt-1"],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert follower.stdout is not None
        while "first" not in follower.stdout.readline():  # blocks until it has printed it
            assert follower.poll() is None, follower.stderr.read() if follower.stderr else ""
        follower.send_signal(signal.SIGINT)
        _, errors = follower.communicate(timeout=60)
    finally:
        follower.kill()
    assert follower.returncode == 0 and errors == "", errors
    wtpool(root, "stop", "pool-wt-1")


def _hook(told: Path, tail: str = "") -> dict:
    record = f'echo "$WTPOOL_SLOT $WTPOOL_TASK $WTPOOL_STATE" >> {told}{tail}'
    return {"on_state_change": ["sh", "-c", record]}


def test_state_changes_run_the_hook_with_their_variables(tmp_path: Path) -> None:
    told, done = tmp_path / "told.txt", tmp_path / "done"
    script = f"echo hello\nwhile [ ! -e {done} ]; do sleep 0.1; done\nexit 4\n"
    root = pool_with_agent(tmp_path, script, hooks=_hook(told))
    wtpool_json(root, "spawn", "1")
    repo = open_repository(root)
    with open_store(repo) as store:
        watcher = Monitor(repo, store, background=False)
        assert not watcher.frame().notes  # where it starts from: not a change
        done.touch()
        wait_for(lambda: activity(root).get("state") == "exited", "the agent's exit")
        watcher.frame()
        wait_for(lambda: told.exists() and told.read_text(), "the hook")
        assert not watcher.frame().notes
        assert not watcher.frame().notes  # no change since: not told again
    time.sleep(0.5)  # time for a hook run in error to have written
    assert told.read_text().splitlines() == ["pool-wt-1 one exited 4"]


def test_a_hook_that_fails_or_hangs_is_reported_and_the_monitor_goes_on(tmp_path: Path) -> None:
    told, done = tmp_path / "told.txt", tmp_path / "done-pool-wt-1"
    hung = tmp_path / "hung.pid"
    script = (
        f"echo hello\nwhile [ ! -e {tmp_path}/done-$WTPOOL_SLOT ]; do sleep 0.1; done\nexit 4\n"
    )
    hook = f'echo "$WTPOOL_STATE" >> {told}; [ "$WTPOOL_STATE" = stopped ] || exit 5; '
    hook += f"echo $$ > {hung}; exec sleep 600"
    root = pool_with_agent(tmp_path, script, hooks={"on_state_change": ["sh", "-c", hook]})
    config = yaml.safe_load((root / "wtpool.yaml").read_text())
    config["hooks"]["timeout"] = 1.0
    (root / "wtpool.yaml").write_text(yaml.safe_dump(config))
    assert wtpool(root, "trust").returncode == 0
    wtpool_json(root, "spawn", "2")
    repo = open_repository(root)
    with open_store(repo) as store:
        watcher = Monitor(repo, store, background=False)
        watcher.frame()
        done.touch()  # pool-wt-1: exited 4, whose hook exits 5
        wait_for(lambda: activity(root).get("state") == "exited", "the agent's exit")
        watcher.frame()
        failed = wait_for(lambda: [n for n in watcher.frame().notes if "exited 5" in n], "a note")
        assert "hooks.on_state_change for pool-wt-1 exited 4 exited 5" in failed[0]  # type: ignore[index]
        wtpool(root, "stop", "pool-wt-2")  # stopped: its hook hangs
        state_becomes(root, "stopped", "pool-wt-2")
        watcher.frame()  # starts the hook, and returns while it runs
        wait_for(lambda: hung.exists() and hung.read_text().strip(), "the hanging hook")
        pid = int(hung.read_text())
        stopped = wait_for(
            lambda: [n for n in watcher.frame().notes if "hooks.timeout" in n], "its timeout"
        )
        assert "for pool-wt-2 stopped ran longer than hooks.timeout" in stopped[0]  # type: ignore[index]
        assert gone(pid)
    recorded = (root / ".agent-worktrees" / "logs" / "notify.log").read_text()
    assert "exited 5" in recorded and "ran longer than hooks.timeout" in recorded


def test_the_daemon_runs_the_hook_and_the_monitor_then_does_not(tmp_path: Path) -> None:
    told, done = tmp_path / "told.txt", tmp_path / "done"
    script = f"echo hello\nwhile [ ! -e {done} ]; do sleep 0.1; done\nexit 4\n"
    root = pool_with_agent(tmp_path, script, hooks=_hook(told, "; exit 6"))
    wtpool_json(root, "spawn", "1")
    assert wtpool(root, "daemon", "start").returncode == 0
    repo = open_repository(root)
    log = root / ".agent-worktrees" / "logs" / "daemon.log"
    try:
        with open_store(repo) as store:
            watcher = Monitor(repo, store, background=False)
            watcher.frame()  # the daemon runs: the monitor tells nothing
            wait_for(lambda: log.exists() and log.stat().st_size, "the daemon's first look")
            done.touch()
            wait_for(lambda: told.exists() and told.read_text(), "the hook")
            watcher.frame()
            # The daemon reaps its children: the hook's exit code still reaches its log.
            wait_for(lambda: "exited 4 exited 6" in log.read_text(), "the hook's failure")
    finally:
        wtpool(root, "daemon", "stop")
    # Whatever the daemon saw before (starting, working), the exit was told once: the monitor
    # did not tell it again.
    lines = told.read_text().splitlines()
    assert lines[-1] == "pool-wt-1 one exited 4" and lines.count(lines[-1]) == 1, lines


def test_a_hook_the_daemon_reaps_still_reports_its_failure(tmp_path: Path) -> None:
    """The daemon reaps every child it has (agents it started from the queue): a hook it
    reaps before the notifier looks must still be reported as failed."""
    told = tmp_path / "told.txt"
    root = pool_with_agent(tmp_path, "sleep 600\n", hooks=_hook(told, "; exit 6"))
    repo = open_repository(root)

    def agent(state: str) -> AgentUse:
        return AgentUse("pool-wt-1", "one", 1, "running", 1, 0, 0, 0.0, state)

    with open_store(repo) as store:
        with store.snapshot() as conn:
            slots = all_slots(conn)
        notifier = StateNotifier(repo, store)
        assert notifier.observe([agent("working")], slots) == []  # the baseline
        before = set(psutil.Process().children())
        assert notifier.observe([agent("waiting")], slots) == []  # started in the background
        (hook,) = set(psutil.Process().children()) - before
        wait_for(lambda: hook.status() == psutil.STATUS_ZOMBIE, "the hook's end")
        _reap_children(notifier)
        (note,) = notifier.observe([agent("waiting")], slots)
    assert "hooks.on_state_change for pool-wt-1 waiting exited 6" in note
    assert told.read_text() == "pool-wt-1  waiting\n"


def _server_pid(root: Path) -> int:
    argv = tmux_argv(open_repository(root), "display-message", "-p", "#{pid}")
    return int(subprocess.run(argv, capture_output=True, text=True, check=True).stdout)


@NEEDS_TMUX
def test_an_agent_in_tmux_can_be_reached_and_stopped(
    tmp_path: Path, tmux_server_ends: None
) -> None:
    script = "printf 'Your name? '\nread name\necho \"hello $name\"\nsleep 600\n"
    root = pool_with_agent(tmp_path, script, terminal="tmux", idle_after=600)
    # Started from inside a slot, by a process that carries an agent's mark.
    started = wtpool(
        root / ".agent-worktrees" / "pool-wt-1",
        "spawn",
        "1",
        "--json",
        env={"WTPOOL_AGENT_GROUP": "1", "WTPOOL_POOL_PROCESS": "1"},
    )
    assert started.returncode == 0, started.stderr
    (item,) = json.loads(started.stdout)["spawned"]
    assert state_becomes(root, "waiting")["last_line"] == "Your name?"
    server = psutil.Process(_server_pid(root))
    assert server.cwd() == "/"  # never a slot's stray, which clearing that slot would stop
    assert "WTPOOL_AGENT_GROUP" not in server.environ()
    sent = wtpool_json(root, "send", "pool-wt-1", "Ada;")  # tmux would read a final ; as its own
    assert sent["slots"] == ["pool-wt-1"]
    wait_for(lambda: "hello Ada;" in wtpool(root, "logs", "pool-wt-1").stdout, "the reply")
    assert wtpool_json(root, "send", "--all", "again")["slots"] == ["pool-wt-1"]
    assert_one_line_error(wtpool(root, "attach", "pool-wt-1"), 2, "attach needs a terminal")
    stopped = wtpool_json(root, "stop", "pool-wt-1")
    assert stopped[0]["outcome"] == "stopped", stopped
    assert live_sessions(open_repository(root)) == []
    wait_for(lambda: gone(item["agent_pid"]), "the runner's end")
    assert_one_line_error(wtpool(root, "attach", "pool-wt-1"), 1, "has no tmux session")
    assert_one_line_error(wtpool(root, "send", "pool-wt-1", "x"), 1, "has no tmux session")
    assert_one_line_error(wtpool(root, "send", "--all", "x"), 2, "no slot's agent runs in tmux")
    assert activity(root)["state"] == "stopped"


@NEEDS_TMUX
def test_a_tmux_agent_keeps_its_environment_output_and_exit_code(
    tmp_path: Path, tmux_server_ends: None
) -> None:
    done = tmp_path / "done"
    script = (
        'echo "first: slot=$WTPOOL_SLOT pool=${WTPOOL_POOL_PROCESS:-no} term=$TERM"\n'
        f"while [ ! -e {done} ]; do sleep 0.1; done\nexit 7\n"
    )
    root = pool_with_agent(tmp_path, script, terminal="tmux")
    wtpool_json(root, "spawn", "1")
    logs = root / ".agent-worktrees" / "logs"
    # Printed at once, before anything could be piped the slow way: it is in the log.
    wait_for(lambda: "first: " in (logs / "pool-wt-1.log").read_text(), "the first line")
    line = next(
        text for text in (logs / "pool-wt-1.log").read_text().splitlines() if "first: " in text
    )
    start, term = line.strip().split("term=")
    assert start == "first: slot=pool-wt-1 pool=no " and term.startswith(("tmux", "screen"))
    assert not (logs / "pool-wt-1.environment.json").exists()  # read and deleted by the runner
    done.touch()
    found = state_becomes(root, "exited")
    assert found["exit_code"] == 7
    assert live_sessions(open_repository(root)) == []


@NEEDS_TMUX
def test_a_session_a_person_kills_ends_its_agent(tmp_path: Path, tmux_server_ends: None) -> None:
    root = pool_with_agent(tmp_path, "echo 'ready'\nsleep 600\necho after\n", terminal="tmux")
    (item,) = wtpool_json(root, "spawn", "1")["spawned"]
    wait_for(lambda: activity(root).get("last_line") == "ready", "the agent")
    agent = psutil.Process(item["agent_pid"]).children(recursive=True)
    subprocess.run(tmux_argv(open_repository(root), "kill-session", "-t", "=wtpool-pool-wt-1"))
    # The runner, hung up alone, hangs up the agent's group, and records how it ended.
    assert state_becomes(root, "stopped")["exit_code"] == -signal.SIGHUP
    wait_for(lambda: all(gone(process.pid) for process in agent), "the agent's processes")


@NEEDS_TMUX
def test_attach_from_a_terminal_reaches_the_session(tmp_path: Path, tmux_server_ends: None) -> None:
    root = pool_with_agent(tmp_path, "echo 'ready'; exec sleep 600\n", terminal="tmux")
    wtpool_json(root, "spawn", "1")
    repo = open_repository(root)
    pid, fd = pty.fork()
    if pid == 0:  # the child: wtpool attach, in a terminal of its own
        try:
            os.chdir(root)
            os.environ["TERM"] = "xterm"
            os.environ.pop("TMUX", None)
            argv = [sys.executable, "-m", "worktree_pool", "attach", "pool-wt-1"]
            os.execv(sys.executable, argv)
        finally:
            os._exit(127)
    shown: list[bytes] = []

    def read_screen() -> None:  # tmux must never block on a full terminal
        with contextlib.suppress(OSError):  # EIO once the child has gone
            while chunk := os.read(fd, 65536):
                shown.append(chunk)

    reader = threading.Thread(target=read_screen, daemon=True)
    reader.start()
    try:

        def clients() -> str:
            argv = tmux_argv(repo, "list-clients", "-t", "=wtpool-pool-wt-1")
            return subprocess.run(argv, capture_output=True, text=True).stdout

        wait_for(clients, "the attached client")
        subprocess.run(tmux_argv(repo, "detach-client", "-s", "=wtpool-pool-wt-1"), check=True)
        _, status = os.waitpid(pid, 0)
        pid = 0  # reaped: never to be signalled
        assert os.waitstatus_to_exitcode(status) == 0, b"".join(shown)
        reader.join(timeout=60)
        assert b"ready" in b"".join(shown)  # it showed the agent's screen
    finally:
        if pid:  # the test failed while it ran
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
    assert live_sessions(repo) == ["pool-wt-1"]  # detaching leaves the agent running
    wtpool(root, "stop", "pool-wt-1")


@NEEDS_TMUX
def test_cleanup_leaves_no_tmux_session(tmp_path: Path, tmux_server_ends: None) -> None:
    root = pool_with_agent(tmp_path, "echo 'ready'; exec sleep 600\n", terminal="tmux")
    wtpool_json(root, "spawn", "2")
    wait_for(lambda: activity(root).get("state") in ("working", "waiting"), "the agent")
    repo = open_repository(root)
    assert live_sessions(repo) == ["pool-wt-1", "pool-wt-2"]
    # A window a person opened keeps a session after its agent's pane has gone.
    opened = subprocess.run(
        tmux_argv(repo, "new-window", "-d", "-t", "=wtpool-pool-wt-2:", "sleep", "600"),
        capture_output=True,
        cwd="/",
    )
    assert opened.returncode == 0, opened.stderr
    assert json.loads(wtpool(root, "cleanup", "--json").stdout)["complete"]
    assert live_sessions(repo) == []

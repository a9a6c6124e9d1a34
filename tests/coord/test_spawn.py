"""`wtpool spawn`, `assign` and `stop`: tracks become slots, and agents run in them.

Everything runs for real: the CLI in a subprocess, git, and agent processes (small Python
scripts) that commit in their slots and exit with a code status must show.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from tests.conftest import assert_one_line_error, git, make_pool, make_repo, snapshot, wtpool
from worktree_pool.scope.overlap import scopes_overlap

FILES = {
    "README.md": "# shop\n",
    "src/api/auth.py": "AUTH = 1\n",
    "src/api/rate.py": "RATE = 1\n",
    "src/ui/app.js": "app()\n",
    "docs/guide.md": "guide\n",
    "docs/api.md": "api\n",
}

TASKS = """\
tasks:
  - {id: api-1, title: API auth, priority: 1, files: [src/api/],
     description: "Add tokens.", }
  - {id: api-2, title: API rate limit, priority: 1, depends_on: [api-1], files: [src/api/]}
  - {id: ui-1, title: UI shell, priority: 2, files: [src/ui/]}
  - {id: docs-1, title: Guide, priority: 2, files: ["docs/*.md"]}
  - {id: wide-1, title: Rename everything under src, priority: 3, files: [src/]}
  - {id: old-1, title: Done already, status: closed, files: [src/api/]}
"""


def _config(agent: list[str] | None = None, grace: float = 10.0) -> str:
    text = "pool:\n  min: 1\n  max: 4\ntasks:\n  source: yaml\n"
    if agent is not None:
        text += f"agent:\n  command: {json.dumps(agent)}\n  stop_grace: {grace}\n"
    return text


def _shop(tmp: Path, agent: list[str] | None = None, grace: float = 10.0, maximum: int = 4) -> Path:
    root = make_repo(tmp / "shop", FILES)
    (root / "tasks.yaml").write_text(TASKS)
    (root / "wtpool.yaml").write_text(_config(agent, grace).replace("max: 4", f"max: {maximum}"))
    make_pool(root, 1, maximum)
    return root


def _spawn(root: Path, *args: str) -> dict:
    result = wtpool(root, "spawn", *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _status(root: Path) -> dict:
    result = wtpool(root, "status", "--json")
    assert result.returncode == 0, result.stderr
    return {slot["name"]: slot for slot in json.loads(result.stdout)["worktrees"]}


def _checked_out(slot: Path) -> set[str]:
    return {
        str(p.relative_to(slot))
        for p in slot.rglob("*")
        if p.is_file() and ".git" not in p.relative_to(slot).parts
    }


def test_spawn_gives_each_independent_track_a_slot_branch_scope_and_brief(tmp_path: Path) -> None:
    root = _shop(tmp_path)
    result = _spawn(root, "4", "independent")

    spawned = {item["task"]: item for item in result["spawned"]}
    # api-2 waits for api-1 (same track), old-1 is closed, wide-1 overlaps api and ui.
    assert list(spawned) == ["api-1", "docs-1", "ui-1"]
    assert result["queued"] == []
    assert [(s["track"], s["kind"]) for s in result["skipped"]] == [("track:wide-1", "overlap")]
    assert spawned["api-1"]["track"] == "track:api-1"
    assert spawned["api-1"]["patterns"] == ["src/api/"]

    status = _status(root)
    for task, item in spawned.items():
        slot = Path(item["path"])
        assert item["branch"] == f"wtpool/task/{task}"
        assert git(slot, "branch", "--show-current") == item["branch"]
        assert git(slot, "rev-parse", "HEAD") == git(root, "rev-parse", "main")
        row = status[item["slot"]]
        assert (row["state"], row["task"], row["track"], row["agent"]) == (
            "busy",
            task,
            item["track"],
            task,
        )
        env = (slot / ".env.worktree").read_text()
        assert f"WTPOOL_SLOT='{item['slot']}'" in env
        assert f"WTPOOL_TASK='{task}'" in env and f"WTPOOL_TRACK='{item['track']}'" in env
        # wtpool's file is no change of the agent's: not shown, not committable.
        assert git(slot, "status", "--porcelain") == ""
    assert _checked_out(Path(spawned["ui-1"]["path"])) == {
        "README.md",
        "src/ui/app.js",
        ".env.worktree",
    }
    assert _checked_out(Path(spawned["docs-1"]["path"])) == {
        "README.md",
        "docs/guide.md",
        "docs/api.md",
        ".env.worktree",
    }

    brief = root / ".agent-worktrees" / ".briefs" / "api-1.md"
    text = brief.read_text()
    assert "# api-1: API auth" in text and "Add tokens." in text
    assert text.index("api-1 (open, this task)") < text.index("api-2 (open, waits)")
    assert (
        f"WTPOOL_BRIEF='{brief}'" in (Path(spawned["api-1"]["path"]) / ".env.worktree").read_text()
    )

    # The guard holds the scope: ui-1 cannot commit into the API.
    ui = Path(spawned["ui-1"]["path"])
    (ui / "src/api").mkdir(parents=True)
    (ui / "src/api/auth.py").write_text("stolen\n")
    git(ui, "add", "--sparse", "src/api/auth.py")
    refused = subprocess.run(["git", "commit", "-qm", "x"], cwd=ui, capture_output=True, text=True)
    assert refused.returncode != 0 and "src/api/auth.py" in refused.stderr


def test_spawn_all_takes_overlapping_tracks_and_warns_about_each_pair(tmp_path: Path) -> None:
    root = _shop(tmp_path)
    result = _spawn(root, "4", "all")
    assert [item["task"] for item in result["spawned"]] == ["api-1", "docs-1", "ui-1", "wide-1"]
    warnings = result["warnings"]
    assert any("track:wide-1 and track:api-1" in w for w in warnings)
    assert any("track:wide-1 and track:ui-1" in w for w in warnings)
    assert not any("docs-1" in w for w in warnings)


def test_spawn_counts_busy_slots_and_says_why_the_rest_were_not_possible(tmp_path: Path) -> None:
    root = _shop(tmp_path)
    first = _spawn(root, "1")
    assert [item["task"] for item in first["spawned"]] == ["api-1"]  # best priority first
    second = _spawn(root, "3")
    assert [item["task"] for item in second["spawned"]] == ["docs-1", "ui-1"]
    reasons = {skip["track"]: skip["reason"] for skip in second["skipped"]}
    assert "already assigned" in reasons["track:api-1"]
    assert "overlaps pool-wt-1" in reasons["track:wide-1"]

    before = snapshot(root)
    again = wtpool(root, "spawn", "2")
    assert again.returncode == 1
    assert "error: nothing to spawn: 3 tracks already assigned, 1 track overlapping" in again.stderr
    assert "Traceback" not in again.stderr
    assert snapshot(root) == before


def test_dry_run_and_recommend_show_the_same_picks_and_change_nothing(tmp_path: Path) -> None:
    root = _shop(tmp_path)
    before = snapshot(root)
    dry = _spawn(root, "4", "--dry-run")
    recommended = json.loads(wtpool(root, "tracks", "recommend", "4", "--json").stdout)
    assert snapshot(root) == before
    assert [s["task"] for s in dry["spawned"]] == [p["task"] for p in recommended["picks"]]
    assert all(s["slot"] is None for s in dry["spawned"])
    assert [p["track"] for p in recommended["picks"]] == [
        "track:api-1",
        "track:docs-1",
        "track:ui-1",
    ]


def test_conflicts_name_a_shared_path_and_the_tracked_files_both_match(tmp_path: Path) -> None:
    root = _shop(tmp_path)
    report = json.loads(wtpool(root, "tracks", "conflicts", "--json").stdout)
    pairs = {(c["first"], c["second"]): c for c in report["conflicts"]}
    assert set(pairs) == {("track:api-1", "track:wide-1"), ("track:ui-1", "track:wide-1")}
    api = pairs[("track:api-1", "track:wide-1")]
    assert api["tracked"] == ["src/api/auth.py", "src/api/rate.py"]
    assert api["example"].startswith("src/api/")


def test_analyze_shows_scope_sources_readiness_and_assignment(tmp_path: Path) -> None:
    root = _shop(tmp_path)
    _spawn(root, "1")
    analysis = json.loads(wtpool(root, "tracks", "analyze", "--json").stdout)
    tracks = {t["id"]: t for t in analysis["tracks"]}
    api = tracks["track:api-1"]
    assert [t["id"] for t in api["tasks"]] == ["api-1", "api-2"]
    assert [t["ready"] for t in api["tasks"]] == [True, False]
    assert api["tasks"][0]["scope_source"] == "metadata.files"
    assert api["assigned_to"] == "pool-wt-1"
    assert "track:old-1" not in tracks  # closed work forms no track


# --- agents ---------------------------------------------------------------------------------

AGENT = """\
import os, pathlib, subprocess, sys
task, brief = sys.argv[1], sys.argv[2]
print("agent for", task, "in", os.getcwd(), "brief", brief, flush=True)
note = pathlib.Path("src/api/done-" + task + ".txt")
note.write_text(pathlib.Path(brief).read_text().splitlines()[0] + "\\n")
subprocess.run(["git", "add", str(note)], check=True)
subprocess.run(["git", "commit", "-qm", "agent: " + task], check=True)
sys.exit(7)
"""


def _script(tmp: Path, name: str, text: str) -> str:
    path = tmp / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def _wait_for(predicate: Callable[[], bool], what: str, seconds: float = 60.0) -> None:
    """Polls: agents are separate processes. The limit only keeps a broken test from hanging."""
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _process(root: Path, slot: str) -> dict | None:
    return _status(root)[slot]["agent_process"]


def test_a_spawned_agent_works_in_its_slot_and_status_shows_its_exit(tmp_path: Path) -> None:
    script = _script(tmp_path, "agent.py", AGENT)
    root = _shop(tmp_path, [sys.executable, script, "{task}", "{brief}"])
    (item,) = _spawn(root, "1")["spawned"]
    assert item["agent_pid"]
    _wait_for(lambda: _process(root, item["slot"])["state"] == "exited", "the agent to exit")
    process = _process(root, item["slot"])
    assert process["exit_code"] == 7
    log = Path(process["log"]).read_text()
    assert f"agent for api-1 in {item['path']}" in log
    # Its commit is on the task's branch, and holds the brief's first line.
    assert git(root, "log", "-1", "--format=%s", "wtpool/task/api-1") == "agent: api-1"
    assert git(root, "show", "wtpool/task/api-1:src/api/done-api-1.txt") == "# api-1: API auth"
    text = wtpool(root, "status").stdout
    assert "exited 7" in text


SLEEPER = """\
import signal, subprocess, sys, time
if sys.argv[1] == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
print("child", child.pid, flush=True)
time.sleep(600)
"""


def _child_pid(log: Path) -> int:
    _wait_for(lambda: log.is_file() and "child " in log.read_text(), "the agent's child")
    line = next(line for line in log.read_text().splitlines() if line.startswith("child "))
    return int(line.split()[1])


@pytest.mark.parametrize(("kind", "outcome"), [("polite", "stopped"), ("stubborn", "killed")])
def test_stop_ends_the_agents_whole_process_group(tmp_path: Path, kind: str, outcome: str) -> None:
    script = _script(tmp_path, "sleeper.py", SLEEPER)
    root = _shop(tmp_path, [sys.executable, script, kind], grace=0.5)
    (item,) = _spawn(root, "1")["spawned"]
    log = root / ".agent-worktrees" / "logs" / f"{item['slot']}.log"
    child = _child_pid(log)
    assert _process(root, item["slot"])["state"] == "running"

    result = wtpool(root, "stop", item["slot"], "--json")
    assert result.returncode == 0, result.stderr
    (stopped,) = json.loads(result.stdout)
    assert stopped["outcome"] == outcome
    for pid in (item["agent_pid"], child):
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    process = _process(root, item["slot"])
    assert process["state"] == "exited"
    assert process["exit_code"] == (-15 if kind == "polite" else -9)


def test_a_recycled_pid_is_never_taken_for_the_agent(tmp_path: Path) -> None:
    root = _shop(tmp_path)
    (item,) = _spawn(root, "1")["spawned"]
    # Record a live process that is not the agent: this test's own pid, with another start.
    with sqlite3.connect(root / ".agent-worktrees" / "state.db") as conn:
        conn.execute(
            "UPDATE slots SET agent_pid = ?, agent_started = 1.0 WHERE name = ?",
            (os.getpid(), item["slot"]),
        )
    assert _process(root, item["slot"])["state"] == "missing"
    result = wtpool(root, "stop", item["slot"], "--json")
    assert json.loads(result.stdout)[0]["outcome"] == "not running"
    assert psutil.pid_exists(os.getpid())  # and it was never signalled


def test_release_waits_for_the_agent_and_cleanup_stops_it(tmp_path: Path) -> None:
    script = _script(tmp_path, "sleeper.py", SLEEPER)
    root = _shop(tmp_path, [sys.executable, script, "polite"], grace=5)
    (item,) = _spawn(root, "1")["spawned"]
    _child_pid(root / ".agent-worktrees" / "logs" / f"{item['slot']}.log")
    assert_one_line_error(wtpool(root, "release", item["slot"]), 1, "still running")

    result = wtpool(root, "cleanup", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [s["outcome"] for s in report["stopped_agents"]] == ["stopped"]
    assert not psutil.pid_exists(item["agent_pid"]) or (
        psutil.Process(item["agent_pid"]).status() == psutil.STATUS_ZOMBIE
    )
    assert not (root / ".agent-worktrees" / item["slot"]).exists()
    assert not (root / ".agent-worktrees" / ".briefs").exists()
    assert (root / ".agent-worktrees" / "logs" / f"{item['slot']}.log").is_file()


def test_a_queued_spawn_gets_its_agent_when_a_slot_frees_up(tmp_path: Path) -> None:
    script = _script(tmp_path, "sleeper.py", SLEEPER)
    root = _shop(tmp_path, [sys.executable, script, "polite"], grace=5, maximum=1)
    result = _spawn(root, "2")
    assert [s["task"] for s in result["spawned"]] == ["api-1"]
    assert [(q["task"], q["position"]) for q in result["queued"]] == [("docs-1", 1)]

    assert wtpool(root, "stop", "pool-wt-1").returncode == 0
    released = json.loads(wtpool(root, "release", "pool-wt-1", "--json").stdout)
    assert released["handed_to"] == "docs-1"
    slot = _status(root)["pool-wt-1"]
    assert (slot["task"], slot["track"]) == ("docs-1", "track:docs-1")
    assert slot["agent_process"]["state"] == "running"
    env = (root / ".agent-worktrees" / "pool-wt-1" / ".env.worktree").read_text()
    assert "WTPOOL_TASK='docs-1'" in env
    assert wtpool(root, "stop", "--all").returncode == 0


# --- assign ---------------------------------------------------------------------------------


def test_assign_puts_a_named_agent_on_a_tasks_track(tmp_path: Path) -> None:
    root = _shop(tmp_path)
    claim = json.loads(wtpool(root, "assign", "alice", "ui-1", "--json").stdout)
    assert (claim["agent"], claim["task"], claim["track"]) == ("alice", "ui-1", "track:ui-1")
    assert claim["scope"] == ["src/ui/"] and claim["branch"] == "wtpool/task/ui-1"
    assert claim["agent_pid"] is None  # assign names an agent; it starts nothing

    before = snapshot(root)
    assert_one_line_error(wtpool(root, "assign", "bob", "wide-1"), 1, "overlaps pool-wt-1")
    assert_one_line_error(wtpool(root, "assign", "bob", "api-2"), 1, "not ready")
    assert_one_line_error(wtpool(root, "assign", "bob", "nope"), 2, "no task 'nope'")
    assert snapshot(root) == before

    forced = json.loads(wtpool(root, "assign", "bob", "wide-1", "--force", "--json").stdout)
    assert forced["slot"] and forced["track"] == "track:wide-1"


# --- concurrency and generated graphs -------------------------------------------------------


def test_concurrent_spawns_never_take_overlapping_tracks(tmp_path: Path) -> None:
    files = {"README.md": "x\n", **{f"pkg{i}/mod.py": f"{i}\n" for i in range(6)}}
    root = make_repo(tmp_path / "many", files)
    # Two task files over the same tree: narrow tracks, and wide ones that each overlap two
    # narrow ones. Spawns reading different files share no task and no track id, so only the
    # overlap check made inside each claim's transaction can keep them apart.
    narrow = [{"id": f"t{i}", "title": f"t{i}", "files": [f"pkg{i}/"]} for i in range(6)]
    wide = [
        {"id": f"w{i}", "title": f"w{i}", "files": [f"pkg{i}/", f"pkg{i + 1}/"]} for i in range(5)
    ]
    configs = []
    for name, tasks in (("narrow", narrow), ("wide", wide)):
        (root / f"{name}.yaml").write_text(json.dumps({"tasks": tasks}))
        config = root / f"wtpool-{name}.yaml"
        config.write_text(_config().replace("max: 4", "max: 10") + f"  path: {name}.yaml\n")
        configs.append(config)
    init = wtpool(root, "--config", str(configs[0]), "init", "--min", "1", "--max", "10")
    assert init.returncode == 0, init.stderr
    racers = [
        subprocess.Popen(
            [sys.executable, "-m", "worktree_pool", "--config", str(config), "spawn", "3"],
            cwd=root,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for config in configs * 3
    ]
    for racer in racers:
        racer.wait(timeout=300)
    busy = [s for s in _status(root).values() if s["state"] == "busy"]
    assert len(busy) >= 3
    tracks = [s["track"] for s in busy]
    assert len(tracks) == len(set(tracks))
    for i, first in enumerate(busy):
        for second in busy[i + 1 :]:
            assert scopes_overlap(tuple(first["scope"]), tuple(second["scope"])) is None, (
                first["track"],
                second["track"],
            )


LEAVER = """\
import os, subprocess, sys
# A background job that outlives the agent, in the agent's process group.
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
print("git env:", os.environ.get("GIT_DIR"), os.environ.get("GIT_INDEX_FILE"), flush=True)
print("pwd:", os.environ.get("PWD"), flush=True)
"""


def test_what_an_agent_leaves_running_keeps_the_slot_busy_until_stopped(tmp_path: Path) -> None:
    script = _script(tmp_path, "leaver.py", LEAVER)
    root = _shop(tmp_path, [sys.executable, script], grace=5)
    # Even when spawn runs from a git hook, the agent must not inherit git's location.
    spawned = wtpool(
        root, "spawn", "1", "--json", env={"GIT_DIR": "/elsewhere", "GIT_INDEX_FILE": "/x"}
    )
    assert spawned.returncode == 0, spawned.stderr
    (item,) = json.loads(spawned.stdout)["spawned"]
    log = root / ".agent-worktrees" / "logs" / f"{item['slot']}.log"
    _wait_for(lambda: "pwd:" in log.read_text(), "the agent to finish")
    assert "git env: None None" in log.read_text()
    assert f"pwd: {item['path']}" in log.read_text()
    _wait_for(lambda: _process(root, item["slot"])["processes"] == 1, "the runner to exit")

    process = _process(root, item["slot"])
    assert process["state"] == "running"  # its background job is still in the slot
    assert_one_line_error(wtpool(root, "release", item["slot"]), 1, "still running")
    (stopped,) = json.loads(wtpool(root, "stop", item["slot"], "--json").stdout)
    assert stopped["outcome"] == "stopped" and stopped["exit_code"] == 0
    assert _process(root, item["slot"])["state"] == "exited"
    assert wtpool(root, "release", item["slot"]).returncode == 0


def test_an_agent_whose_runner_was_killed_is_still_found_and_stopped(tmp_path: Path) -> None:
    script = _script(tmp_path, "sleeper.py", SLEEPER)
    root = _shop(tmp_path, [sys.executable, script, "polite"], grace=5)
    (item,) = _spawn(root, "1")["spawned"]
    child = _child_pid(root / ".agent-worktrees" / "logs" / f"{item['slot']}.log")
    os.kill(item["agent_pid"], 9)
    _wait_for(lambda: _process(root, item["slot"])["processes"] == 2, "the runner to die")
    assert _process(root, item["slot"])["state"] == "running"  # the agent and its child

    (stopped,) = json.loads(wtpool(root, "stop", item["slot"], "--json").stdout)
    assert stopped["outcome"] == "stopped"
    assert stopped["exit_code"] == -9  # the runner's record is gone; stop says it was killed
    assert not psutil.pid_exists(child) or psutil.Process(child).status() == psutil.STATUS_ZOMBIE


def test_a_relative_agent_program_is_read_from_the_main_worktree(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "shop", {**FILES, "tools/agent.sh": "#!/bin/sh\necho ran $1\n"})
    (root / "tools/agent.sh").chmod(0o755)
    (root / "tasks.yaml").write_text(TASKS)
    (root / "wtpool.yaml").write_text(_config(["tools/agent.sh", "{task}"]))
    make_pool(root, 1, 4)
    (item,) = _spawn(root, "1")["spawned"]  # its scope, src/api/, hides tools/
    _wait_for(lambda: _process(root, item["slot"])["state"] == "exited", "the agent to exit")
    assert _process(root, item["slot"])["exit_code"] == 0
    log = root / ".agent-worktrees" / "logs" / f"{item['slot']}.log"
    assert "ran api-1" in log.read_text()


def test_assign_refuses_a_track_that_is_already_assigned_unless_forced(tmp_path: Path) -> None:
    root = _shop(tmp_path)
    # An epic's two children: one track, both ready, from a Beads export.
    beads = root / ".beads"
    beads.mkdir()
    issues = [
        {"id": "cart", "title": "Cart", "status": "open", "issue_type": "epic"},
        {
            "id": "cart-total",
            "title": "Totals",
            "status": "open",
            "labels": ["files:src/ui/"],
            "dependencies": [{"depends_on_id": "cart", "type": "parent-child"}],
        },
        {
            "id": "cart-tax",
            "title": "Tax",
            "status": "open",
            "labels": ["files:src/ui/tax/"],
            "dependencies": [{"depends_on_id": "cart", "type": "parent-child"}],
        },
    ]
    (beads / "issues.jsonl").write_text("\n".join(json.dumps(i) for i in issues) + "\n")
    (root / "wtpool.yaml").write_text("pool:\n  min: 1\n  max: 4\n")  # tasks.source: beads

    first = json.loads(wtpool(root, "assign", "alice", "cart-tax", "--json").stdout)
    assert first["track"] == "track:cart"
    before = snapshot(root)
    assert_one_line_error(
        wtpool(root, "assign", "bob", "cart-total"),
        1,
        "track:cart is already assigned to pool-wt-1",
    )
    assert snapshot(root) == before
    forced = json.loads(wtpool(root, "assign", "bob", "cart-total", "--force", "--json").stdout)
    assert forced["track"] == "track:cart" and forced["slot"] != first["slot"]

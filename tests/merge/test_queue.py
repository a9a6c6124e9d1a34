"""The merge queue through the real CLI: concurrent landings that lose no commit, conflicts,
scope and reservation refusals, the gate, a base checked out in the main worktree, the three
strategies, order, pushing, tasks marked done, and recovery after a processor is killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import (
    Pool,
    git,
    make_pool,
    make_repo,
    wtpool,
    wtpool_json,
)
from worktree_pool.merge import landing
from worktree_pool.merge import queue as merge_queue
from worktree_pool.util.testpoints import VARIABLE as TEST_POINT


def _config(root: Path, text: str) -> None:
    (root / "wtpool.yaml").write_text(text)


def _slot_with_commits(pool: Pool, task: str, files: dict[str, str], scope: str | None) -> Path:
    """Acquire a slot for `task` and commit each file in a commit of its own; its path."""
    args = ["acquire", "--agent", f"agent-{task}", "--task", task]
    claimed = wtpool_json(pool.root, *args, *(["--scope", scope] if scope else []))
    assert claimed["path"], json.dumps(claimed)
    path = Path(claimed["path"])
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
        git(path, "add", "--sparse", name)
        git(path, "commit", "--quiet", "--no-verify", "-m", f"{task}: {name}")
    return path


def _merge(root: Path, target: str, *args: str) -> subprocess.CompletedProcess:
    return wtpool(root, "merge", target, "--wait", *args)


def _entry(root: Path, target_branch: str) -> dict:
    entries = [e for e in wtpool_json(root, "queue")["entries"] if e["branch"] == target_branch]
    return entries[-1]


def _main(root: Path) -> str:
    return git(root, "rev-parse", "refs/heads/main")


@pytest.fixture
def pool(repo: Path) -> Pool:
    return make_pool(repo, 3, 10)


def test_twenty_processes_land_twenty_branches_and_lose_no_commit(pool: Pool) -> None:
    commits: list[str] = []
    tasks = [f"t{n}" for n in range(20)]
    for first, batch in ((True, tasks[:10]), (False, tasks[10:])):
        for task in batch:
            path = _slot_with_commits(
                pool, task, {f"src/{task}/a.txt": "a\n", f"src/{task}/b.txt": "b\n"}, None
            )
            commits += git(path, "rev-list", "main..HEAD").split()
        if first:  # these ten land by task name, their slots released
            for n in range(1, 11):
                assert wtpool(pool.root, "release", f"pool-wt-{n}").returncode == 0
    assert len(commits) == 40
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "worktree_pool", "merge", task, "--wait", "--json"],
            cwd=pool.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for task in tasks
    ]
    results = [process.communicate(timeout=300) for process in processes]
    for process, (out, err) in zip(processes, results, strict=True):
        assert process.returncode == 0, err
        assert json.loads(out)["entry"]["state"] == "merged"
    for commit in commits:
        assert git(pool.root, "merge-base", "--is-ancestor", commit, "main") == ""
    landings = git(pool.root, "rev-list", "--first-parent", "--merges", "main").split()
    assert len(landings) == 20
    # main is checked out in the main worktree: it followed every landing.
    assert git(pool.root, "status", "--porcelain", "--untracked-files=no") == ""
    assert all((pool.root / "src" / task / "b.txt").is_file() for task in tasks)


def test_of_a_conflicting_pair_one_lands_and_the_other_is_conflict_with_its_paths(
    pool: Pool,
) -> None:
    first = _slot_with_commits(pool, "one", {"src/app.py": "print('one')\n"}, "src/")
    second = _slot_with_commits(pool, "two", {"src/app.py": "print('two')\n"}, "src/")
    second_tip = git(second, "rev-parse", "HEAD")
    assert _merge(pool.root, "one").returncode == 0
    landed = _main(pool.root)
    refused = _merge(pool.root, "two", "--json")
    assert refused.returncode == 1
    entry = json.loads(refused.stdout)["entry"]
    assert entry["state"] == "conflict"
    assert entry["paths"] == ["src/app.py"]
    assert _main(pool.root) == landed  # nothing of the loser landed
    assert git(second, "rev-parse", "HEAD") == second_tip  # its branch is intact
    assert git(pool.root, "rev-parse", "wtpool/task/two") == second_tip
    inbox = wtpool_json(pool.root, "mail", "inbox", "agent-two")
    assert any("conflict" in message["subject"] for message in inbox)
    assert first.is_dir()


def test_a_change_outside_the_scope_is_rejected_with_its_paths(pool: Pool) -> None:
    # --no-verify and --sparse get past the guard, as an agent could: the queue checks again.
    _slot_with_commits(pool, "narrow", {"src/app.py": "x\n", "docs/guide.md": "y\n"}, "src/")
    before = _main(pool.root)
    refused = _merge(pool.root, "narrow", "--json")
    assert refused.returncode == 1
    entry = json.loads(refused.stdout)["entry"]
    assert (entry["state"], entry["paths"]) == ("rejected", ["docs/guide.md"])
    assert "outside the task's scope" in entry["reason"]
    assert _main(pool.root) == before


def test_a_path_another_agent_holds_exclusively_is_rejected(pool: Pool) -> None:
    _slot_with_commits(pool, "wide", {"docs/guide.md": "mine\n"}, None)
    assert wtpool(pool.root, "reserve", "bob", "docs/").returncode == 0
    before = _main(pool.root)
    refused = _merge(pool.root, "wide", "--json")
    entry = json.loads(refused.stdout)["entry"]
    assert refused.returncode == 1
    assert (entry["state"], entry["paths"]) == ("rejected", ["docs/guide.md"])
    assert "bob" in entry["reason"]
    assert _main(pool.root) == before


def test_a_failing_gate_does_not_land_and_a_passing_one_runs_on_the_merged_tree(
    pool: Pool, tmp_path: Path
) -> None:
    seen = tmp_path / "gate-saw"
    gate = f"if test -f src/broken.txt; then echo [gate] broken; exit 1; fi; ls src > {seen}"
    _config(pool.root, f"merge:\n  test_command: [sh, -c, '{gate}']\n")
    _slot_with_commits(pool, "one", {"src/one.txt": "1\n"}, "src/")
    _slot_with_commits(pool, "two", {"src/two.txt": "2\n"}, "src/")
    _slot_with_commits(pool, "bad", {"src/broken.txt": "x\n"}, "src/")
    assert _merge(pool.root, "one").returncode == 0
    assert _merge(pool.root, "two").returncode == 0
    # The gate saw the base's landed work and the branch's together: bors' rule.
    assert seen.read_text().split() == ["app.py", "one.txt", "two.txt", "util.py"]
    passed = _main(pool.root)
    refused = _merge(pool.root, "bad")
    entry = _entry(pool.root, "wtpool/task/bad")
    assert refused.returncode == 1
    assert "[gate] broken" in refused.stdout.splitlines()  # as the gate printed it
    assert entry["state"] == "failed-tests"
    assert "exited with 1" in entry["reason"]
    assert _main(pool.root) == passed
    assert not (pool.root / "src" / "broken.txt").exists()
    inbox = wtpool_json(pool.root, "mail", "inbox", "agent-bad")
    assert any("failed-tests" in message["subject"] for message in inbox)
    # The scratch worktrees the gate ran in are gone.
    assert ".merge" not in git(pool.root, "worktree", "list")


def test_a_base_checked_out_in_the_main_worktree_follows_and_keeps_local_changes(
    pool: Pool,
) -> None:
    _slot_with_commits(pool, "lands", {"src/app.py": "print('landed')\n"}, "src/")
    (pool.root / "docs" / "guide.md").write_text("my local edit\n")  # a path it does not touch
    assert _merge(pool.root, "lands").returncode == 0
    assert (pool.root / "src" / "app.py").read_text() == "print('landed')\n"
    assert (pool.root / "docs" / "guide.md").read_text() == "my local edit\n"
    status = git(pool.root, "status", "--porcelain", "--untracked-files=no")
    assert status == " M docs/guide.md"
    assert git(pool.root, "diff", "HEAD", "--stat", "--", "src") == ""


def test_a_local_change_the_landing_would_overwrite_refuses_the_landing(pool: Pool) -> None:
    _slot_with_commits(pool, "lands", {"src/app.py": "print('landed')\n"}, "src/")
    (pool.root / "src" / "app.py").write_text("my unsaved work\n")
    before = _main(pool.root)
    refused = _merge(pool.root, "lands", "--json")
    entry = json.loads(refused.stdout)["entry"]
    assert refused.returncode == 1
    assert entry["state"] == "rejected"
    assert entry["paths"] == ["src/app.py"]
    assert "commit or stash" in entry["reason"]
    assert _main(pool.root) == before
    assert (pool.root / "src" / "app.py").read_text() == "my unsaved work\n"
    # Once the user commits, the same branch can be merged: it conflicts, honestly.
    git(pool.root, "commit", "--quiet", "-am", "mine")
    again = _merge(pool.root, "lands", "--json")
    assert json.loads(again.stdout)["entry"]["state"] == "conflict"


def test_squash_lands_one_commit_that_names_the_task_and_keeps_its_author(pool: Pool) -> None:
    _config(pool.root, "merge:\n  strategy: squash\n")
    path = _slot_with_commits(pool, "sq", {"src/a.txt": "a\n", "src/b.txt": "b\n"}, "src/")
    before = _main(pool.root)
    assert _merge(pool.root, "sq").returncode == 0
    parents = git(pool.root, "rev-list", "--parents", "-n1", "main").split()
    assert parents[1:] == [before]
    message = git(pool.root, "log", "-1", "--format=%B", "main")
    assert message.startswith("sq: ") and "sq: src/a.txt" in message
    assert git(pool.root, "log", "-1", "--format=%an|%cn", "main") == "Test Author|wtpool"
    assert git(pool.root, "diff", "main", git(path, "rev-parse", "HEAD"), "--stat") == ""


def test_rebase_replays_the_commits_linearly(pool: Pool) -> None:
    _config(pool.root, "merge:\n  strategy: rebase\n")
    _slot_with_commits(pool, "other", {"docs/new.md": "n\n"}, "docs/")
    _slot_with_commits(pool, "rb", {"src/a.txt": "a\n", "src/b.txt": "b\n"}, "src/")
    assert _merge(pool.root, "other").returncode == 0
    assert _merge(pool.root, "rb").returncode == 0
    assert git(pool.root, "rev-list", "--merges", "main") == ""
    subjects = git(pool.root, "log", "--format=%s", "-3", "main").splitlines()
    assert subjects == ["rb: src/b.txt", "rb: src/a.txt", "other: docs/new.md"]
    assert git(pool.root, "status", "--porcelain", "--untracked-files=no") == ""


def test_order_follows_dependencies_then_priority_then_arrival(pool: Pool) -> None:
    (pool.root / "tasks.yaml").write_text(
        "tasks:\n"
        "  - id: late\n    priority: 0\n    depends_on: [dep]\n"
        "  - id: dep\n    priority: 3\n"
        "  - id: urgent\n    priority: 1\n"
    )
    _config(pool.root, "tasks:\n  source: yaml\n")
    for task in ("late", "dep", "urgent"):
        _slot_with_commits(pool, task, {f"src/{task}.txt": task}, f"src/{task}.txt")
    repo, store = pool.repo, pool.store()
    for task in ("late", "dep", "urgent"):  # the library: enqueue now, land below
        merge_queue.enqueue(repo, store, task)
    assert [e.priority for e in merge_queue.list_entries(store)] == [0, 3, 1]
    ran = landing.run_queue(repo, store)
    assert ran is not None
    assert [entry.task for entry in ran.processed] == ["urgent", "dep", "late"]
    subjects = git(pool.root, "log", "--first-parent", "--format=%s", "-3", "main").splitlines()
    landed = [subject.split()[1] for subject in subjects]
    assert landed == ["wtpool/task/late", "wtpool/task/dep", "wtpool/task/urgent"]


def test_a_landed_yaml_task_is_closed_in_the_file_keeping_its_comments(pool: Pool) -> None:
    text = "# our tasks\ntasks:\n  - id: yt  # the first\n    title: Y\n  - {id: flow, title: F}\n"
    (pool.root / "tasks.yaml").write_text(text)
    _config(pool.root, "tasks:\n  source: yaml\n")
    _slot_with_commits(pool, "yt", {"src/y.txt": "y"}, "src/")
    _slot_with_commits(pool, "flow", {"docs/f.txt": "f"}, "docs/")
    merged = json.loads(_merge(pool.root, "yt", "--json").stdout)["entry"]
    assert any("marked task yt closed" in note for note in merged["notes"])
    assert _merge(pool.root, "flow").returncode == 0
    assert (pool.root / "tasks.yaml").read_text() == (
        "# our tasks\ntasks:\n  - id: yt  # the first\n    status: closed\n    title: Y\n"
        "  - {id: flow, status: closed, title: F}\n"
    )


def _beads_task_and_bd(pool: Pool, tmp_path: Path, task: str, bd_script: str) -> dict:
    """A Beads export holding `task`, a slot with work for it, and a `bd` on PATH that runs
    `bd_script`; the environment that puts it there."""
    (pool.root / ".beads").mkdir()
    issue = {"id": task, "title": "T", "status": "open", "priority": 2, "issue_type": "task"}
    (pool.root / ".beads" / "issues.jsonl").write_text(json.dumps(issue) + "\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "bd").write_text(f"#!/bin/sh\n{bd_script}\n")
    (bin_dir / "bd").chmod(0o755)
    _slot_with_commits(pool, task, {"src/b.txt": "b"}, "src/")
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}"}


def test_a_landed_beads_task_is_closed_with_bd(pool: Pool, tmp_path: Path) -> None:
    record = tmp_path / "bd-args"
    env = _beads_task_and_bd(pool, tmp_path, "bd-1", f'echo "$@" > {record}')
    merged = wtpool(pool.root, "merge", "bd-1", "--wait", "--json", env=env)
    assert merged.returncode == 0, merged.stderr
    assert record.read_text().startswith("close bd-1 --reason merged as ")


def test_release_after_landing_frees_the_slot_and_deletes_the_merged_branch(pool: Pool) -> None:
    _slot_with_commits(pool, "rel", {"src/r.txt": "r"}, "src/")
    merged = json.loads(_merge(pool.root, "pool-wt-1", "--release", "--json").stdout)["entry"]
    assert merged["state"] == "merged"
    assert "released pool-wt-1" in merged["notes"]
    slots = {s["name"]: s["state"] for s in wtpool_json(pool.root, "status")["worktrees"]}
    assert slots["pool-wt-1"] == "idle"
    assert git(pool.root, "branch", "--list", "wtpool/task/rel") == ""


def test_without_wait_the_queue_lands_in_the_background(pool: Pool) -> None:
    _slot_with_commits(pool, "bg", {"src/bg.txt": "bg"}, "src/")
    queued = wtpool_json(pool.root, "merge", "bg")
    assert queued["entry"]["state"] == "queued"
    deadline = time.monotonic() + 60
    while _entry(pool.root, "wtpool/task/bg")["state"] != "merged":
        assert time.monotonic() < deadline, _entry(pool.root, "wtpool/task/bg")
        time.sleep(0.1)
    assert (pool.root / "src" / "bg.txt").read_text() == "bg"


def test_the_background_run_reads_the_configuration_the_merge_was_given(pool: Pool) -> None:
    _slot_with_commits(pool, "cf", {"src/cf.txt": "cf"}, "src/")
    gate = pool.root.parent / "gate.yaml"  # the repository's own file names no gate
    gate.write_text("merge:\n  test_command: [sh, -c, 'exit 3']\n")
    assert wtpool(pool.root, "--config", str(gate), "merge", "cf").returncode == 0
    deadline = time.monotonic() + 60
    while _entry(pool.root, "wtpool/task/cf")["state"] in ("queued", "merging"):
        assert time.monotonic() < deadline, _entry(pool.root, "wtpool/task/cf")
        time.sleep(0.1)
    assert _entry(pool.root, "wtpool/task/cf")["state"] == "failed-tests"


def test_a_push_that_loses_the_race_is_rebuilt_on_the_remote_and_retried(
    pool: Pool, tmp_path: Path
) -> None:
    remote = _bare_remote(pool, tmp_path)
    # Someone else lands between our fetch and our push, once: the hook moves the remote's
    # main to a commit of theirs and lets our push go on, which the lease must then refuse.
    other = make_repo(tmp_path / "other", {"theirs.txt": "theirs\n"})
    git(other, "fetch", "--quiet", str(remote), "main")
    git(other, "reset", "--quiet", "--hard", "FETCH_HEAD")
    (other / "theirs.txt").write_text("theirs\n")
    git(other, "add", "theirs.txt")
    git(other, "commit", "--quiet", "-m", "theirs")
    git(other, "push", "--quiet", str(remote), "HEAD:refs/heads/raced")
    theirs = git(other, "rev-parse", "HEAD")
    hook = remote / "hooks" / "pre-receive"
    flag = tmp_path / "raced-once"
    hook.write_text(
        f"#!/bin/sh\nif [ ! -e {flag} ]; then touch {flag}; "
        # Git forbids ref updates in a push's quarantine; the hook is standing in for another
        # pusher, who would not be in it.
        f"env -u GIT_QUARANTINE_PATH git update-ref refs/heads/main {theirs}; fi\nexit 0\n"
    )
    hook.chmod(0o755)
    _config(pool.root, "merge:\n  push: true\n")
    _slot_with_commits(pool, "pushed", {"src/p.txt": "p"}, "src/")
    merged = _merge(pool.root, "pushed", "--json")
    assert merged.returncode == 0, merged.stderr
    assert flag.exists()
    remote_main = git(remote, "rev-parse", "main")
    assert git(pool.root, "rev-parse", "main") == remote_main
    assert git(pool.root, "merge-base", "--is-ancestor", theirs, remote_main) == ""
    assert (pool.root / "theirs.txt").is_file()  # the checked-out main followed


def _bare_remote(pool: Pool, tmp_path: Path) -> Path:
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "--quiet", "--bare", str(remote))
    git(pool.root, "remote", "add", "origin", str(remote))
    git(pool.root, "push", "--quiet", "origin", "main")
    return remote


@pytest.mark.parametrize("point", ["merge.candidate", "merge.pushed", "merge.swapped"])
def test_a_processor_killed_at_each_step_is_finished_by_the_next_run_exactly_once(
    pool: Pool, tmp_path: Path, point: str
) -> None:
    remote = _bare_remote(pool, tmp_path)
    _config(pool.root, "merge:\n  strategy: squash\n  push: true\n")
    _slot_with_commits(pool, "crash", {"src/c.txt": "c\n"}, "src/")
    start = _main(pool.root)
    killed = wtpool(
        pool.root, "merge", "crash", "--wait", "--release", env={TEST_POINT: f"{point}:kill"}
    )
    assert killed.returncode == -signal.SIGKILL
    assert _entry(pool.root, "wtpool/task/crash")["state"] == "merging"
    report = wtpool_json(pool.root, "queue", "--run")
    entry = next(e for e in report["entries"] if e["branch"] == "wtpool/task/crash")
    assert entry["state"] == "merged", entry
    # Exactly one squash commit landed, here and on the remote, whatever step was cut short.
    assert git(pool.root, "rev-list", "--count", f"{start}..main") == "1"
    assert git(remote, "rev-parse", "main") == _main(pool.root)
    # The main worktree followed, the slot was released, and no scratch worktree is left.
    assert git(pool.root, "status", "--porcelain", "--untracked-files=no") == ""
    assert (pool.root / "src" / "c.txt").read_text() == "c\n"
    slots = {s["name"]: s["state"] for s in wtpool_json(pool.root, "status")["worktrees"]}
    assert slots["pool-wt-1"] == "idle"
    assert ".merge" not in git(pool.root, "worktree", "list")


def test_a_processor_killed_during_the_gate_leaves_nothing_the_next_run_cannot_finish(
    pool: Pool,
) -> None:
    import psutil

    _config(pool.root, "merge:\n  test_command: [sleep, '60']\n")
    _slot_with_commits(pool, "slow", {"src/s.txt": "s"}, "src/")
    before = _main(pool.root)
    process = subprocess.Popen(
        [sys.executable, "-m", "worktree_pool", "merge", "slow", "--wait"],
        cwd=pool.root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    scratch = pool.root / ".agent-worktrees" / ".merge"
    deadline = time.monotonic() + 60
    while not list(scratch.glob("scratch-*/src/s.txt")):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    for gate in psutil.process_iter(["cmdline", "cwd"]):  # the gate outlives a kill -9
        if gate.info["cmdline"] == ["sleep", "60"] and str(scratch) in (gate.info["cwd"] or ""):
            gate.kill()
    assert _entry(pool.root, "wtpool/task/slow")["state"] == "merging"
    assert _main(pool.root) == before
    _config(pool.root, "merge:\n  test_command: [sh, -c, 'test -f src/s.txt']\n")
    report = wtpool_json(pool.root, "queue", "--run")
    assert report["ran"] == 1
    assert _entry(pool.root, "wtpool/task/slow")["state"] == "merged"
    assert ".merge" not in git(pool.root, "worktree", "list")


def test_a_base_that_moves_between_build_and_swap_is_rebuilt_and_nothing_is_lost(
    pool: Pool, tmp_path: Path
) -> None:
    _slot_with_commits(pool, "raced", {"src/r.txt": "r\n"}, "src/")
    go = tmp_path / "go"
    process = subprocess.Popen(
        [sys.executable, "-m", "worktree_pool", "merge", "raced", "--wait"],
        cwd=pool.root,
        env={**os.environ, TEST_POINT: f"merge.candidate:wait:{go}"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not Path(f"{go}.reached").exists():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    (pool.root / "docs" / "theirs.md").write_text("a person's commit\n")
    git(pool.root, "add", "docs/theirs.md")
    git(pool.root, "commit", "--quiet", "-m", "a person commits to main meanwhile")
    theirs = _main(pool.root)
    go.touch()
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert git(pool.root, "rev-parse", "main^1") == theirs  # rebuilt on top of it
    assert git(pool.root, "merge-base", "--is-ancestor", "wtpool/task/raced", "main") == ""
    assert git(pool.root, "status", "--porcelain", "--untracked-files=no") == ""


def test_a_landed_entry_whose_after_steps_fail_stays_merged(pool: Pool, tmp_path: Path) -> None:
    env = _beads_task_and_bd(pool, tmp_path, "bd-2", "echo 'bd: database is locked' >&2; exit 3")
    merged = wtpool(pool.root, "merge", "bd-2", "--wait", "--json", env=env)
    assert merged.returncode == 0, merged.stderr
    entry = json.loads(merged.stdout)["entry"]
    assert entry["state"] == "merged"
    assert any("bd close bd-2` failed (bd: database is locked)" in n for n in entry["notes"])
    assert git(pool.root, "rev-list", "--count", "--merges", "main") == "1"


def test_an_entry_that_keeps_failing_does_not_hold_up_the_others(pool: Pool) -> None:
    broken = _slot_with_commits(pool, "broken", {"src/x.txt": "x"}, "src/")
    _slot_with_commits(pool, "fine", {"docs/f.md": "f"}, "docs/")
    tip = git(broken, "rev-parse", "HEAD")
    merge_queue.enqueue(pool.repo, pool.store(), "broken", priority=0)  # first in line
    # Its commit vanishes from the object store: git fails on it every time.
    (pool.root / ".git" / "objects" / tip[:2] / tip[2:]).unlink()
    assert _merge(pool.root, "fine").returncode == 0
    for attempt in (2, 3):
        assert wtpool(pool.root, "queue", "--run").returncode == 0
        entry = _entry(pool.root, "wtpool/task/broken")
        assert entry["attempts"] == attempt
    assert entry["state"] == "failed"
    assert entry["reason"].startswith("gave up after 3 failed attempts")


def test_a_push_the_remote_refuses_is_not_mistaken_for_a_race(pool: Pool, tmp_path: Path) -> None:
    remote = _bare_remote(pool, tmp_path)
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'main is protected' >&2\nexit 1\n")
    hook.chmod(0o755)
    _config(pool.root, "merge:\n  push: true\n")
    _slot_with_commits(pool, "denied", {"src/d.txt": "d"}, "src/")
    before = _main(pool.root)
    refused = _merge(pool.root, "denied", "--json")
    assert refused.returncode == 1
    entry = json.loads(refused.stdout)["entry"]
    assert entry["state"] == "failed"
    assert "pre-receive hook declined" in entry["reason"]
    assert _main(pool.root) == before


def test_cleanup_drops_queued_entries_and_keeps_their_branches(pool: Pool) -> None:
    path = _slot_with_commits(pool, "left", {"src/l.txt": "l"}, "src/")
    tip = git(path, "rev-parse", "HEAD")
    merge_queue.enqueue(pool.repo, pool.store(), "left")
    cleaned = wtpool_json(pool.root, "cleanup")
    assert cleaned["dropped_merges"] == ["wtpool/task/left"]
    assert git(pool.root, "rev-parse", "wtpool/task/left") == tip


def test_merge_warns_that_uncommitted_changes_are_not_merged(pool: Pool) -> None:
    path = _slot_with_commits(pool, "dirty", {"src/d.txt": "d"}, "src/")
    (path / "src" / "d.txt").write_text("not committed\n")
    merged = _merge(pool.root, "dirty")
    assert merged.returncode == 0
    assert "uncommitted changes: only its commits are merged" in merged.stdout
    assert (pool.root / "src" / "d.txt").read_text() == "d"

"""Batch landing: a queue run lands its entries as one chain with one swap, drops only the
entry that conflicts, bisects a batch whose gate fails, isolates an entry whose git fails, and
a run killed between the swap and the state update is settled exactly once by doctor."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.conftest import Pool, git, make_pool, wtpool, wtpool_json
from tests.merge.test_queue import _config, _main, _slot_with_commits
from worktree_pool.merge import queue as merge_queue
from worktree_pool.util.testpoints import VARIABLE as TEST_POINT


@pytest.fixture
def pool(repo: Path) -> Pool:
    return make_pool(repo, 3, 10)


def _queue(pool: Pool, tasks: dict[str, dict[str, str]]) -> None:
    """A slot with commits for each task, all queued, none landed yet."""
    for task, files in tasks.items():
        _slot_with_commits(pool, task, files, None)
    for task in tasks:
        merge_queue.enqueue(pool.repo, pool.store(), task)


def _states(report: dict) -> dict[str, str]:
    return {e["branch"].removeprefix("wtpool/task/"): e["state"] for e in report["entries"]}


def _swaps(root: Path) -> list[str]:
    """The queue's moves of main, newest first."""
    reflog = git(root, "reflog", "show", "--format=%gs", "refs/heads/main").splitlines()
    return [line for line in reflog if line.startswith("wtpool ")]


def test_a_batch_lands_every_entry_with_one_swap_and_loses_no_commit(pool: Pool) -> None:
    tasks = {f"b{n}": {f"src/b{n}/f.txt": f"{n}\n"} for n in range(5)}
    _queue(pool, tasks)
    commits = git(pool.root, "rev-list", "--all", "--not", "main").split()

    report = wtpool_json(pool.root, "queue", "--run")

    assert set(_states(report).values()) == {"merged"}
    assert _swaps(pool.root) == ["wtpool wtpool/task/b0 and 4 more"]
    for commit in commits:  # every branch commit reachable from main
        assert git(pool.root, "merge-base", "--is-ancestor", commit, "main") == ""
    landed = [e["landed"] for e in report["entries"]]
    assert landed[-1] == _main(pool.root) and len(set(landed)) == 5  # one link per entry
    # The main worktree, which has main checked out, followed the batch once, and is clean.
    assert git(pool.root, "status", "--porcelain", "--untracked-files=no") == ""
    assert all((pool.root / "src" / task / "f.txt").is_file() for task in tasks)


def test_batch_size_one_lands_each_entry_with_a_swap_of_its_own(pool: Pool) -> None:
    _config(pool.root, "merge:\n  batch_size: 1\n")
    _queue(pool, {f"s{n}": {f"src/s{n}.txt": "s\n"} for n in range(3)})
    report = wtpool_json(pool.root, "queue", "--run")
    assert set(_states(report).values()) == {"merged"}
    assert len(_swaps(pool.root)) == 3


def test_a_conflict_in_a_batch_drops_only_the_conflicting_entry(pool: Pool) -> None:
    _queue(
        pool,
        {
            "first": {"docs/guide.md": "the first agent's guide\n"},
            "clash": {"docs/guide.md": "another guide\n"},
            "other": {"src/other.txt": "other\n"},
        },
    )
    report = wtpool_json(pool.root, "queue", "--run")
    assert _states(report) == {"first": "merged", "clash": "conflict", "other": "merged"}
    clash = next(e for e in report["entries"] if e["branch"] == "wtpool/task/clash")
    assert clash["paths"] == ["docs/guide.md"]
    assert "wtpool/task/first landing first" in clash["reason"]
    assert len(_swaps(pool.root)) == 1
    assert (pool.root / "docs" / "guide.md").read_text() == "the first agent's guide\n"


def test_a_failing_gate_is_bisected_so_only_the_bad_entry_stays_out(
    pool: Pool, tmp_path: Path
) -> None:
    runs = tmp_path / "gate-runs"
    gate = f"echo run >> {runs}; ! git ls-files | grep -q BAD"
    _config(pool.root, f"merge:\n  test_command: [sh, -c, '{gate}']\n")
    tasks = {f"g{n}": {f"src/g{n}/ok.txt": "ok\n"} for n in range(8)}
    tasks["g5"] = {"src/g5/BAD.txt": "breaks the gate\n"}
    _queue(pool, tasks)

    report = wtpool_json(pool.root, "queue", "--run")

    states = _states(report)
    assert states.pop("g5") == "failed-tests"
    assert set(states.values()) == {"merged"}
    assert not (pool.root / "src" / "g5").exists()
    # Fewer gate runs than entries: halves, not one run each (2 log2(8) + 1 at most).
    assert len(runs.read_text().splitlines()) <= 7
    inbox = wtpool_json(pool.root, "mail", "inbox", "agent-g5")
    assert any("failed-tests" in message["subject"] for message in inbox)


def test_an_entry_whose_git_fails_does_not_hold_up_its_batch(pool: Pool) -> None:
    _queue(pool, {"good": {"src/good.txt": "g\n"}, "broken": {"docs/b.txt": "b\n"}})
    _slot_with_commits(pool, "late", {"src/late.txt": "l\n"}, None)
    merge_queue.enqueue(pool.repo, pool.store(), "late")
    tip = git(pool.root, "rev-parse", "wtpool/task/broken")
    (pool.root / ".git" / "objects" / tip[:2] / tip[2:]).unlink()

    report = wtpool_json(pool.root, "queue", "--run")

    states = _states(report)
    assert states["good"] == "merged" and states["late"] == "merged"
    assert states["broken"] == "queued"  # back in line with the reason, for the next run
    broken = next(e for e in report["entries"] if e["branch"] == "wtpool/task/broken")
    assert broken["reason"].startswith("attempt 1 of 3 failed")


def test_a_run_killed_between_the_swap_and_the_state_is_settled_once_by_doctor(
    pool: Pool,
) -> None:
    tasks = {f"k{n}": {f"src/k{n}.txt": f"{n}\n"} for n in range(3)}
    _queue(pool, tasks)
    start = _main(pool.root)
    killed = wtpool(pool.root, "queue", "--run", env={TEST_POINT: "merge.swapped:kill"})
    assert killed.returncode == -signal.SIGKILL
    assert set(_states(wtpool_json(pool.root, "queue")).values()) == {"merging"}
    assert git(pool.root, "rev-list", "--count", f"{start}..main") != "0"  # it had swapped

    fixed = wtpool(pool.root, "doctor", "--fix")

    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    report = wtpool_json(pool.root, "queue")
    assert set(_states(report).values()) == {"merged"}
    for entry in report["entries"]:
        assert (
            entry["notes"].count(
                "landed by a queue run that was stopped; this run finished the rest"
            )
            == 1
        )
    followed = [
        note for e in report["entries"] for note in e["notes"] if note.startswith("updated")
    ]
    assert len(followed) == 1  # the main worktree was brought along once, for the batch
    assert git(pool.root, "status", "--porcelain", "--untracked-files=no") == ""
    assert all((pool.root / "src" / f"{task}.txt").is_file() for task in tasks)
    assert len(_swaps(pool.root)) == 1  # nothing landed twice
    assert wtpool_json(pool.root, "doctor")["findings"] == []


def test_a_batch_size_out_of_range_is_refused(pool: Pool) -> None:
    _config(pool.root, "merge:\n  batch_size: 0\n")
    result = wtpool(pool.root, "queue", "--run")
    assert result.returncode != 0
    assert result.stderr.startswith("error:") and "merge.batch_size" in result.stderr
    assert "Traceback" not in result.stderr

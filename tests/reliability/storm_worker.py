"""One of the storm's workers (see test_storm.py): random wtpool calls until a deadline.

    python storm_worker.py ROOT WORKER_ID DEADLINE SEED OUT_FILE

It acts as agent `w<id>`, commits only in a slot it holds (as an agent would), and writes what
it did to OUT_FILE as JSON: each call's command and exit code, any stderr that was not a
clean error, and the commits it made.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import time
from pathlib import Path

TASKS = 12


def wtpool(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worktree_pool", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )


def commit_in(path: Path, area: str, agent: str, n: int) -> str | None:
    """A commit in the slot's own scope, as its agent would make; its id, or None."""
    target = path / f"area{area}" / f"{agent}-{n}.txt"
    try:
        target.write_text(f"{agent} {time.time()}\n")
    except OSError:
        return None
    for args in (["add", "--", str(target)], ["commit", "--quiet", "-m", f"{agent} work {n}"]):
        if subprocess.run(["git", *args], cwd=path, capture_output=True).returncode != 0:
            return None
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True)
    return head.stdout.strip()


def spawned_slots(root: Path) -> list[str]:
    """Busy slots that `spawn` filled: their agents are named after their tasks."""
    result = wtpool(root, "status", "--json")
    if result.returncode != 0:
        return []
    return [
        slot["name"]
        for slot in json.loads(result.stdout)["worktrees"]
        if slot["state"] == "busy" and re.fullmatch(r"t\d+", slot.get("agent") or "")
    ]


def main() -> None:
    root, worker, deadline, seed, out = (
        Path(sys.argv[1]),
        sys.argv[2],
        float(sys.argv[3]),
        int(sys.argv[4]),
        Path(sys.argv[5]),
    )
    agent = f"w{worker}"
    rng = random.Random(seed)
    calls, surprises, commits = [], [], []
    held: dict | None = None  # the slot this worker was assigned: {slot, path, task}
    committed_since_claim = False
    while time.time() < deadline:
        if held is None:
            action = rng.choices(
                ["assign", "spawn", "release-spawned", "reserve", "status"], [5, 2, 2, 1, 1]
            )[0]
        else:
            action = rng.choices(["work", "merge", "release", "reserve"], [5, 3, 2, 1])[0]
        args: list[str]
        if action == "work":
            assert held is not None
            sha = commit_in(Path(held["path"]), held["task"][1:], agent, len(commits))
            if sha:
                commits.append(sha)
                committed_since_claim = True
            continue
        if action == "assign":
            args = ["assign", agent, f"t{rng.randrange(TASKS)}", "--json"]
        elif action == "spawn":
            args = ["spawn", "1", "independent"]
        elif action == "release-spawned":
            spawned = spawned_slots(root)  # never a worker's: it may be committing there
            if not spawned:
                continue
            args = ["release", rng.choice(spawned)]
        elif action == "reserve":
            args = ["reserve", agent, f"area{rng.randrange(TASKS)}/f{rng.randrange(3)}.txt"]
        elif action == "status":
            args = ["status", "--json"]
        elif action == "merge":
            assert held is not None
            args = ["merge", held["slot"]] + (["--wait"] if rng.random() < 0.5 else [])
        else:
            assert held is not None
            args = ["release", held["slot"]]
        result = wtpool(root, *args)
        calls.append([args, result.returncode])
        clean = result.returncode in (0, 1, 2) and "Traceback" not in result.stderr
        if result.returncode != 0:
            lines = result.stderr.splitlines()
            clean = clean and bool(lines) and lines[0].startswith("error: ")
        if not clean:
            surprises.append([args, result.returncode, result.stderr[-2000:]])
        if action == "assign" and result.returncode == 0:
            claim = json.loads(result.stdout)
            if claim["slot"]:  # not queued
                held = {"slot": claim["slot"], "path": claim["path"], "task": args[2]}
                committed_since_claim = False
        elif action == "release" and result.returncode == 0:
            held = None
    if held is not None and committed_since_claim:  # the end of its time: land what it made
        args = ["merge", held["slot"], "--wait"]
        result = wtpool(root, *args)
        calls.append([args, result.returncode])
        if result.returncode not in (0, 1) or "Traceback" in result.stderr:
            surprises.append([args, result.returncode, result.stderr[-2000:]])
    out.write_text(json.dumps({"calls": calls, "surprises": surprises, "commits": commits}))


if __name__ == "__main__":
    main()

"""A smoke test of scripts/scope_eval.py on a small generated repository.

    python scripts/scope_eval_demo.py [--json] [--keep DIR]

Builds a Go-shaped repository whose Beads export (`.beads/issues.jsonl`) holds five closed
tasks, each implemented by commits that name it (`[demo-1] ...`, `demo-1: ...`), and three open
ones; then runs scope_eval.py on it, as a user would, and checks that what it reports makes
sense. CI runs it (.ci/run), so a change that breaks scope_eval, or the inference it measures,
fails there and not only when someone next measures a real repository.

The data is built so that the answer is known. Each closed task's title shares words with the
wrong directory (`Queue backs up under load` for a change in internal/scheduler/), while its
description names a function that the right file defines (`RunTick`): title keywords miss and
inference finds it. So `**` has recall 1 and breadth 1, inference has a higher recall than
title keywords at a far smaller breadth, and the open tasks' scopes do not overlap. Exit code
0 when all of that holds, 1 (with what failed) when it does not.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

SCOPE_EVAL = Path(__file__).resolve().parent / "scope_eval.py"

# A function per file, so each task's description can name one; a test calls what it tests.
CODE = {
    "internal/scheduler/scheduler.go": "func RunTick() {}\n",
    "internal/scheduler/scheduler_test.go": "func TestRunTick() { RunTick() }\n",
    "internal/scheduler/lease.go": "func RenewLease() {}\n",
    "internal/scheduler/lease_test.go": "func TestRenewLease() { RenewLease() }\n",
    "internal/dispatch/dispatch.go": "func SendWebhook() {}\n",
    "internal/dispatch/dispatch_test.go": "func TestSendWebhook() { SendWebhook() }\n",
    "internal/dispatch/tmux.go": "func StartSession() {}\n",
    "internal/dispatch/tmux_test.go": "func TestStartSession() { StartSession() }\n",
    "internal/store/store.go": "func SaveRecord() {}\n",
    "internal/store/store_test.go": "func TestSaveRecord() { SaveRecord() }\n",
    "internal/store/migrate.go": "func ApplyMigrations() {}\n",
    "internal/store/migrate_test.go": "func TestApplyMigrations() { ApplyMigrations() }\n",
    "internal/config/config.go": "func LoadConfig() {}\n",
    "internal/config/config_test.go": "func TestLoadConfig() { LoadConfig() }\n",
    # The decoys: paths whose words the closed tasks' titles use.
    "internal/queue/queue.go": "func Push() {}\n",
    "internal/queue/queue_test.go": "func TestPush() { Push() }\n",
    "internal/web/server.go": "func Serve() {}\n",
    "internal/web/server_test.go": "func TestServe() { Serve() }\n",
    "internal/web/handlers.go": "func Handle() {}\n",
    "cmd/tool/main.go": "func main() {}\n",
    "docs/guide.md": "# Guide\n",
    "docs/queue.md": "# Queues\n",
    "README.md": "# demo\n",
    "go.mod": "module example.com/demo\n",
    **{f"pkg/util{n}/util.go": f"func Util{n}() {{}}\n" for n in range(12)},
}

# (id, title, description, the files its commits change); the title misleads on purpose.
CLOSED = [
    (
        "demo-1",
        "Queue backs up when busy",
        "RunTick should yield when a tick overruns.",
        ["internal/scheduler/scheduler.go", "internal/scheduler/scheduler_test.go"],
    ),
    (
        "demo-2",
        "Web hooks retry forever",
        "SendWebhook must give up after five attempts.",
        ["internal/dispatch/dispatch.go", "internal/dispatch/dispatch_test.go"],
    ),
    (
        "demo-3",
        "Server loses records on restart",
        "SaveRecord must fsync before it returns.",
        ["internal/store/store.go", "internal/store/store_test.go"],
    ),
    (
        "demo-4",
        "Guide readers see migrations run twice",
        "ApplyMigrations must record what already ran.",
        ["internal/store/migrate.go", "internal/store/migrate_test.go"],
    ),
    (
        "demo-5",
        "Handlers hang on sessions",
        "StartSession needs a deadline.",
        ["internal/dispatch/tmux.go", "internal/dispatch/tmux_test.go"],
    ),
]
OPEN = [
    ("demo-6", "Lease renewal races", "RenewLease must compare and swap."),
    ("demo-7", "Defaults for every setting", "LoadConfig should fill in defaults."),
    ("demo-8", "Guide for newcomers", "Extend docs/guide.md with a walkthrough."),
]

# Commits by a fixed identity, with no user or system git config: the same repository on any
# machine, and no signing or hook settings of the user's to trip over.
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Demo",
    "GIT_AUTHOR_EMAIL": "demo@example.com",
    "GIT_COMMITTER_NAME": "Demo",
    "GIT_COMMITTER_EMAIL": "demo@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", *args],
        cwd=root,
        check=True,
        capture_output=True,
        env={**os.environ, **GIT_ENV},
    )


def _commit(root: Path, message: str, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as handle:
            handle.write(text)
    _git(root, "add", "--all")
    _git(root, "commit", "--quiet", "-m", message)


def build(root: Path) -> Path:
    """The demo repository at `root`, history and Beads export included."""
    root.mkdir(parents=True, exist_ok=True)
    _git(root, "init", "--quiet", "--initial-branch=main")
    _commit(root, "Start the demo project", CODE)
    for task_id, _, description, files in CLOSED:
        code, tests = files
        _commit(root, f"[{task_id}] {description}", {code: "// change\n"})
        _commit(root, f"{task_id}: tests", {tests: "// test\n"})
    tasks = [(i, t, d, "closed") for i, t, d, _ in CLOSED] + [(*task, "open") for task in OPEN]
    records = [
        {"id": i, "title": t, "description": d, "status": status, "priority": 2}
        for i, t, d, status in tasks
    ]
    export = "".join(json.dumps(record) + "\n" for record in records)
    _commit(root, "Sync the Beads export", {".beads/issues.jsonl": export})
    return root


def problems(result: dict[str, Any]) -> list[str]:
    """What is wrong with scope_eval's answer on the demo data; empty when all is well."""
    rows = {row["method"]: row for row in result["rows"]}
    everything, keywords, inferred = (
        rows["** (everything)"],
        rows["title keywords"],
        rows["wtpool"],
    )
    found = []
    if result["tasks"] != len(CLOSED):
        found.append(f"{result['tasks']} tasks measured, not {len(CLOSED)}")
    if (everything["mean_recall"], everything["median_breadth"]) != (1.0, 1.0):
        found.append(f"`**` should have recall 1 and breadth 1: {everything}")
    if not inferred["mean_recall"] > keywords["mean_recall"]:
        found.append(f"inference should beat title keywords: {inferred} vs {keywords}")
    if not inferred["median_breadth"] < 0.5:
        found.append(f"inferred scopes should be narrow: {inferred}")
    if result["independent_tracks"] < len(OPEN):
        found.append(f"{result['independent_tracks']} independent tracks, not {len(OPEN)}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print scope_eval's JSON")
    parser.add_argument("--keep", type=Path, help="build the repository here and keep it")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="scope-eval-demo-") as scratch:
        root = build(args.keep or Path(scratch) / "demo")
        done = subprocess.run(
            [sys.executable, str(SCOPE_EVAL), str(root), "--json"],
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        print(f"scope_eval.py failed:\n{done.stderr}", file=sys.stderr)
        return 1
    result = json.loads(done.stdout)
    if args.json:
        print(json.dumps(result))
    else:
        for row in result["rows"]:
            recall, full, breadth = row["mean_recall"], row["fully_covered"], row["median_breadth"]
            method = row["method"]
            print(f"{method:<48} recall {recall:.2f}  full {full:.0%}  breadth {breadth:.2f}")
        print(f"independent tracks: {result['independent_tracks']}")
    found = problems(result)
    for problem in found:
        print(f"scope_eval demo: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())

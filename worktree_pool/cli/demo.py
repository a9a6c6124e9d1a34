"""`wtpool demo`: a short, real session in a throwaway repository.

It builds a small shop repository with a task graph, then drives the same library functions the
commands call: `init`, `spawn 4 independent` (with a tiny scripted agent in each slot),
`status` and `cleanup`, printing each step as the command a user would type. Nothing outside
the temporary directory is touched.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from worktree_pool.agents.logs import log_path
from worktree_pool.agents.process import agent_process
from worktree_pool.cli.render import pool as render_pool
from worktree_pool.cli.render import tracks as render_tracks
from worktree_pool.cli.render.cleanup import show_cleanup
from worktree_pool.cli.render.common import console
from worktree_pool.config.settings import Mode
from worktree_pool.coord.cleanup import cleanup
from worktree_pool.coord.spawn import spawn
from worktree_pool.db.slots import list_databases
from worktree_pool.git.repo import Repository, open_repository
from worktree_pool.git.run import WTPOOL_IDENTITY, Git
from worktree_pool.pool.lifecycle import init_pool
from worktree_pool.pool.opening import open_store
from worktree_pool.pool.status import pool_status
from worktree_pool.store.protocol import Store
from worktree_pool.store.slots import all_slots

_FILES = {
    "README.md": "# shop\n",
    "src/api/auth.py": "def login(user):\n    return True\n",
    "src/ui/cart.js": "export const cart = [];\n",
    "docs/guide.md": "# Guide\n",
    "tests/test_auth.py": "def test_login():\n    assert True\n",
    "db/schema.sql": "CREATE TABLE visit (task text);\nINSERT INTO visit VALUES ('seed');\n",
}

_TASKS = {
    "tasks": [
        {"id": "api-auth", "title": "Token login", "priority": 1, "files": ["src/api/"]},
        {
            "id": "api-rate-limit",
            "title": "Rate-limit the login",
            "priority": 1,
            "depends_on": ["api-auth"],
            "files": ["src/api/"],
        },
        {"id": "ui-cart", "title": "Cart page", "priority": 2, "files": ["src/ui/"]},
        {"id": "docs-guide", "title": "Write the guide", "priority": 2, "files": ["docs/*.md"]},
        {"id": "src-rename", "title": "Rename modules", "priority": 3, "files": ["src/"]},
    ]
}

# The agent each slot runs: record its visit in its own database, append to the first file it
# can see, commit, and (for the cart) try to commit outside its scope, which the guard refuses;
# the docs agent also leaves notes it never commits, which cleanup saves. No braces:
# agent.command treats {name} as a placeholder.
_AGENT = """
import os, pathlib, subprocess, sys
task = sys.argv[1]
if os.environ.get("DATABASE_URL"):
    import psycopg
    with psycopg.connect(os.environ["DATABASE_URL"]) as db:
        db.execute("INSERT INTO visit VALUES (%s)", (task,))
        rows = db.execute("SELECT task FROM visit ORDER BY task").fetchall()
    print(task, "sees", [row[0] for row in rows], "in its database", os.environ["PGDATABASE"])
git = ["git", "-c", "user.name=demo agent", "-c", "user.email=agent@example.com"]
seen = sorted(p for p in pathlib.Path(".").rglob("*.*") if p.is_file()
              and ".git" not in p.parts and p.name not in ("README.md", ".env.worktree"))
with seen[0].open("a") as out:
    out.write("# " + task + " was here\\n")
subprocess.run(git + ["commit", "-qam", task + ": first step"], check=True)
print(task, "committed", seen[0])
if task == "ui-cart":
    stray = pathlib.Path("src/api/cart_hook.py")
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_text("hijacked\\n")
    subprocess.run(git + ["add", "--sparse", str(stray)], check=True)
    refused = subprocess.run(git + ["commit", "-qm", "reach"], capture_output=True, text=True)
    print(refused.stderr.strip())
    subprocess.run(git + ["rm", "-q", "--cached", "--sparse", str(stray)], check=True)
    stray.unlink()
if task == "docs-guide":
    pathlib.Path("docs/notes.md").write_text("ideas, not committed yet\\n")
"""


def _step(command: str, note: str = "") -> None:
    console.print()
    console.print(f"[bold cyan]$ {command}[/]" + (f"   [dim]# {note}[/]" if note else ""))


def _make_repository(path: Path) -> Git:
    for name, text in _FILES.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text, encoding="utf-8")
    (path / "tasks.yaml").write_text(json.dumps(_TASKS, indent=1) + "\n", encoding="utf-8")
    config = {
        "pool": {"min": 2, "max": 4},
        "tasks": {"source": "yaml"},
        "agent": {"command": [sys.executable, "-c", _AGENT, "{task}"]},
        "database": {"mode": "embedded", "setup": ["db/schema.sql"]},
    }
    (path / "wtpool.yaml").write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")
    git = Git(path, 60, pin=False)  # `git init`: no worktree to pin to yet
    git.run("init", "--quiet", "--initial-branch=main")
    git.run("add", "--all")
    git.run("commit", "--quiet", "-m", "initial commit", env=WTPOOL_IDENTITY)
    return git


def run_demo(keep: bool) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="wtpool-demo-"))
    try:
        _session(workdir / "shop")
    finally:
        if keep:
            console.print(f"\nthe demo repository is kept at {workdir / 'shop'}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def _session(root: Path) -> None:
    root.mkdir()
    git = _make_repository(root)
    console.print(
        f"a throwaway repository at {root}: {len(_FILES)} files and a task graph of "
        f"{len(_TASKS['tasks'])} tasks in tasks.yaml; each spawned slot runs a small agent script"
    )

    _step("wtpool init")
    repo = open_repository(root)
    render_pool.show_init(init_pool(repo, 2, 4, None))
    with open_store(repo) as store:
        _step("wtpool spawn 4 independent", "tracks that share no files, each in its own slot")
        result = spawn(repo, store, 4, Mode.INDEPENDENT)
        render_tracks.show_spawn(result)
        _wait_for_agents(repo, store)

        cart = next(item.slot for item in result.spawned if item.task == "ui-cart")
        _step(f"cat .agent-worktrees/logs/{cart}.log", "the cart agent reached outside its scope")
        for line in log_path(repo, str(cart)).read_text(encoding="utf-8").splitlines()[1:]:
            console.print(line, markup=False)

        _step("wtpool status")
        render_pool.show_status(pool_status(repo, store))

        if repo.config.database.mode != "none":
            _step("wtpool db list", "each slot's own database, cloned from the template")
            render_pool.show_databases(list_databases(repo, store))

    _step("wtpool cleanup", "end of session: unique work is saved before slots go")
    show_cleanup(cleanup(repo, force=False))

    _step("git branch --list 'wtpool/*'", "every agent's work is still there")
    console.print(git.out("branch", "--list", "wtpool/*"))


def _wait_for_agents(repo: Repository, store: Store, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with store.snapshot() as conn:
            processes = [agent_process(repo, slot) for slot in all_slots(conn)]
        if all(p is None or p.state != "running" for p in processes):
            return
        time.sleep(0.05)

"""Several hosts on one machine: clones of one bare remote, each with a pool on one shared
control plane (a PostgreSQL schema of its own per test; the `plane` fixture in conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import psycopg

from tests.conftest import git, make_pool, make_repo
from worktree_pool.git.repo import Repository

TASK_COUNT = 30


@dataclass(frozen=True)
class Plane:
    url: str
    schema: str
    server: Repository | None = None  # the repository whose embedded server this is, if one

    def query(self, sql: str, *params: object) -> list[tuple]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            cursor = conn.execute(sql.replace("{schema}", self.schema), params)
            return cursor.fetchall() if cursor.description else []

    def config(self, **extra: str) -> str:
        lines = [f"  url: {self.url}", f"  schema: {self.schema}"]
        lines += [f"  {key}: {value}" for key, value in extra.items()]
        return "state:\n" + "\n".join(lines) + "\n"


def _tasks() -> str:
    lines = ["tasks:"]
    for n in range(1, TASK_COUNT + 1):
        lines.append(f"  - {{id: t{n:02}, title: Task {n}, priority: 1, files: [src/t{n:02}/]}}")
    return "\n".join(lines) + "\n"


def make_hosts(
    tmp: Path, plane: Plane, count: int, *, push: bool = False, **state: str
) -> list[Path]:
    """`count` clones of one bare remote, each with a pool on the shared control plane; with
    `push`, their merge queues land on the remote. The configuration is committed, as a team
    would."""
    config = "pool:\n  min: 1\n  max: 10\ntasks:\n  source: yaml\n" + plane.config(**state)
    if push:
        config += "merge:\n  push: true\n  remote: origin\n"
    files = {"README.md": "# fleet\n", "tasks.yaml": _tasks(), "wtpool.yaml": config}
    files |= {f"src/t{n:02}/code.py": f"N = {n}\n" for n in range(1, TASK_COUNT + 1)}
    origin = make_repo(tmp / "origin", files)
    remote = tmp / "remote.git"
    git(tmp, "clone", "-q", "--bare", str(origin), str(remote))
    hosts = []
    for n in range(1, count + 1):
        root = tmp / f"host{n}"
        git(tmp, "clone", "-q", str(remote), str(root))
        make_pool(root, 1, 10)
        hosts.append(root)
    return hosts

"""Many processes claiming slots at the same moment: no slot may ever be handed out twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import git, make_pool, wtpool_json


def test_twenty_processes_acquire_at_once(repo: Path) -> None:
    make_pool(repo, minimum=5, maximum=10)
    agents = [f"agent-{i:02d}" for i in range(20)]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "worktree_pool", "acquire", "--agent", agent, "--json"],
            cwd=repo,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )
        for agent in agents
    ]
    results = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr
        results.append(json.loads(stdout))

    granted = [r for r in results if not r["queued"]]
    queued = [r for r in results if r["queued"]]
    assert len(granted) == 10
    assert len(queued) == 10
    assert len({r["slot"] for r in granted}) == 10, "a slot was handed out twice"
    assert sorted(r["queue_position"] for r in queued) == list(range(1, 11))

    # The state agrees: ten busy slots, each with one of the granted agents, and ten queued.
    status = wtpool_json(repo, "status")
    holders = {w["name"]: w["agent"] for w in status["worktrees"]}
    assert holders == {r["slot"]: r["agent"] for r in granted}
    assert all(w["state"] == "busy" for w in status["worktrees"])
    assert sorted(q["agent"] for q in status["queue"]) == sorted(r["agent"] for r in queued)

    # And git agrees: ten pool worktrees, each on the branch of the agent the state names.
    porcelain = git(repo, "worktree", "list", "--porcelain").split("\n\n")
    on_disk = {}
    for block in porcelain:
        fields = dict(line.split(" ", 1) for line in block.splitlines() if " " in line)
        path = Path(fields["worktree"])
        if path.parent == repo / ".agent-worktrees":
            on_disk[path.name] = fields.get("branch", "").removeprefix("refs/heads/")
    assert on_disk == {slot: f"wtpool/agent/{agent}" for slot, agent in holders.items()}

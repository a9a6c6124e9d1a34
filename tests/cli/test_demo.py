from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import postgres_processes, wtpool


def test_the_demo_spawns_agents_and_cleans_up_after_itself(
    tmp_path: Path, with_databases: None
) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    result = wtpool(cwd, "demo")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    # spawn 4 independent: three tracks fit; the fourth overlaps the API track.
    assert "spawned 3 of 4 (independent)" in out
    assert "skipped track:src-rename: its scope overlaps track:api-auth" in out
    # Each agent ran in its slot, and status shows how it ended.
    assert out.count("exited 0") == 3
    assert "ui-cart committed src/ui/cart.js" in out
    assert "commit refused in pool-wt-3" in out  # the guard at work
    # Each agent wrote to a database of its own: it sees the template's row and its own only.
    assert re.search(
        r"ui-cart sees \['seed', 'ui-cart'\] in its database shop_[0-9a-f]{8}_wt_3", out
    )
    assert "stopped the pool's embedded PostgreSQL server" in out
    # Cleanup saved every slot's unmerged work, the docs agent's uncommitted notes included.
    assert "1 untracked file, 1 commit not in main from pool-wt-2 to branch wtpool/salvage/" in out
    branches = [line.strip() for line in out.rstrip().splitlines()[-6:]]
    assert [b.rsplit("-", 1)[0] for b in branches[:3]] == [
        f"wtpool/salvage/pool-wt-{n}" for n in (1, 2, 3)
    ]
    assert branches[3:] == ["wtpool/task/api-auth", "wtpool/task/docs-guide", "wtpool/task/ui-cart"]
    assert list(cwd.iterdir()) == []  # nothing left where it ran
    assert not postgres_processes("wtpool-demo-")

from __future__ import annotations

from pathlib import Path

from tests.conftest import wtpool


def test_the_demo_spawns_agents_and_cleans_up_after_itself(tmp_path: Path) -> None:
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
    # Cleanup saved the docs agent's uncommitted notes; committed work stays on task branches.
    assert "1 untracked file, 1 commit not in main from pool-wt-2 to branch wtpool/salvage/" in out
    branches = out.rstrip().splitlines()[-4:]
    assert [b.strip() for b in branches[1:]] == [
        "wtpool/task/api-auth",
        "wtpool/task/docs-guide",
        "wtpool/task/ui-cart",
    ]
    assert branches[0].strip().startswith("wtpool/salvage/pool-wt-2-")
    assert list(cwd.iterdir()) == []  # nothing left where it ran

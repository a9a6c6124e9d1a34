from __future__ import annotations

from pathlib import Path

from tests.conftest import wtpool


def test_the_demo_runs_a_real_session_and_cleans_up_after_itself(tmp_path: Path) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    result = wtpool(cwd, "demo")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "commit refused in pool-wt-1" in out  # the guard at work
    assert "queued" in out and "handed pool-wt-3 to queued agent dave" in out
    assert "to branch wtpool/salvage/pool-wt-2-" in out  # bob's uncommitted notes were saved
    # The last step lists the branches: alice's unmerged work is kept.
    assert out.rstrip().splitlines()[-1].strip() == "wtpool/task/cart-discounts"
    assert list(cwd.iterdir()) == []  # nothing left where it ran

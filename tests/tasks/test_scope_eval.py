"""scripts/scope_eval.py, run as CI runs it: on the small repository scope_eval_demo.py builds,
whose answer is known by construction (see that script's docstring)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, check=False, timeout=300
    )


def test_the_demo_measures_what_its_data_was_built_to_show(tmp_path: Path) -> None:
    done = _run(str(SCRIPTS / "scope_eval_demo.py"), "--json", "--keep", str(tmp_path / "demo"))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    rows = {row["method"]: row for row in result["rows"]}
    assert list(rows) == [
        "** (everything)",
        "title keywords",
        "wtpool",
        "directories of the changed files (a ceiling)",
    ]
    assert result["tasks"] == 5 and all(row["tasks"] == 5 for row in rows.values())
    everything, keywords, inferred = (
        rows["** (everything)"],
        rows["title keywords"],
        rows["wtpool"],
    )
    assert (everything["mean_recall"], everything["fully_covered"]) == (1.0, 1.0)
    assert everything["median_breadth"] == 1.0
    # Titles point at the wrong directories, descriptions name the right functions.
    assert inferred["mean_recall"] > keywords["mean_recall"]
    assert inferred["mean_recall"] == 1.0 and inferred["median_breadth"] < 0.5
    for row in rows.values():
        assert 0.0 <= row["mean_recall"] <= 1.0 and 0.0 <= row["median_breadth"] <= 1.0
    assert result["independent_tracks"] == 3


def test_scope_eval_prints_the_markdown_table_benchmarks_md_holds(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    assert _run(str(SCRIPTS / "scope_eval_demo.py"), "--keep", str(demo)).returncode == 0
    done = _run(str(SCRIPTS / "scope_eval.py"), str(demo))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("5 finished tasks named by their commits")
    assert "| ** (everything) | 1.00 | 100% | 1.00 |" in done.stdout
    assert "| wtpool | 1.00 | 100% |" in done.stdout
    assert "independent tracks at the newest commit (no scope rules): 3" in done.stdout

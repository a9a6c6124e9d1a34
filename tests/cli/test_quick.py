"""The commands the console script answers before importing typer (`--version`, `status`)
answer exactly as the typer commands do, fail the same way, and import neither typer nor rich
(nor pydantic, which typer brings to parse options)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Pool, wtpool


def _imported(cwd: Path, *argv: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "worktree_pool", *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [line for line in result.stderr.splitlines() if line.startswith("import time:")]
    return result, {line.rsplit("|", 1)[-1].strip() for line in lines}


def test_status_is_answered_without_typer_rich_or_pydantic(pool: Pool) -> None:
    result, imported = _imported(pool.root, "status")
    assert result.returncode == 0, result.stderr
    assert "pool-wt-1  idle" in result.stdout
    assert "worktree_pool.pool.status" in imported  # the measurement saw the work done
    heavy = {"typer", "click", "rich", "pydantic"}
    assert not [name for name in imported if name.split(".")[0] in heavy]


def test_status_answers_as_the_typer_command_does(pool: Pool) -> None:
    (pool.slot(2) / "stray.txt").write_text("uncommitted\n")
    # --config takes the typer path: the quick path answers only the exact forms.
    through_typer = ("--config", str(pool.root / "wtpool.yaml"))
    for form in (("status",), ("status", "--json")):
        quick, typed = wtpool(pool.root, *form), wtpool(pool.root, *through_typer, *form)
        assert (quick.returncode, typed.returncode) == (0, 0), quick.stderr + typed.stderr
        assert quick.stdout == typed.stdout
    report = json.loads(wtpool(pool.root, "status", "--json").stdout)
    assert [slot["dirty"] for slot in report["worktrees"]] == [False, True, False]


def test_status_outside_a_repository_is_one_error_line(tmp_path: Path) -> None:
    result = wtpool(tmp_path, "status")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: {tmp_path} is not inside a git repository\n")
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 2


def test_status_without_a_pool_fails_as_every_command_does(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    quick = wtpool(tmp_path, "status")
    typed = wtpool(tmp_path, "--debug", "status")
    assert quick.returncode == typed.returncode == 1
    assert quick.stderr.startswith("error: no wtpool pool in")
    assert quick.stderr.splitlines()[-2:] == typed.stderr.splitlines()[-2:]


def test_other_forms_of_status_still_reach_typer(pool: Pool) -> None:
    help_text = wtpool(pool.root, "status", "--help")
    assert help_text.returncode == 0 and "Show the pool" in help_text.stdout
    typo = wtpool(pool.root, "status", "--jsn")
    assert typo.returncode == 2 and typo.stderr.startswith("error: No such option: --jsn")


@pytest.mark.parametrize("command", [["status"], ["config"]])
def test_a_reader_that_stops_reading_ends_the_command_quietly(
    pool: Pool, command: list[str]
) -> None:
    """`wtpool status | head -1`, on the quick path as on typer's: no error, no traceback."""
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line
    try:
        done = subprocess.run(
            [sys.executable, "-m", "worktree_pool", *command],
            cwd=pool.root,
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (1, "")

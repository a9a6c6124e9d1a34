"""Progress bars: on a terminal, after a second, and never into a pipe."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

SCRIPT = """
import sys, time
from worktree_pool.cli.render.progress import DelayedProgress
from worktree_pool.util.progress import progress_reporter, reporting_to

assert progress_reporter("nobody listens", 10) is None
bars = DelayedProgress()
with reporting_to(bars):
    report = progress_reporter("copying node_modules/", 1000)
    report(10)            # the first report starts the clock: nothing shown yet
    time.sleep(float(sys.argv[1]))
    report(500)
bars.close()
print("done", file=sys.stderr)
"""


def run_with_stderr_on_a_terminal(wait: float) -> str:
    leader, follower = pty.openpty()
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(wait)],
        stderr=follower,
        stdout=subprocess.DEVNULL,
        env={**os.environ, "COLUMNS": "100"},
        timeout=60,
        check=True,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the pty's other side is closed: all has been read
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert done.returncode == 0
    return b"".join(chunks).decode(errors="replace")


def test_a_bar_appears_once_work_has_run_for_a_second() -> None:
    assert "copying node_modules/" in run_with_stderr_on_a_terminal(1.2)


def test_quick_work_shows_no_bar() -> None:
    shown = run_with_stderr_on_a_terminal(0.0)
    assert "done" in shown and "copying" not in shown


def test_no_bar_goes_into_a_pipe() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, "1.2"], capture_output=True, text=True, check=True
    )
    assert "copying" not in done.stderr

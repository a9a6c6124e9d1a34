"""git for the benchmark scripts: run with a fixed identity, its output returned."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

IDENTITY = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@localhost",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@localhost",
}


def git(cwd: Path, *args: str, stdin: str | None = None, index: Path | None = None) -> str:
    """Run git; `index` points it at an index file of its own (GIT_INDEX_FILE)."""
    scratch = {"GIT_INDEX_FILE": str(index)} if index is not None else {}
    return subprocess.run(
        ["git", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
        input=stdin,
        env={**os.environ, **IDENTITY, **scratch},
    ).stdout.strip()

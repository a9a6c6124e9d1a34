"""What `wtpool --version` and `wtpool status` import before they do anything.

    .venv/bin/python scripts/startup_imports.py [--runs N] [--entry MODULE]

(`--entry` names the module holding `main`, for measuring an older checkout put first on
PYTHONPATH: before the package was layered it was `worktree_pool.cli`.)

Runs each command N times under `python -X importtime` in a throwaway pool and prints, per
command, the median of: all imports, wtpool's own modules (self time), and the number of
wtpool modules loaded. The layering of the package must not make start-up slower: a command
should import only the packages it uses. Results go in BENCHMARKS.md by hand, before and after
a change to the package's shape.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)")


def _one_run(argv: list[str], cwd: Path, entry: str) -> tuple[float, float, int]:
    code = f"import sys; sys.argv = {argv!r}; from {entry} import main; main()"
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], cwd=cwd, capture_output=True, text=True
    )
    total = own = 0
    modules = 0
    for line in result.stderr.splitlines():
        match = _LINE.match(line)
        if not match:
            continue
        self_us, cumulative_us, indent, name = match.groups()
        if not indent:
            total += int(cumulative_us)
        if name.startswith("worktree_pool"):
            own += int(self_us)
            modules += 1
    return total / 1000, own / 1000, modules


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--entry", default="worktree_pool.cli.app")
    options = parser.parse_args()
    runs, entry = options.runs, options.entry
    # Measured as an installed package runs: with its bytecode cached, whatever
    # PYTHONDONTWRITEBYTECODE says, so compiling never counts as importing.
    package = subprocess.run(
        [
            sys.executable,
            "-c",
            "import worktree_pool, os; print(os.path.dirname(worktree_pool.__file__))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    subprocess.run([sys.executable, "-m", "compileall", "-q", package], check=True)
    with tempfile.TemporaryDirectory() as scratch:
        repo = Path(scratch) / "repo"
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
        subprocess.run(
            ["git", "-C", str(repo), "commit", "-q", "--allow-empty", "-m", "i"], check=True
        )
        subprocess.run(
            [sys.executable, "-m", "worktree_pool", "init"],
            cwd=repo,
            check=True,
            capture_output=True,
        )
        print("| command | all imports (ms) | wtpool's own modules (ms) | wtpool modules |")
        print("|---|---:|---:|---:|")
        for argv in (["wtpool", "--version"], ["wtpool", "status"]):
            samples = [_one_run(argv, repo, entry) for _ in range(runs)]
            total = statistics.median(s[0] for s in samples)
            own = statistics.median(s[1] for s in samples)
            count = statistics.median(s[2] for s in samples)
            print(f"| `{' '.join(argv)}` | {total:.0f} | {own:.1f} | {count:.0f} |")


if __name__ == "__main__":
    main()

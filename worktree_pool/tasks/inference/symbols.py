"""Code identifiers in a task's text, and the tracked files that contain them.

`RunTick`, `TmuxDispatcher` and `next_retry_at` are not words of any path, but they name code,
and the files holding that code are where the work is. Identifiers are told from prose by their
shape: camelCase or PascalCase with two humps or more, or snake_case. One `git grep` finds
every identifier of a whole task graph at once, so a graph of a thousand tasks costs one pass
over the tree, not a thousand.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable

from worktree_pool.git.run import Git

_IDENTIFIER = re.compile(
    r"\b(?:[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+"  # PascalCase: RunTick
    r"|[a-z][a-z0-9]+(?:[A-Z][a-z0-9]*)+"  # camelCase: dryRun
    r"|[A-Za-z][A-Za-z0-9]*_[A-Za-z0-9_]*[A-Za-z0-9])\b"  # snake_case: next_retry_at
)
MIN_LENGTH = 4
# Per task, and for a whole graph: past these, an identifier adds little and costs a pass.
MAX_PER_TASK = 40
MAX_IDENTIFIERS = 20_000


def identifiers(text: str) -> list[str]:
    found = dict.fromkeys(i for i in _IDENTIFIER.findall(text) if len(i) >= MIN_LENGTH)
    return list(found)[:MAX_PER_TASK]


def files_containing(
    git: Git, revision: str, wanted: Iterable[str], skip: Iterable[str] = ()
) -> dict[str, set[str]]:
    """For each identifier, the files of `revision` that hold it as a whole word; the files in
    `skip` (the task source, which holds every identifier of every task) are not searched."""
    names = sorted(set(wanted))[:MAX_IDENTIFIERS]
    found: dict[str, set[str]] = defaultdict(set)
    if not names:
        return {}
    result = git.run(
        "grep",
        "-I",  # binary files hold no code worth pointing at
        "--no-color",
        "-o",
        "-w",
        "-F",
        "-z",
        "-f",
        "-",
        revision,
        "--",
        *(f":(exclude,literal){path}" for path in skip),
        check=False,
        input="\n".join(names) + "\n",
    )
    # With -z, each match is `REVISION:PATH\0MATCH\n`.
    prefix = f"{revision}:"
    for line in result.stdout.split("\n"):
        path, _, match = line.partition("\0")
        if path.startswith(prefix) and match:
            found[match].add(path[len(prefix) :])
    return dict(found)

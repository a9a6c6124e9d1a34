"""Progress bars for long work (see util/progress.py): on stderr, only on a terminal, and only
once a piece of work has run for a second, so quick commands and scripts never see one."""

from __future__ import annotations

import sys
import time
from typing import Any

# Seconds a piece of work runs before its bar appears.
_SHOW_AFTER = 1.0


class DelayedProgress:
    """A ProgressSink that draws rich progress bars, one per label."""

    def __init__(self) -> None:
        self._first_seen: dict[str, float] = {}
        self._tasks: dict[str, Any] = {}
        self._progress: Any = None

    def __call__(self, label: str, done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - self._first_seen.setdefault(label, now) < _SHOW_AFTER or not sys.stderr.isatty():
            return
        if self._progress is None:
            from rich.console import Console
            from rich.progress import DownloadColumn, Progress

            columns = (*Progress.get_default_columns(), DownloadColumn())
            self._progress = Progress(*columns, console=Console(stderr=True), transient=True)
            self._progress.start()
        if label not in self._tasks:
            self._tasks[label] = self._progress.add_task(label, total=total)
        self._progress.update(self._tasks[label], completed=done, total=total)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()

"""Progress of long work deep in the library (a large copy into a slot), for whoever shows it.

The library never prints; the CLI installs a sink for the length of a command, and the work
reports to it through this module without every function between them passing a callback
down. A context variable holds the sink, so a library call with no CLI around it (a test, a
script) reports to nothing, and costs one lookup.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar

# label, units done, units in all (None: not known)
ProgressSink = Callable[[str, int, int | None], None]

_sink: ContextVar[ProgressSink | None] = ContextVar("wtpool_progress", default=None)


@contextlib.contextmanager
def reporting_to(sink: ProgressSink) -> Iterator[None]:
    token = _sink.set(sink)
    try:
        yield
    finally:
        _sink.reset(token)


def progress_reporter(label: str, total: int | None) -> Callable[[int], None] | None:
    """A function to call with the units done so far, or None when nobody is listening."""
    sink = _sink.get()
    if sink is None:
        return None
    return lambda done: sink(label, done, total)

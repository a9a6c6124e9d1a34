"""What every renderer shares: the console, tables, JSON, and making outside text safe to show.

JSON is the dataclass itself: its fields, plus its derived properties (`complete`, `healthy`),
so scripts never have to recompute what the table shows. The other modules of this package turn
one part's results into what a person reads.
"""

from __future__ import annotations

import json
import os
import re
import sys
from typing import TYPE_CHECKING, Any

from worktree_pool.cli.render.plain import PlainTable, strip_markup
from worktree_pool.cli.render.plain import escape as escape_markup
from worktree_pool.util.jsonable import to_jsonable

if TYPE_CHECKING:
    from rich.table import Table


def _piped() -> bool:
    return not sys.stdout.isatty()


class _LazyConsole:
    """Prints renderers' markup and tables: through rich on a terminal, made on first use; as
    plain text into a pipe (plain.py), where rich's import would cost more than the command."""

    def __init__(self) -> None:
        self._console: Any = None

    def print(self, *objects: Any, markup: bool = True, **options: Any) -> None:
        # A guard for text a renderer forgot to pass through escape(): wtpool's own strings
        # hold no control character but the newline.
        shown = [printable(o, lines=True) if isinstance(o, str) else o for o in objects]
        if _piped() and all(isinstance(o, str | PlainTable) for o in shown):
            text = (strip_markup(o) if markup and isinstance(o, str) else str(o) for o in shown)
            print(" ".join(text))
            return
        if self._console is None:
            from rich.console import Console

            # Piped output that plain text cannot show (the monitor's frames) is not limited
            # to 80 columns the way rich assumes: a table folded into a narrow column is hard
            # to read or grep.
            wide = _piped() and "COLUMNS" not in os.environ
            self._console = Console(highlight=False, soft_wrap=True, width=120 if wide else None)
        self._console.print(*shown, markup=markup, **options)


console = _LazyConsole()


def table(*columns: str) -> Table | PlainTable:
    """A table for console.print: plain columns into a pipe, rich's on a terminal."""
    if not _piped():
        return rich_table(*columns)
    made = PlainTable()
    for column in columns:
        made.add_column(column)
    return made


def rich_table(*columns: str) -> Table:
    """A borderless rich table, for frames that rich draws even into a pipe (the monitor);
    columns fold rather than cut, since a cut-off branch or task name is of no use to anyone."""
    from rich.table import Table

    made = Table(box=None, header_style="bold", pad_edge=False)
    for column in columns:
        made.add_column(column, overflow="fold")
    return made


# What must never reach the terminal as it is: C0 and C1 control characters and DEL (an escape
# sequence can move the cursor, rewrite the screen or the window title; U+009B is a CSI on
# its own), the controls that reorder text on screen (bidi overrides), and lone surrogates
# (a file name that is not UTF-8, as Python decodes it).
_HIDDEN = "\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff"
_ONE_LINE = re.compile(f"[{_HIDDEN}]")
_LINES = re.compile(f"(?![\n\t])[{_HIDDEN}]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str, *, lines: bool = False) -> str:
    """Text from outside wtpool (a task file, a branch or file name, a message, a command's
    output) as the terminal may show it: each character in _HIDDEN is shown as an escape
    (`\\x1b`, `\\n`, `\\u202e`; a byte of a non-UTF-8 file name as `\\xff`), so it can
    neither act on the terminal nor start a line that looks like wtpool's. With `lines`,
    newlines and tabs are kept, for text that is shown as lines (a message body)."""
    return (_LINES if lines else _ONE_LINE).sub(_escaped, text)


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if char in _NAMED:
        return _NAMED[char]
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: the byte the file name holds
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape(text: str, *, lines: bool = False) -> str:
    """Text from outside wtpool, ready for rich: printable (see there), and its `[...]` shown
    rather than taken for markup. Every renderer passes such text through here."""
    return escape_markup(printable(text, lines=lines))


def print_json(value: Any) -> None:
    print(json.dumps(to_jsonable(value), indent=2))

"""Output for a pipe, without rich: what wtpool prints when stdout is not a terminal.

Agents read wtpool through pipes, and importing rich costs more than most commands take to run
(about 70 ms), for styles that a pipe drops anyway. The renderers still write rich's markup
(`[bold]...[/]`) and build tables; here that markup is removed exactly as rich's parser would
(the same tag grammar, the same backslash escapes, so `escape` below and rich's agree) and a
table becomes aligned columns.
"""

from __future__ import annotations

import re

# rich.markup's grammar of a tag: a `[` led by any backslashes, then a name starting with a
# letter, `#`, `/` or `@`, up to the first `]`.
_TAG = re.compile(r"((\\*)\[([a-z#/@][^[]*?)])")
_TAG_TO_ESCAPE = re.compile(r"(\\*)(\[[a-z#/@][^[]*?])")
GAP = "  "  # between columns, as rich draws a borderless table with padding 1


def escape(text: str) -> str:
    """`text` as markup that shows it literally; rich.markup.escape, without importing rich."""
    escaped = _TAG_TO_ESCAPE.sub(lambda m: f"{m[1]}{m[1]}\\{m[2]}", text)
    if escaped.endswith("\\") and not escaped.endswith("\\\\"):
        return escaped + "\\"
    return escaped


def strip_markup(markup: str) -> str:
    """The text rich would show for `markup`, without its styles."""
    pieces = []
    position = 0
    for match in _TAG.finditer(markup):
        start, end = match.span()
        pieces.append(_text(markup[position:start]))
        backslashes, escaped = divmod(len(match[2]), 2)
        pieces.append("\\" * backslashes)
        if escaped:  # `\[tag]` is the text `[tag]`
            pieces.append(match[1][len(match[2]) :])
        position = end
    pieces.append(_text(markup[position:]))
    return "".join(pieces)


def _text(between_tags: str) -> str:
    # rich shows `\[` that starts no tag as `[` too.
    return between_tags.replace("\\[", "[")


class PlainTable:
    """The part of rich's Table that renderers use, drawn as left-aligned columns."""

    def __init__(self) -> None:
        self.headers: list[str] = []
        self.rows: list[list[str]] = []

    def add_column(self, header: str, **_style: object) -> None:
        self.headers.append(header)

    def add_row(self, *cells: str | None) -> None:
        self.rows.append([strip_markup(cell or "") for cell in cells])

    def __str__(self) -> str:
        lines = [self.headers, *self.rows]
        widths = [max(len(line[i]) for line in lines) for i in range(len(self.headers))]
        return "\n".join(
            GAP.join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
            for line in lines
        )

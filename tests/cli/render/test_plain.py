"""Output into a pipe is rich's text without rich: markup removed exactly as rich's parser
removes it, escapes that round-trip, and tables as aligned columns."""

from __future__ import annotations

from hypothesis import given, reject
from hypothesis import strategies as st
from rich.errors import MarkupError
from rich.markup import escape as rich_escape
from rich.text import Text

from worktree_pool.cli.render.plain import PlainTable, escape, strip_markup

# Text that looks like markup as often as not: brackets, slashes, backslashes, tag names.
_MARKUPISH = st.text(alphabet=st.sampled_from(list("[]/\\ab= #@x\n")), max_size=30)
_TAGS = st.sampled_from(["[bold]", "[/]", "[red]", "[/red]", "[dim]", "[green]", "[link=x]"])


@given(_MARKUPISH)
def test_escape_is_riches(text: str) -> None:
    assert escape(text) == rich_escape(text)


@given(st.lists(st.one_of(_MARKUPISH.map(escape), _TAGS, _MARKUPISH), max_size=8))
def test_stripping_markup_shows_what_rich_shows(parts: list[str]) -> None:
    markup = "".join(parts)
    try:
        shown = Text.from_markup(markup, emoji=False).plain
    except MarkupError:  # a closing tag that closes nothing: wtpool never writes one
        reject()
    assert strip_markup(markup) == shown


def test_a_table_is_left_aligned_columns_without_trailing_blanks() -> None:
    table = PlainTable()
    for header in ("slot", "state", "agent"):
        table.add_column(header, overflow="fold")
    table.add_row("pool-wt-1", "[green]idle[/]", None)
    table.add_row("pool-wt-10", "[yellow]busy[/]", "agent-\\[x]")
    assert str(table) == (
        "slot        state  agent\npool-wt-1   idle\npool-wt-10  busy   agent-[x]"
    )

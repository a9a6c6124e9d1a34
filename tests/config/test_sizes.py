"""Byte sizes as a config file writes them: read in decimal or binary units, refused when they
are not sizes, and formatted so that they read back."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from worktree_pool.config.sizes import format_size, parse_size


@pytest.mark.parametrize(
    ("text", "size"),
    [("2.8GB", 2_800_000_000), ("3000MB", 3_000_000_000), ("1.5 KiB", 1536), ("42", 42)],
)
def test_sizes_are_read_in_decimal_or_binary_units(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "GB", "2.8 parsecs", "-1GB", "1e3MB", "2..8GB"])
def test_what_is_not_a_size_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_size(text)


@given(st.integers(min_value=0, max_value=10**15))
def test_a_formatted_size_reads_back_within_its_rounding(size: int) -> None:
    back = parse_size(format_size(size).replace(" ", ""))
    assert abs(back - size) <= max(1, size * 0.01)

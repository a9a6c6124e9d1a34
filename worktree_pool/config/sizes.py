"""Byte sizes as people write them in a config file: `2.8GB`, `3000MB`, `512KiB`, or a plain
integer of bytes.

Units are decimal (`KB`, `MB`, `GB`, `TB`: powers of 1000, as disks are sold and as `df -H`
shows them) or binary (`KiB`, `MiB`, `GiB`, `TiB`: powers of 1024). `B` alone is bytes.
"""

from __future__ import annotations

import re
from decimal import Decimal

_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*")


def parse_size(value: int | str) -> int:
    """Bytes; ValueError, with the reason, for anything that is not a size."""
    if isinstance(value, bool):
        raise ValueError("true and false are not sizes")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a size cannot be negative")
        return value
    match = _SIZE.fullmatch(value)
    if match is None:
        raise ValueError(f"{value!r} is not a size such as 2.8GB, 3000MB or 1048576")
    number, unit = match.groups()
    factor = _UNITS.get(unit.lower())
    if factor is None:
        known = ", ".join(u for u in ("B", "KB", "MB", "GB", "TB", "KiB", "MiB", "GiB", "TiB"))
        raise ValueError(f"{value!r} has an unknown unit {unit!r}; the units are {known}")
    return int(Decimal(number) * factor)  # Decimal: 2.8GB is exactly 2,800,000,000 bytes


def format_size(size: int) -> str:
    """A short decimal size for tables: 512 B, 7.3 MB, 2.80 GB."""
    for unit, factor in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if size >= factor:
            scaled = size / factor
            return f"{scaled:.2f} {unit}" if scaled < 10 else f"{scaled:.1f} {unit}"
    return f"{size} B"

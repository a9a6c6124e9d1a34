"""Library results as plain JSON values: what `--json` prints and what `report` embeds.

A dataclass becomes its fields plus its derived properties (`complete`, `healthy`), so scripts
never have to recompute what the table shows. A field marked `internal` in its metadata says
how a value was made, not what it says, and is left out.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any


def to_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        data = {
            f.name: to_jsonable(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if not f.metadata.get("internal")  # how it was made, not what it says
        }
        for name, attr in vars(type(value)).items():
            if isinstance(attr, property):
                data[name] = to_jsonable(getattr(value, name))
        return data
    if isinstance(value, dict):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    return value

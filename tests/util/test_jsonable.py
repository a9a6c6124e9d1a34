"""What `--json` prints for a library result: its fields, its derived properties, never the
fields marked internal, and only plain JSON values all the way down."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from worktree_pool.util.jsonable import to_jsonable


@dataclasses.dataclass(frozen=True)
class _Slot:
    name: str
    path: Path
    problems: tuple[str, ...]
    how: str = dataclasses.field(default="probe", metadata={"internal": True})

    @property
    def healthy(self) -> bool:
        return not self.problems


@dataclasses.dataclass(frozen=True)
class _Report:
    slots: list[_Slot]
    by_number: dict[int, _Slot]


def test_a_result_is_its_fields_and_derived_properties_without_internal_ones() -> None:
    slot = _Slot("pool-wt-1", Path("/repo/.agent-worktrees/pool-wt-1"), ("dirty",))
    assert to_jsonable(slot) == {
        "name": "pool-wt-1",
        "path": "/repo/.agent-worktrees/pool-wt-1",
        "problems": ["dirty"],
        "healthy": False,
    }


def test_nested_results_become_plain_json_that_round_trips() -> None:
    clean = _Slot("pool-wt-2", Path("/p"), ())
    data = to_jsonable(_Report(slots=[clean], by_number={2: clean}))
    assert data["by_number"] == {"2": data["slots"][0]}  # JSON object keys are strings
    assert data["slots"][0]["healthy"] is True
    assert json.loads(json.dumps(data)) == data

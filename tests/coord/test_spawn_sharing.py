"""Reservations that do not freeze the pool: a track with the whole tree as scope never holds it
exclusively, `spawn all` says which slots share files someone holds, and overlap examples are
paths that exist or patterns, never invented names.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import git, make_pool, make_repo, wtpool
from worktree_pool.scope.overlap import readable, scopes_overlap

FILES = {
    "README.md": "# shop\n",
    "src/api/auth.py": "AUTH = 1\n",
    "src/ui/app.js": "app()\n",
    "docs/guide.md": "guide\n",
}
TASKS = """\
tasks:
  - {id: wide-1, title: Something vague, priority: 1}
  - {id: api-1, title: API, priority: 2, files: [src/api/]}
  - {id: ui-1, title: UI, priority: 2, files: [src/ui/]}
  - {id: docs-1, title: Docs, priority: 2, files: [docs/]}
"""


def _shop(tmp_path: Path) -> Path:
    config = "pool:\n  min: 1\n  max: 6\ntasks:\n  source: yaml\n  infer: false\n"
    root = make_repo(tmp_path / "shop", {**FILES, "tasks.yaml": TASKS, "wtpool.yaml": config})
    make_pool(root, 1, 6)
    return root


def _commit(slot: Path, path: str) -> subprocess.CompletedProcess[str]:
    (slot / path).write_text("changed\n")
    git(slot, "add", "--sparse", path)
    return subprocess.run(
        ["git", "commit", "-q", "-m", f"change {path}"], cwd=slot, capture_output=True, text=True
    )


def test_a_whole_tree_track_shares_and_spawn_all_slots_can_commit(tmp_path: Path) -> None:
    root = _shop(tmp_path)
    first = json.loads(wtpool(root, "spawn", "1", "--json").stdout)["spawned"]
    assert [s["task"] for s in first] == ["wide-1"] and first[0]["patterns"] is None
    reservations = json.loads(wtpool(root, "reservations", "--json").stdout)
    assert [r["exclusive"] for r in reservations] == [False]  # `**`: shared, never exclusive
    more = wtpool(root, "spawn", "3", "all", "--json")
    assert more.returncode == 0, more.stderr
    spawned = json.loads(more.stdout)["spawned"]
    assert {s["task"] for s in spawned} == {"api-1", "ui-1", "docs-1"}
    for slot in spawned:
        scope = slot["patterns"][0]
        target = {"src/api/": "src/api/auth.py", "src/ui/": "src/ui/app.js"}.get(
            scope, "docs/guide.md"
        )
        done = _commit(Path(slot["path"]), target)
        assert done.returncode == 0, done.stderr  # not frozen by the wide track


def test_spawn_all_names_the_slots_whose_files_another_agent_holds(tmp_path: Path) -> None:
    root = _shop(tmp_path)
    held = wtpool(root, "reserve", "someone", "src/api/", "--json")
    assert held.returncode == 0, held.stderr
    result = wtpool(root, "spawn", "4", "all", "--json")
    assert result.returncode == 0, result.stderr
    held_by = {s["task"]: s["held_by"] for s in json.loads(result.stdout)["spawned"]}
    assert held_by["api-1"] == ["someone (src/api/)"]
    assert held_by["ui-1"] == [] and held_by["docs-1"] == []
    # The table names them too (a column, not a line lost among warnings); rich may wrap
    # cells on a narrow terminal, so the words are looked for, not the layout.
    root_b = _shop(tmp_path / "b")
    assert wtpool(root_b, "reserve", "someone", "src/api/").returncode == 0
    text = " ".join(wtpool(root_b, "spawn", "4", "all").stdout.split())
    assert "held by" in text and "someone" in text


def test_overlap_examples_are_real_names_or_patterns() -> None:
    assert readable(scopes_overlap(("**",), ("**",)) or "", ("**",), ("**",)) == "*"
    witness = scopes_overlap(("src/api/",), ("**",))
    assert witness is not None and readable(witness, ("src/api/",), ("**",)) == "src/api/*"
    named = scopes_overlap(("src/api/auth.py",), ("src/",))
    assert readable(named or "", ("src/api/auth.py",), ("src/",)) == "src/api/auth.py"

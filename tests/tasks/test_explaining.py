"""`wtpool tracks explain|pin|unpin`, and what `tracks analyze|recommend` say of scopes.

A real repository whose Beads export, like real ones, lists no files: each task's scope has to
come from inference, a pin, or the default, and the CLI must say which and why.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import assert_one_line_error, git, make_pool, make_repo, snapshot, wtpool

FILES = {
    "README.md": "# shop\n",
    "billing/invoice.go": "package billing\n\nfunc RenderInvoice() {}\n",
    "billing/invoice_test.go": "package billing\n",
    "search/index.go": "package search\n\nfunc BuildIndex() {}\n",
    "search/query.go": "package search\n",
    "web/templates/home.html": "<html></html>\n",
    "web/static/app.css": "body {}\n",
}


def _issue(task_id: str, title: str, description: str = "", status: str = "open") -> str:
    record = {"id": task_id, "title": title, "description": description, "status": status}
    return json.dumps({**record, "priority": 2, "issue_type": "task"})


ISSUES = [
    _issue("shop-1", "Fix invoice totals", "RenderInvoice rounds each line; round the total."),
    _issue("shop-2", "Speed up search", "BuildIndex should stream documents."),
    _issue("shop-3", "Make it nicer", "Everything should feel better."),
    _issue("shop-4", "Restyle", "FILES: All HTMX-enabled forms and inputs"),
]


def _shop(tmp: Path, pool: bool = True) -> Path:
    files = {**FILES, ".beads/issues.jsonl": "\n".join(ISSUES) + "\n"}
    root = make_repo(tmp / "shop", files)
    if pool:
        make_pool(root, 1, 3)
    return root


def _explain(root: Path, *tasks: str) -> dict[str, dict]:
    result = wtpool(root, "tracks", "explain", *tasks, "--json")
    assert result.returncode == 0, result.stderr
    return {task["id"]: task for task in json.loads(result.stdout)["tasks"]}


def test_explain_shows_an_inferred_scope_with_the_evidence_for_each_pattern(tmp_path: Path) -> None:
    root = _shop(tmp_path, pool=False)
    found = _explain(root, "shop-1", "shop-2")
    invoice, search = found["shop-1"], found["shop-2"]
    assert invoice["source"] == "inferred"
    assert invoice["patterns"] == ["billing/"]
    assert invoice["confidence"] >= 0.3
    evidence = {(e["kind"], tuple(e["patterns"])) for e in invoice["evidence"]}
    assert ("identifier", ("billing/",)) in evidence
    assert search["patterns"] == ["search/index.go"]  # one file of two: not the directory
    # The evidence names only patterns of the scope: nothing points at what was not chosen.
    for task in found.values():
        assert all(set(e["patterns"]) <= set(task["patterns"]) for e in task["evidence"])


def test_a_task_that_points_at_nothing_keeps_the_default_and_says_why(tmp_path: Path) -> None:
    root = _shop(tmp_path, pool=False)
    vague, prose = _explain(root, "shop-3", "shop-4").values()
    assert (vague["source"], vague["patterns"]) == ("default_files", ["**"])
    assert any("inference" in note for note in vague["notes"])
    # A files section of prose gives no patterns and is reported, not turned into `All`, ...
    assert prose["source"] == "default_files"
    assert "All" not in prose["patterns"]
    assert any("files section holds no path" in note for note in prose["notes"])
    text = wtpool(root, "tracks", "explain", "shop-3")
    assert text.returncode == 0 and "note:" in text.stdout and "default_files" in text.stdout


def test_inferred_scopes_let_spawn_run_tasks_side_by_side(tmp_path: Path) -> None:
    root = _shop(tmp_path, pool=False)
    picks = json.loads(wtpool(root, "tracks", "recommend", "--json").stdout)["picks"]
    assert {p["task"] for p in picks} == {"shop-1", "shop-2"}
    (root / "wtpool.yaml").write_text("tasks:\n  infer: false\n")
    alone = json.loads(wtpool(root, "tracks", "recommend", "--json").stdout)["picks"]
    assert len(alone) == 1  # every task has the whole tree: one at a time


def test_analyze_counts_scope_sources_and_ready_tasks_left_with_the_whole_tree(
    tmp_path: Path,
) -> None:
    root = _shop(tmp_path, pool=False)
    analysis = json.loads(wtpool(root, "tracks", "analyze", "--json").stdout)
    assert analysis["ready"] == 4
    assert analysis["ready_whole_tree"] == 2
    sources = {}
    for track in analysis["tracks"]:
        for source, count in track["scope_sources"].items():
            sources[source] = sources.get(source, 0) + count
    assert sources == {"inferred": 2, "default_files": 2}
    text = wtpool(root, "tracks", "analyze").stdout
    assert "2 of the 4 ready tasks (50%) have the whole tree as scope" in text


def test_a_pin_wins_over_every_source_until_unpinned(tmp_path: Path) -> None:
    root = _shop(tmp_path)
    pinned = wtpool(root, "tracks", "pin", "shop-3", "web/", "--json")
    assert pinned.returncode == 0, pinned.stderr
    assert json.loads(pinned.stdout) == {"task": "shop-3", "patterns": ["web/"], "replaced": None}
    assert _explain(root, "shop-3")["shop-3"]["source"] == "pinned"
    picks = json.loads(wtpool(root, "tracks", "recommend", "--json").stdout)["picks"]
    assert {p["task"]: p["patterns"] for p in picks}["shop-3"] == ["web/"]
    # Pinning over an inferred scope, and again over a pin, replaces it.
    assert wtpool(root, "tracks", "pin", "shop-1", "billing/invoice.go").returncode == 0
    again = json.loads(wtpool(root, "tracks", "pin", "shop-1", "billing/", "--json").stdout)
    assert again["replaced"] == ["billing/invoice.go"]
    unpinned = wtpool(root, "tracks", "unpin", "shop-3")
    assert unpinned.returncode == 0 and "unpinned shop-3" in unpinned.stdout
    assert _explain(root, "shop-3")["shop-3"]["source"] == "default_files"


def test_bad_pins_are_refused_and_change_nothing(tmp_path: Path) -> None:
    root = _shop(tmp_path)
    before = snapshot(root)
    for args, code, fragment in [
        (("pin", "shop-1", "../outside"), 2, "pattern"),
        (("pin", "shop-1", "/etc/passwd"), 2, "pattern"),
        (("pin", "shop-9", "web/"), 2, "no task 'shop-9'"),
        (("pin", "shop-1"), 2, "missing argument"),
        (("unpin", "shop-2"), 2, "has no pinned scope"),
        (("explain", "shop-10"), 2, "no task 'shop-10'"),
    ]:
        result = wtpool(root, "tracks", *args)
        if fragment == "missing argument":  # typer's own usage error
            assert result.returncode == 2 and "Traceback" not in result.stderr
            continue
        assert_one_line_error(result, code, fragment)
    assert snapshot(root) == before


def test_pin_needs_a_pool(tmp_path: Path) -> None:
    root = _shop(tmp_path, pool=False)
    result = wtpool(root, "tracks", "pin", "shop-1", "billing/")
    assert_one_line_error(result, 1, "no wtpool pool")
    assert not (root / ".agent-worktrees" / "state.db").exists()


def _work_then_release(root: Path, task: str, path: str) -> None:
    """An agent takes the task, commits a change to `path`, and releases its slot."""
    claimed = wtpool(root, "acquire", "--agent", f"agent-{task}", "--task", task, "--json")
    assert claimed.returncode == 0, claimed.stderr
    slot = Path(json.loads(claimed.stdout)["path"])
    (slot / path).parent.mkdir(parents=True, exist_ok=True)
    (slot / path).write_text("changed\n")
    git(slot, "add", "--sparse", path)
    git(slot, "-c", "core.hooksPath=/dev/null", "commit", "-q", "-m", f"{task}: work")
    assert wtpool(root, "release", slot.name).returncode == 0


def test_a_released_branch_is_held_to_a_pin_but_never_to_a_guess(tmp_path: Path) -> None:
    root = _shop(tmp_path)
    # shop-1's inferred scope is billing/: a guess, which must not reject its work later.
    _work_then_release(root, "shop-1", "search/query.go")
    landed = wtpool(root, "merge", "shop-1", "--wait", "--json")
    assert landed.returncode == 0, landed.stderr
    assert json.loads(landed.stdout)["entry"]["state"] == "merged"
    # A pin is the user's word: work outside it is refused.
    assert wtpool(root, "tracks", "pin", "shop-2", "search/").returncode == 0
    _work_then_release(root, "shop-2", "billing/invoice.go")
    refused = json.loads(wtpool(root, "merge", "shop-2", "--wait", "--json").stdout)["entry"]
    assert refused["state"] == "rejected"
    assert "outside the task's scope" in refused["reason"]

"""History: which files commits changed, which tasks they name, co-change, hubs, the cache."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.conftest import git
from tests.tasks.inference.repos import commit, fast_history, filler, new_repo
from worktree_pool.config.settings import TaskSettings
from worktree_pool.git.run import Git
from worktree_pool.scope.sparse import tracked_files
from worktree_pool.tasks.inference.history import (
    CACHE_NAME,
    CACHE_VERSION,
    HUB_MIN_COMMITS,
    SWEEP_FILES,
    cached_history,
    named_tasks,
    read_history,
)

DEFAULT_IDS = re.compile(TaskSettings().history_ids)


def _repo(tmp_path: Path) -> Path:
    return new_repo(tmp_path / "repo", filler("README.md", "src/x.go", "src/x_test.go"))


def test_each_commit_is_read_with_its_message_and_files_newest_first(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    first = commit(root, "[bd-12] retry on timeout", filler("src/x.go", "src/x_test.go"))
    second = commit(root, "docs: café\n\nlonger body", filler("docs/café.md", "docs/a b.md"))
    history = read_history(Git(root, 60), "HEAD", 100)
    newest, older, initial = history.changes
    assert (newest.commit, older.commit) == (second, first)
    assert newest.message == "docs: café\n\nlonger body"
    # Names that are not plain ASCII, or hold a space, read as the tree has them.
    assert set(newest.files) == {"docs/café.md", "docs/a b.md"}
    assert set(newest.files) <= tracked_files(Git(root, 60))
    assert older.files == ("src/x.go", "src/x_test.go")
    assert initial.message == "initial"


def test_merges_are_left_out(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    git(root, "checkout", "--quiet", "-b", "side")
    commit(root, "side work", filler("src/side.go"))
    git(root, "checkout", "--quiet", "main")
    commit(root, "main work", filler("src/main.go"))
    git(root, "merge", "--quiet", "--no-ff", "-m", "merge side", "side")
    messages = [c.message for c in read_history(Git(root, 60), "HEAD", 100).changes]
    assert "merge side" not in messages and {"side work", "main work"} <= set(messages)


def test_commit_messages_name_tasks_in_the_usual_forms(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    commit(root, "[bd-12] first part", filler("src/x.go"))
    commit(root, "bd-12: second part", filler("src/x_test.go"))
    commit(root, "Fix the parser (#12)", filler("src/parse.go"))
    commit(root, "bd-99: a task the graph does not have", filler("src/other.go"))
    history = read_history(Git(root, 60), "HEAD", 100)
    files = history.task_files(DEFAULT_IDS, {"bd-12", "12", "unrelated"})
    assert dict(files["bd-12"]) == {"src/x.go": 1, "src/x_test.go": 1}
    assert dict(files["12"]) == {"src/parse.go": 1}  # a YAML task with id 12
    assert set(files) == {"bd-12", "12"}
    # The pattern's first group is the id; without a group the whole match is.
    assert named_tasks("see PROJ-7 and PROJ-8", re.compile(r"PROJ-\d+"), {"PROJ-7"}) == {"PROJ-7"}


def test_files_that_change_together_are_companions(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    commit(root, "one", filler("src/x.go", "src/x_test.go"))
    commit(root, "two", filler("src/x.go", "src/x_test.go", "README.md"))
    commit(root, "three", filler("src/x.go"))
    history = read_history(Git(root, 60), "HEAD", 100)
    # x_test.go changed in 3 of x.go's 4 commits; README.md only twice in 4 is half: both are
    # companions at the default share of one half, but not at a stricter one.
    assert history.companions("src/x.go")[0] == "src/x_test.go"
    assert history.companions("src/x.go", share=0.7) == ["src/x_test.go"]
    assert history.companions("src/nothing.go") == []


def test_a_sweep_says_nothing_about_what_belongs_together(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    sweep = filler(*(f"gen/f{n}.go" for n in range(SWEEP_FILES + 1)), "src/x.go")
    commit(root, "reformat everything", sweep)
    commit(root, "reformat everything again", sweep)
    history = read_history(Git(root, 60), "HEAD", 100)
    assert history.companions("src/x.go") == [] and history.companions("gen/f1.go") == []


def test_a_file_most_commits_change_is_a_hub(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    for n in range(HUB_MIN_COMMITS - 2):
        commit(root, f"work {n}", filler("CHANGELOG.md", f"src/f{n}.go"))
    few = read_history(Git(root, 60), "HEAD", 100)
    assert few.hubs == frozenset()  # too few commits for a share to mean anything
    for n in range(5):
        commit(root, f"more {n}", filler("CHANGELOG.md", f"lib/g{n}.go"))
    assert read_history(Git(root, 60), "HEAD", 100).hubs == {"CHANGELOG.md"}


def test_only_the_newest_history_limit_commits_are_read(tmp_path: Path) -> None:
    """A long history costs what its newest `limit` commits cost: git is asked for no more."""
    root = tmp_path / "long"
    fast_history(root, 3_000)
    assert git(root, "rev-list", "--count", "HEAD") == "3000"
    history = read_history(Git(root, 60), "HEAD", 40)
    assert len(history.changes) == 40
    assert history.changes[0].message == "change 2999" and history.changes[-1].message == (
        "change 2960"
    )
    assert read_history(Git(root, 60), "HEAD", 0).changes == ()


def test_history_is_cached_by_head_and_limit(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    commit(root, "[bd-1] work", filler("src/x.go"))
    cache_dir = tmp_path / "pool" / ".cache"
    cache_dir.parent.mkdir()
    gitrun = Git(root, 60)
    first = cached_history(gitrun, cache_dir, 100)
    cache = cache_dir / CACHE_NAME
    kept = json.loads(cache.read_text())
    assert kept["head"] == git(root, "rev-parse", "HEAD") and kept["limit"] == 100
    assert len(kept["changes"]) == len(first.changes) == 2

    # Proof that the next read comes from the file and not from git: a message changed in
    # the file (and only there) is what the second read returns.
    kept["changes"][0][1] = "as remembered"
    cache.write_text(json.dumps(kept))
    assert cached_history(gitrun, cache_dir, 100).changes[0].message == "as remembered"

    # Another limit, or a new commit, is another history: read again and kept anew.
    assert cached_history(gitrun, cache_dir, 1).changes[0].message == "[bd-1] work"
    assert json.loads(cache.read_text())["limit"] == 1
    commit(root, "[bd-2] more", filler("src/y.go"))
    newer = cached_history(gitrun, cache_dir, 100)
    assert [c.message for c in newer.changes] == ["[bd-2] more", "[bd-1] work", "initial"]
    assert json.loads(cache.read_text())["head"] == git(root, "rev-parse", "HEAD")


def test_a_torn_or_foreign_cache_is_ignored_and_replaced(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    cache_dir = tmp_path / ".cache"
    cache_dir.mkdir()
    cache = cache_dir / CACHE_NAME
    head = git(root, "rev-parse", "HEAD")
    for damaged in (
        json.dumps({"version": CACHE_VERSION, "head": head, "limit": 100})[:-9],  # torn
        "\x00\xff not json",
        "[]",
        json.dumps({"version": CACHE_VERSION, "head": head, "limit": 100, "changes": [["a"]]}),
        json.dumps({"version": CACHE_VERSION + 1, "head": head, "limit": 100, "changes": []}),
    ):
        cache.write_text(damaged, errors="surrogateescape")
        history = cached_history(Git(root, 60), cache_dir, 100)
        assert [c.message for c in history.changes] == ["initial"], damaged
        assert json.loads(cache.read_text())["head"] == head  # rewritten whole


def test_no_commit_no_history_and_no_cache_dir_no_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "--quiet")
    assert cached_history(Git(empty, 60), tmp_path / "c", 100).changes == ()
    root = _repo(tmp_path)
    assert len(cached_history(Git(root, 60), None, 100).changes) == 1
    assert not (tmp_path / "c").exists()


def test_a_sweep_naming_tasks_lends_them_none_of_its_files(tmp_path: Path) -> None:
    """A squash of many tasks (`(#28)` listing ten ids) changes everything: it says nothing
    about which files any one of them needed."""
    root = _repo(tmp_path)
    sweep = filler(*(f"gen/f{n}.go" for n in range(SWEEP_FILES + 1)))
    commit(root, "Squashed (#28)\n\n* bd-1: parser\n* bd-2: printer", sweep)
    commit(root, "bd-1: parser", filler("src/parser.go"))
    found = read_history(Git(root, 60), "HEAD", 100).task_files(
        re.compile(TaskSettings().history_ids), {"bd-1", "bd-2"}
    )
    assert found == {"bd-1": {"src/parser.go": 1}}

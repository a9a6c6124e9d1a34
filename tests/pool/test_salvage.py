"""What counts as a slot's unique work, and how release, cleanup and scale down save and delete it.

One rule decides for all of them: an untracked file is work unless the base's own ignore rules
ignore it; stash entries made in the slot, the autostash of a rebase or merge in progress, and
commits only the slot's reflogs and per-worktree refs hold are work too. Deleting never follows
a link and never deletes a path git tracks.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Pool, assert_one_line_error, git, make_pool, wtpool, wtpool_json
from worktree_pool.pool.claims import acquire


def _blob(repo: Path, content: str) -> str:
    return subprocess.run(
        ["git", "hash-object", "--stdin"], cwd=repo, input=content, capture_output=True, text=True
    ).stdout.strip()


def _reachable(repo: Path, *revs: str) -> set[str]:
    listing = git(repo, "rev-list", "--objects", *revs)
    return {line.split(" ", 1)[0] for line in listing.splitlines()}


def _held_by_some_branch(repo: Path, content: str) -> bool:
    branches = git(repo, "for-each-ref", "--format=%(refname)", "refs/heads").split()
    return _blob(repo, content) in _reachable(repo, *branches)


def _cleanup_slot(root: Path, name: str, *args: str) -> dict:
    result = wtpool(root, "cleanup", *args, "--json")
    assert result.returncode == 0, result.stderr
    (slot,) = [s for s in json.loads(result.stdout)["slots"] if s["name"] == name]
    return slot


# --- case 1: deleting never follows a link, never deletes a tracked path ---------------------


def test_release_never_deletes_through_a_link_to_outside(pool: Pool, tmp_path: Path) -> None:
    victim = tmp_path / "victim"  # outside the repository
    victim.mkdir()
    (victim / "f").write_text("not the pool's\n")
    acquire(pool.repo, pool.store(), "a", "t")
    slot = pool.slot(1)
    (slot / "cfg").mkdir()
    (slot / "cfg" / "f").write_text("the agent's file\n")
    (slot / "out").symlink_to(victim)  # the agent's own link: saved as a link, removed as one
    (pool.root / "cfg").symlink_to(victim)
    git(pool.root, "add", "cfg")
    git(pool.root, "commit", "--quiet", "-m", "link cfg")

    result = wtpool_json(pool.root, "release", "pool-wt-1")

    assert (victim / "f").read_text() == "not the pool's\n"
    assert git(pool.root, "show", f"{result['salvage_branch']}:cfg/f") == "the agent's file"
    assert git(pool.root, "show", f"{result['salvage_branch']}:out") == str(victim)
    assert (slot / "cfg").is_symlink() and not (slot / "out").is_symlink()


def test_release_never_deletes_a_tracked_file_behind_a_tracked_link(pool: Pool) -> None:
    (pool.root / "docs" / "v2").mkdir()
    (pool.root / "docs" / "v2" / "page.md").write_text("tracked page\n")
    (pool.root / "docs" / "latest").symlink_to("v2")
    git(pool.root, "add", "docs")
    git(pool.root, "commit", "--quiet", "-m", "docs/latest -> v2")
    # A narrow scope stays in view after release, so the tracked page is there to look at.
    acquire(pool.repo, pool.store(), "a", "t", ("docs/**",))
    slot = pool.slot(1)
    (slot / "docs" / "latest").unlink()  # the agent replaces the link with a real directory
    (slot / "docs" / "latest").mkdir()
    (slot / "docs" / "latest" / "page.md").write_text("the agent's page\n")

    result = wtpool_json(pool.root, "release", "pool-wt-1")

    salvage = result["salvage_branch"]
    assert git(pool.root, "show", f"{salvage}:docs/latest/page.md") == "the agent's page"
    assert (slot / "docs" / "v2" / "page.md").read_text() == "tracked page\n"
    assert git(slot, "status", "--porcelain", "--untracked-files=all") == ""


# --- cases 2 and 3: the base's ignore rules alone decide what is work ------------------------


@pytest.mark.parametrize("committed", [False, True], ids=["edited", "committed"])
def test_cleanup_saves_files_the_slots_own_gitignore_hides(pool: Pool, committed: bool) -> None:
    acquire(pool.repo, pool.store(), "a", "t")
    slot = pool.slot(1)
    with (slot / ".gitignore").open("a") as handle:
        handle.write("notes/\n")
    if committed:
        git(slot, "commit", "--quiet", "-am", "ignore my notes")
    (slot / "notes").mkdir()
    (slot / "notes" / "p").write_text("the plan\n")

    saved = _cleanup_slot(pool.root, "pool-wt-1")

    assert git(pool.root, "show", f"{saved['salvage_branch']}:notes/p") == "the plan"
    assert "notes/p" in saved["work"]["untracked"]


def _self_ignoring_scratch(slot: Path) -> None:
    (slot / "scratch").mkdir()
    (slot / "scratch" / ".gitignore").write_text("*\n")
    (slot / "scratch" / "plan.txt").write_text("step 1\n")


@pytest.mark.parametrize("clean_ignored", [False, True])
def test_release_saves_a_self_ignoring_directory(pool: Pool, clean_ignored: bool) -> None:
    if clean_ignored:
        config = pool.root / "wtpool.yaml"
        config.write_text(config.read_text().replace("clean_ignored: false", "clean_ignored: true"))
    acquire(pool.repo, pool.store(), "a", "t")
    slot = pool.slot(1)
    _self_ignoring_scratch(slot)
    (slot / "build").mkdir()
    (slot / "build" / "out.o").write_text("the base ignores build/\n")

    result = wtpool_json(pool.root, "release", "pool-wt-1")

    salvage = result["salvage_branch"]
    assert git(pool.root, "show", f"{salvage}:scratch/plan.txt") == "step 1"
    assert git(pool.root, "show", f"{salvage}:scratch/.gitignore") == "*"
    assert "build/out.o" not in git(pool.root, "ls-tree", "-r", "--name-only", salvage)
    assert not (slot / "scratch").exists()  # saved, so the next agent does not inherit it
    assert (slot / "build" / "out.o").exists() != clean_ignored


def test_cleanup_saves_a_self_ignoring_directory(pool: Pool) -> None:
    acquire(pool.repo, pool.store(), "a", "t")
    _self_ignoring_scratch(pool.slot(1))
    saved = _cleanup_slot(pool.root, "pool-wt-1")
    assert git(pool.root, "show", f"{saved['salvage_branch']}:scratch/plan.txt") == "step 1"


def test_scale_down_keeps_an_idle_slot_with_self_ignored_files(repo: Path) -> None:
    pool = make_pool(repo, minimum=1)
    wtpool_json(pool.root, "scale", "--to", "2")
    _self_ignoring_scratch(pool.slot(2))
    result = wtpool_json(pool.root, "scale", "--to", "1")
    assert result["removed"] == ["pool-wt-1"]  # the other idle slot, which holds nothing
    assert [kept["name"] for kept in result["kept"]] == ["pool-wt-2"]
    assert "untracked" in result["kept"][0]["reason"]
    assert (pool.slot(2) / "scratch" / "plan.txt").read_text() == "step 1\n"


# --- case 4: stashes and autostashes --------------------------------------------------------


def _stopped_with_an_autostash(pool: Pool, operation: str) -> Path:
    """A slot in the middle of `git rebase --autostash main` (or merge), stopped on a
    conflict, with an edit that only the autostash holds."""
    acquire(pool.repo, pool.store(), "a", "t")
    slot = pool.slot(1)
    (slot / "src" / "app.py").write_text("the agent's version\n")
    git(slot, "commit", "--quiet", "-am", "conflicting change")
    (pool.root / "src" / "app.py").write_text("main's version\n")
    git(pool.root, "commit", "--quiet", "-am", "main moves on")
    (slot / "docs" / "guide.md").write_text("an edit only the autostash holds\n")
    stopped = subprocess.run(
        ["git", operation, "--autostash", "main"], cwd=slot, capture_output=True, text=True
    )
    assert stopped.returncode != 0 and "Created autostash" in stopped.stdout + stopped.stderr
    return slot


@pytest.mark.parametrize("operation", ["rebase", "merge"])
@pytest.mark.parametrize("verb", ["release", "cleanup"])
def test_the_autostash_of_a_stopped_operation_is_saved(
    pool: Pool, verb: str, operation: str
) -> None:
    _stopped_with_an_autostash(pool, operation)
    stash_before = git(pool.root, "stash", "list")

    if verb == "release":
        result = wtpool_json(pool.root, "release", "pool-wt-1")
        salvage, saved = result["salvage_branch"], result["saved"]
    else:
        slot = _cleanup_slot(pool.root, "pool-wt-1")
        salvage, saved = slot["salvage_branch"], json.dumps(slot["work"])

    assert _blob(pool.root, "an edit only the autostash holds\n") in _reachable(pool.root, salvage)
    assert "stash" in saved
    # Neither applied to the next agent's slot nor left on the shared stash list.
    assert git(pool.root, "stash", "list") == stash_before
    if verb == "release":
        assert git(pool.slot(1), "status", "--porcelain") == ""


def test_stash_entries_made_in_the_slot_are_saved_and_others_are_not(pool: Pool) -> None:
    acquire(pool.repo, pool.store(), "a", "t")
    slot = pool.slot(1)
    (slot / "src" / "app.py").write_text("stashed in the slot\n")
    git(slot, "stash", "--quiet")
    (pool.root / "src" / "util.py").write_text("stashed in the main worktree\n")
    git(pool.root, "stash", "--quiet")

    result = wtpool_json(pool.root, "release", "pool-wt-1")

    reachable = _reachable(pool.root, result["salvage_branch"])
    assert _blob(pool.root, "stashed in the slot\n") in reachable
    assert _blob(pool.root, "stashed in the main worktree\n") not in reachable
    assert "1 stash entry" in result["saved"]
    assert result["work"]["stashes"] == [git(pool.root, "rev-parse", "stash@{1}")]
    assert len(git(pool.root, "stash", "list").splitlines()) == 2  # the stash list is untouched


def test_an_autostash_a_finished_rebase_put_on_the_stash_list_is_saved(pool: Pool) -> None:
    acquire(pool.repo, pool.store(), "a", "t")
    slot = pool.slot(1)
    (slot / "docs" / "guide.md").write_text("the agent's commit\n")
    git(slot, "commit", "--quiet", "-am", "agent")
    (pool.root / "src" / "app.py").write_text("main's version\n")
    git(pool.root, "commit", "--quiet", "-am", "main moves on")
    (slot / "src" / "app.py").write_text("an edit the autostash cannot give back\n")
    rebase = subprocess.run(
        ["git", "rebase", "--autostash", "main"], cwd=slot, capture_output=True, text=True
    )
    assert "Your changes are safe in the stash" in rebase.stdout + rebase.stderr

    result = wtpool_json(pool.root, "release", "pool-wt-1")

    edit = _blob(pool.root, "an edit the autostash cannot give back\n")
    assert edit in _reachable(pool.root, result["salvage_branch"])
    assert "1 stash entry" in result["saved"]


# --- case 6: commits only in the reflogs ----------------------------------------------------


def _commit_then_drop(slot: Path, content: str) -> str:
    (slot / "feature.py").write_text(content)
    git(slot, "add", "feature.py")
    git(slot, "commit", "--quiet", "-m", "dropped by reset --hard")
    dropped = git(slot, "rev-parse", "HEAD")
    git(slot, "reset", "--quiet", "--hard", "HEAD~")
    return dropped


def test_cleanup_saves_commits_only_in_the_reflogs(pool: Pool) -> None:
    acquire(pool.repo, pool.store(), "a", "t")
    dropped = _commit_then_drop(pool.slot(1), "only the reflog knows\n")

    saved = _cleanup_slot(pool.root, "pool-wt-1")

    assert git(pool.root, "merge-base", "--is-ancestor", dropped, saved["salvage_branch"]) == ""
    assert saved["work"]["reflog_commits"] == [dropped]


def test_release_saves_reflog_commits_once(pool: Pool) -> None:
    acquire(pool.repo, pool.store(), "a", "t")
    dropped = _commit_then_drop(pool.slot(1), "only the reflog knows\n")
    first = wtpool_json(pool.root, "release", "pool-wt-1")
    assert git(pool.root, "merge-base", "--is-ancestor", dropped, first["salvage_branch"]) == ""
    assert "1 commit only in its reflogs" in first["saved"]
    # Nor does the next agent inherit the slot's per-worktree refs (ORIG_HEAD names the commit).
    assert (
        subprocess.run(
            ["git", "rev-parse", "-q", "--verify", "ORIG_HEAD"], cwd=pool.slot(1)
        ).returncode
        == 1
    )
    # The recycled slot's HEAD reflog still lists the commit: the next release must not save
    # it again, even once the first salvage branch is gone.
    acquire(pool.repo, pool.store(), "b", None)
    git(pool.root, "branch", "-D", first["salvage_branch"])
    second = wtpool_json(pool.root, "release", "pool-wt-1")
    assert second["salvage_branch"] is None and second["saved"] is None


def test_cleanup_saves_commits_only_a_per_worktree_ref_holds(pool: Pool) -> None:
    acquire(pool.repo, pool.store(), "a", None)
    slot = pool.slot(1)
    dropped = _commit_then_drop(slot, "kept by refs/worktree/keep\n")
    git(slot, "update-ref", "refs/worktree/keep", dropped)
    git(slot, "reflog", "expire", "--expire=now", "--all")  # only the ref holds it now
    saved = _cleanup_slot(pool.root, "pool-wt-1")
    assert git(pool.root, "merge-base", "--is-ancestor", dropped, saved["salvage_branch"]) == ""


# --- case 13: the slot's branch deleted while checked out -----------------------------------


def _delete_checked_out_branch(pool: Pool) -> tuple[Path, str]:
    acquire(pool.repo, pool.store(), "a", "t")
    slot = pool.slot(1)
    (slot / "feature.py").write_text("committed on the deleted branch\n")
    git(slot, "add", "feature.py")
    git(slot, "commit", "--quiet", "-m", "work")
    work = git(slot, "rev-parse", "HEAD")
    (slot / "notes.txt").write_text("untracked on an unborn branch\n")
    git(slot, "update-ref", "-d", "refs/heads/wtpool/task/t")
    return slot, work


def test_release_saves_a_slot_whose_branch_was_deleted(pool: Pool) -> None:
    slot, work = _delete_checked_out_branch(pool)
    result = wtpool_json(pool.root, "release", "pool-wt-1")
    salvage = result["salvage_branch"]
    assert git(pool.root, "merge-base", "--is-ancestor", work, salvage) == ""
    assert git(pool.root, "show", f"{salvage}:notes.txt") == "untracked on an unborn branch"
    assert git(slot, "rev-parse", "HEAD") == git(pool.root, "rev-parse", "main")


def test_cleanup_saves_a_slot_whose_branch_was_deleted(pool: Pool) -> None:
    _, work = _delete_checked_out_branch(pool)
    saved = _cleanup_slot(pool.root, "pool-wt-1")
    assert git(pool.root, "merge-base", "--is-ancestor", work, saved["salvage_branch"]) == ""
    assert _held_by_some_branch(pool.root, "untracked on an unborn branch\n")


def test_cleanup_force_removes_a_slot_whose_branch_was_deleted(pool: Pool) -> None:
    _delete_checked_out_branch(pool)
    result = wtpool(pool.root, "cleanup", "--force")
    assert result.returncode == 0, result.stderr
    assert "discarded from pool-wt-1" in result.stdout
    assert not pool.slot(1).exists()


def test_doctor_reports_a_slot_whose_branch_was_deleted(pool: Pool) -> None:
    _delete_checked_out_branch(pool)
    result = wtpool(pool.root, "doctor", "--json")
    assert result.returncode == 1, result.stdout
    (finding,) = json.loads(result.stdout)["findings"]
    assert finding["kind"] == "deleted-branch" and "wtpool/task/t" in finding["detail"]


# --- cousins: filter changes ----------------------------------------------------------------


def test_narrowing_a_filter_never_deletes_work_the_slots_own_gitignore_hides(pool: Pool) -> None:
    """git's sparse-checkout deletes a directory leaving the cone when all its untracked files
    are ignored, by the slot's rules: a self-ignoring scratch directory would go."""
    acquire(pool.repo, pool.store(), "a", None, ("src/", "docs/"))
    slot = pool.slot(1)
    _self_ignoring_scratch(slot / "docs")
    before = git(slot, "sparse-checkout", "list")

    result = wtpool(pool.root, "filter", "set", "pool-wt-1", "src/")

    assert_one_line_error(result, 1, "docs/scratch/plan.txt")
    assert (slot / "docs" / "scratch" / "plan.txt").read_text() == "step 1\n"
    assert git(slot, "sparse-checkout", "list") == before
    assert wtpool_json(pool.root, "filter", "show", "pool-wt-1")["patterns"] == ["src/", "docs/"]
    # Work git itself sees keeps the directory, and the change goes ahead.
    (slot / "docs" / "scratch" / ".gitignore").unlink()
    assert wtpool(pool.root, "filter", "set", "pool-wt-1", "src/").returncode == 0
    assert (slot / "docs" / "scratch" / "plan.txt").read_text() == "step 1\n"


def test_doctor_adopts_a_worktree_with_self_ignored_work_as_busy(pool: Pool) -> None:
    """Adopted idle, it would be handed to the next agent with someone else's files in it."""
    stray = pool.root / ".agent-worktrees" / "pool-wt-7"
    git(pool.root, "worktree", "add", "--quiet", "--detach", str(stray))
    _self_ignoring_scratch(stray)
    assert wtpool(pool.root, "doctor", "--fix").returncode == 0
    states = {w["name"]: w["state"] for w in wtpool_json(pool.root, "status")["worktrees"]}
    assert states["pool-wt-7"] == "busy"


@pytest.mark.parametrize("command", ["release", "cleanup"])
def test_hidden_edits_are_saved_without_reading_through_links(
    pool: Pool, tmp_path: Path, command: str
) -> None:
    """Files flagged skip-worktree that the agent replaced by a link to a file outside the
    repository, a link to a pipe, and a directory: each is saved as what it is on disk (a link
    as its target, the directory's files), and nothing outside is ever read: the outside
    file's content never enters the repository, and the pipe never makes wtpool wait."""
    outside = tmp_path / "outside.txt"
    outside.write_text("an outside secret\n")
    pipe = tmp_path / "pipe"
    subprocess.run(["mkfifo", str(pipe)], check=True)
    slot = Path(wtpool_json(pool.root, "acquire", "--agent", "a")["path"])
    hidden = ["src/app.py", "src/util.py", "docs/guide.md"]
    git(slot, "update-index", "--skip-worktree", *hidden)
    for path in hidden:
        (slot / path).unlink()
    (slot / "src" / "app.py").symlink_to(outside)
    (slot / "src" / "util.py").symlink_to(pipe)
    (slot / "docs" / "guide.md").mkdir()
    (slot / "docs" / "guide.md" / "inside.md").write_text("kept inside a directory\n")

    result = wtpool(pool.root, command, *(["pool-wt-1"] if command == "release" else []))
    assert result.returncode == 0, result.stdout + result.stderr
    salvage = git(pool.root, "for-each-ref", "--format=%(refname)", "refs/heads/wtpool/salvage/")
    tree = git(pool.root, "ls-tree", "-r", salvage, "--", "src", "docs")
    assert f"120000 blob {_blob(pool.root, str(outside))}\tsrc/app.py" in tree
    assert f"120000 blob {_blob(pool.root, str(pipe))}\tsrc/util.py" in tree
    assert _held_by_some_branch(pool.root, "kept inside a directory\n")
    secret = _blob(pool.root, "an outside secret\n")
    assert subprocess.run(["git", "cat-file", "-e", secret], cwd=pool.root).returncode != 0


@pytest.mark.parametrize("sparse_index", [True, False], ids=["sparse-index", "full-index"])
def test_files_recreated_outside_a_narrow_scope_are_saved(pool: Pool, sparse_index: bool) -> None:
    """In a slot showing src/ alone, the agent writes files where the sparse checkout shows
    nothing: a tracked file in a tracked directory that is not on disk (docs/), one nested
    deeper (lib/a/b/). The per-directory look that finds hidden edits must not skip them;
    release saves every one."""
    (pool.root / "lib" / "a" / "b").mkdir(parents=True)
    (pool.root / "lib" / "a" / "b" / "deep.txt").write_text("deep\n")
    git(pool.root, "add", "lib")
    git(pool.root, "commit", "--quiet", "-m", "a deep file")
    (pool.root / "wtpool.yaml").write_text(f"scope:\n  sparse_index: {str(sparse_index).lower()}\n")
    slot = Path(wtpool_json(pool.root, "acquire", "--agent", "a", "--scope", "src/**")["path"])
    assert not (slot / "docs").exists() and not (slot / "lib").exists()
    (slot / "docs").mkdir()
    (slot / "docs" / "guide.md").write_text("the agent's guide\n")
    (slot / "lib" / "a" / "b").mkdir(parents=True)
    (slot / "lib" / "a" / "b" / "deep.txt").write_text("the agent's deep file\n")

    result = wtpool_json(pool.root, "release", "pool-wt-1")

    salvage = result["salvage_branch"]
    assert git(pool.root, "show", f"{salvage}:docs/guide.md") == "the agent's guide"
    assert git(pool.root, "show", f"{salvage}:lib/a/b/deep.txt") == "the agent's deep file"
    assert not (slot / "docs").exists() and not (slot / "lib").exists()

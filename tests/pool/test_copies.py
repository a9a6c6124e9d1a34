"""Copies into slots: what git ignores, where the view shows it, never over what the slot
tracks, kept warm across claims and replaced by refresh."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import (
    Pool,
    assert_one_line_error,
    git,
    make_pool,
    snapshot,
    wtpool,
    wtpool_json,
)
from worktree_pool.errors import WtpoolError
from worktree_pool.pool.copies import STAGING_DIR, copy_into_slot


def project(root: Path, copy: list) -> None:
    (root / ".gitignore").write_text("node_modules/\n.env\ntarget/\n")
    (root / "wtpool.yaml").write_text(yaml.safe_dump({"copy": copy}))
    git(root, "add", ".gitignore")
    git(root, "commit", "-q", "-m", "ignore build output")
    (root / "node_modules" / "pkg").mkdir(parents=True)
    (root / "node_modules" / "pkg" / "index.js").write_text("module.exports = 1\n")
    (root / ".env").write_text("SECRET=1\n")
    (root / "src" / "target").mkdir(parents=True)
    (root / "src" / "target" / "out.o").write_text("object\n")
    (root / "notes.txt").write_text("untracked, not ignored\n")


def test_a_claim_gets_the_copies_its_view_shows(repo: Path) -> None:
    project(repo, [".env", "node_modules/", "target/", "notes.txt"])
    pool = make_pool(repo, 1)
    slot = pool.slot(1)
    # An empty slot shows only the root: the root's entries, not src/target/.
    assert (slot / ".env").read_text() == "SECRET=1\n"
    assert (slot / "node_modules" / "pkg" / "index.js").is_file()
    assert not (slot / "src").exists()
    claim = wtpool_json(repo, "acquire", "--agent", "a", "--scope", "src/")
    assert (slot / "src" / "target" / "out.o").read_text() == "object\n"
    assert not (slot / "notes.txt").exists()  # it would look like the agent's own work
    assert "copy: notes.txt: git does not ignore it" in claim["warnings"]
    assert git(slot, "status", "--porcelain") == ""  # copies are not work


def test_copies_stay_warm_across_claims_and_refresh_replaces_them(pool: Pool) -> None:
    project(pool.root, ["node_modules/"])
    wtpool_json(pool.root, "acquire", "--agent", "a")
    copied = pool.slot(1) / "node_modules" / "pkg" / "index.js"
    copied.write_text("built in the slot\n")
    released = wtpool_json(pool.root, "release", "pool-wt-1")
    assert released["salvage_branch"] is None  # an ignored copy is nobody's work
    wtpool_json(pool.root, "acquire", "--agent", "b")
    assert copied.read_text() == "built in the slot\n"  # warm: left as it was
    result = wtpool_json(pool.root, "refresh", "pool-wt-1")
    assert result["copies"]["copied"] == ["node_modules/"]
    assert copied.read_text() == "module.exports = 1\n"
    assert wtpool(pool.root, "release", "pool-wt-1").returncode == 0
    assert wtpool(pool.root, "cleanup").returncode == 0
    assert not (pool.root / ".agent-worktrees" / ".copying").exists()  # nothing left behind


def test_link_mode_shares_the_main_worktrees_entry_and_removal_keeps_it(pool: Pool) -> None:
    project(pool.root, ["node_modules/", {"pattern": "node_modules/", "mode": "link"}])  # last wins
    wtpool_json(pool.root, "acquire", "--agent", "a")
    linked = pool.slot(1) / "node_modules"
    assert linked.is_symlink() and linked.resolve() == pool.root / "node_modules"
    assert wtpool(pool.root, "cleanup").returncode == 0
    assert (pool.root / "node_modules" / "pkg" / "index.js").is_file()  # never followed


def test_a_link_out_of_the_repository_is_refused_and_the_rest_copied(pool: Pool) -> None:
    project(pool.root, ["node_modules/"])
    (pool.root / "node_modules" / "pkg" / "passwd").symlink_to("/etc/passwd")
    claim = wtpool_json(pool.root, "acquire", "--agent", "a")
    slot = pool.slot(1)
    assert claim["slot"] == "pool-wt-1"
    assert (slot / "node_modules" / "pkg" / "index.js").is_file()
    assert not os.path.lexists(slot / "node_modules" / "pkg" / "passwd")
    refreshed = wtpool_json(pool.root, "refresh", "pool-wt-1")["copies"]
    assert refreshed["refused"] == [
        f"{pool.root}/node_modules/pkg/passwd: a link to /etc/passwd, outside the repository"
    ]


def test_a_path_the_slots_branch_tracks_is_never_written(pool: Pool) -> None:
    project(pool.root, [".env"])
    wtpool_json(pool.root, "acquire", "--agent", "a", "--task", "t", "--adhoc")
    slot = pool.slot(1)
    (slot / ".env").unlink()
    (slot / ".env").write_text("the branch's own\n")
    git(slot, "add", "-f", ".env")
    git(slot, "commit", "-q", "-m", "track .env on this branch")
    report = wtpool_json(pool.root, "refresh", "pool-wt-1")["copies"]
    assert report["skipped"] == [".env: the slot's checkout tracks it"]
    assert (slot / ".env").read_text() == "the branch's own\n"


def test_refresh_of_an_unknown_or_busy_being_prepared_slot_changes_nothing(pool: Pool) -> None:
    project(pool.root, [".env"])
    before = snapshot(pool.root)
    assert_one_line_error(wtpool(pool.root, "refresh", "pool-wt-9"), 2, "no slot named")
    assert_one_line_error(wtpool(pool.root, "refresh", "../x"), 2, "slot")
    assert snapshot(pool.root) == before


def test_a_refresh_refused_whole_keeps_the_copy_there(pool: Pool) -> None:
    project(pool.root, [".env"])
    copy_into_slot(pool.repo, "pool-wt-1")
    (pool.root / ".env").unlink()
    (pool.root / ".env").symlink_to("/etc/passwd")
    report = copy_into_slot(pool.repo, "pool-wt-1", refresh=True)
    assert report.copied == [] and report.refused[0].endswith("outside the repository")
    assert (pool.slot(1) / ".env").read_text() == "SECRET=1\n"


def test_what_a_killed_copy_left_is_removed_by_the_next(pool: Pool) -> None:
    project(pool.root, [".env"])
    staging = pool.root / ".agent-worktrees" / STAGING_DIR
    gone = subprocess.run(["sh", "-c", "echo $$"], capture_output=True, text=True, check=True)
    left = staging / f"{gone.stdout.strip()}-killed" / "node_modules"
    left.mkdir(parents=True)
    running = staging / f"{os.getpid()}-running"  # a copy under way in a live process
    running.mkdir()
    copy_into_slot(pool.repo, "pool-wt-1")
    assert sorted(staging.iterdir()) == [running]


def test_a_copy_that_fails_is_one_error_and_leaves_no_half_copy(pool: Pool) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a 1 MB tmpfs that fills up")
    project(pool.root, ["node_modules/"])
    copy_into_slot(pool.repo, "pool-wt-1")
    (pool.root / "node_modules" / "pkg" / "index.js").write_bytes(b"x" * 3 * 1024 * 1024)
    staging = pool.root / ".agent-worktrees" / STAGING_DIR
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(staging)], check=True)
    try:
        with pytest.raises(WtpoolError) as failed:
            copy_into_slot(pool.repo, "pool-wt-1", refresh=True)
        assert failed.value.message.startswith("could not copy node_modules/ into pool-wt-1: ")
        assert "No space left on device" in failed.value.message
        assert list(staging.iterdir()) == []
    finally:
        subprocess.run(["umount", str(staging)], check=True)
    index = pool.slot(1) / "node_modules" / "pkg" / "index.js"
    assert index.read_text() == "module.exports = 1\n"  # the old copy, whole

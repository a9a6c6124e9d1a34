"""Copies that share blocks where the file system can, plain copies where it cannot, and never
a link out of the root."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from worktree_pool.util.cow_copy import TreeCopier

LONG_AGO = 1_000_000_000 * 10**9  # 2001, in nanoseconds
NEEDS = "needs root, loop devices and mkfs.xfs (xfsprogs) to mount an XFS image with reflink"


@pytest.fixture(scope="session")
def reflink_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A directory on a file system that clones files: an XFS image mounted for the session
    (each xdist worker mounts its own)."""
    if os.geteuid() != 0 or shutil.which("mkfs.xfs") is None:
        pytest.skip(NEEDS)
    base = tmp_path_factory.mktemp("xfs")
    image, mount = base / "image", base / "mnt"
    mount.mkdir()
    with image.open("wb") as handle:
        handle.truncate(400 * 1024 * 1024)
    made = subprocess.run(["mkfs.xfs", "-q", "-m", "reflink=1", str(image)], capture_output=True)
    mounted = (
        made.returncode == 0
        and (
            subprocess.run(["mount", "-o", "loop", str(image), str(mount)], capture_output=True)
        ).returncode
        == 0
    )
    if not mounted:
        pytest.skip(NEEDS)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
        image.unlink(missing_ok=True)


def make_tree(root: Path) -> Path:
    tree = root / "node_modules"
    (tree / "pkg" / "bin").mkdir(parents=True)
    (tree / "pkg" / "index.js").write_bytes(os.urandom(3 * 1024 * 1024))
    (tree / "pkg" / "tool").write_text("#!/bin/sh\n")
    (tree / "pkg" / "tool").chmod(0o755)
    (tree / "pkg" / "bin" / "tool").symlink_to("../tool")  # inside: copied as a link
    os.utime(tree / "pkg" / "bin" / "tool", ns=(LONG_AGO, LONG_AGO), follow_symlinks=False)
    (tree / "pkg" / "passwd").symlink_to("/etc/passwd")  # outside: refused
    (tree / "pkg" / "up").symlink_to("../../../..")  # outside, relative: refused
    return tree


def assert_same_tree(source: Path, copy: Path) -> None:
    assert (copy / "pkg" / "index.js").read_bytes() == (source / "pkg" / "index.js").read_bytes()
    assert os.access(copy / "pkg" / "tool", os.X_OK)
    assert os.readlink(copy / "pkg" / "bin" / "tool") == "../tool"
    assert not (copy / "pkg" / "passwd").is_symlink() and not (copy / "pkg" / "up").is_symlink()
    source_time = (source / "pkg" / "index.js").stat().st_mtime_ns
    assert (copy / "pkg" / "index.js").stat().st_mtime_ns == source_time
    assert os.lstat(copy / "pkg" / "bin" / "tool").st_mtime_ns == LONG_AGO


def test_a_tree_is_cloned_where_the_file_system_can(reflink_dir: Path) -> None:
    root = reflink_dir / uuid.uuid4().hex
    source = make_tree(root)
    free_before = shutil.disk_usage(reflink_dir).free
    copier = TreeCopier(root)
    copier.copy(source, root / "copy")
    assert copier.tally.method == "reflink" and copier.tally.cloned == 2
    assert_same_tree(source, root / "copy")
    # The clone shares the 3 MB file's blocks: the file system barely noticed the copy.
    assert free_before - shutil.disk_usage(reflink_dir).free < 1024 * 1024
    # And the copy is a copy: writing it leaves the source alone.
    (root / "copy" / "pkg" / "index.js").write_text("changed")
    assert (source / "pkg" / "index.js").stat().st_size == 3 * 1024 * 1024


def test_a_file_system_without_clones_gets_a_plain_copy() -> None:
    on_tmpfs = Path("/dev/shm") / uuid.uuid4().hex
    if not Path("/dev/shm").is_dir():
        pytest.skip("needs /dev/shm, a tmpfs, which cannot clone files")
    try:
        source = make_tree(on_tmpfs)
        copier = TreeCopier(on_tmpfs)
        copier.copy(source, on_tmpfs / "copy")
        assert copier.tally.method == "copy" and copier.tally.cloned == 0
        assert copier.tally.bytes == 3 * 1024 * 1024 + len("#!/bin/sh\n")
        assert_same_tree(source, on_tmpfs / "copy")
    finally:
        shutil.rmtree(on_tmpfs, ignore_errors=True)


def test_links_out_of_the_root_are_refused_and_named(tmp_path: Path) -> None:
    source = make_tree(tmp_path)
    copier = TreeCopier(tmp_path)
    copier.copy(source, tmp_path / "copy")
    (tmp_path / "escape").symlink_to("/etc")  # the entry itself: refused, nothing made
    copier.copy(tmp_path / "escape", tmp_path / "escape-copy")
    assert not os.path.lexists(tmp_path / "escape-copy")
    refused = sorted(entry.split(":")[0] for entry in copier.tally.refused)
    assert refused == [
        str(tmp_path / "escape"),
        str(source / "pkg" / "passwd"),
        str(source / "pkg" / "up"),
    ]


def test_entries_deleted_while_copying_are_named_and_the_rest_copied(tmp_path: Path) -> None:
    source = tmp_path / "node_modules"
    source.mkdir()
    for number in range(5):
        (source / f"file{number}.js").write_text(f"{number}\n")

    def build_in_main_worktree(copied: int) -> None:
        # After the first file, a build deletes the others, which the walk has already listed.
        for path in source.iterdir():
            if not (tmp_path / "copy" / path.name).exists():
                path.unlink()

    copier = TreeCopier(tmp_path, build_in_main_worktree)
    copier.copy(source, tmp_path / "copy")
    assert copier.tally.files == 1 and len(list((tmp_path / "copy").iterdir())) == 1
    assert len(copier.tally.refused) == 4
    assert all(
        entry.endswith(": deleted while it was being copied") for entry in copier.tally.refused
    )


def test_link_mode_makes_a_link_unless_the_source_leads_out(tmp_path: Path) -> None:
    source = make_tree(tmp_path)
    copier = TreeCopier(tmp_path)
    copier.link(source, tmp_path / "linked")
    assert (tmp_path / "linked").resolve() == source
    (tmp_path / "escape").symlink_to("/etc")
    copier.link(tmp_path / "escape", tmp_path / "linked-out")
    assert not (tmp_path / "linked-out").exists()
    assert copier.tally.refused == [f"{tmp_path / 'escape'}: a link to /etc, outside"]

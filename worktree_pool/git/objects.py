"""Reading a file from a commit, and writing a commit that changes one file, without a
checkout.

The merge queue lands work without checking the base out (merge/integration.py), so an edit it
adds to a landing (the task file's `status: closed`) is made the same way: a new blob, new
trees along the file's path only (`mktree`, so the cost is the path's depth, not the size of
the tree), and a commit: one like a commit wtpool made, in its place, or a child of another.
Nothing here moves a ref: the caller swaps the new commit in, or drops it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from worktree_pool.errors import WtpoolError
from worktree_pool.git.run import WTPOOL_COMMITTER, WTPOOL_IDENTITY, Git

REGULAR_FILES = frozenset({"100644", "100755"})
# `author NAME <EMAIL> SECONDS ZONE` in a raw commit.
_AUTHOR = re.compile(r"^author (.*) <(.*)> (\d+) ([+-]\d{4})$")


@dataclass(frozen=True)
class TrackedFile:
    mode: str  # 100644 or 100755
    oid: str  # the blob


def tracked_file(git: Git, commit: str, path: str) -> TrackedFile | None:
    """The regular file at `path` in `commit`; None when there is none there (untracked, a
    directory, a symbolic link, a submodule)."""
    listed = git.run("ls-tree", "-z", "--full-tree", commit, "--", path).stdout
    for line in listed.split("\0"):
        meta, _, name = line.partition("\t")
        fields = meta.split()
        if name == path and len(fields) == 3 and fields[0] in REGULAR_FILES:
            return TrackedFile(fields[0], fields[2])
    return None


def read_blob(git: Git, oid: str, limit: int) -> str:
    """A blob as text, refused past `limit` bytes rather than read into memory."""
    size = int(git.out("cat-file", "-s", oid))
    if size > limit:
        raise WtpoolError(f"blob {oid[:12]} is {size} bytes, more than the {limit} read")
    return git.run("cat-file", "blob", oid, exact=True).stdout


def tree_with_file(git: Git, commit: str, path: str, text: str) -> str:
    """The tree of `commit` with `text` at `path`, which must be a regular file there
    (tracked_file), keeping its mode."""
    entry = tracked_file(git, commit, path)
    if entry is None:
        raise WtpoolError(f"{commit[:12]} has no file {path} to change")
    blob = git.out("hash-object", "-w", "--stdin", "--no-filters", input=text)
    return _tree_with(git, f"{commit}^{{tree}}", path.split("/"), f"{entry.mode} blob {blob}")


def recommit(git: Git, commit: str, tree: str) -> str:
    """A commit in place of `commit`, one wtpool made, with `tree`: same parents, message and
    author; wtpool commits it."""
    headers, _, message = git.run("cat-file", "commit", commit).stdout.partition("\n\n")
    lines = headers.splitlines()
    # A signature would not survive the rewrite, nor would an encoding other than UTF-8.
    if any(line.startswith(("gpgsig", "encoding ")) for line in lines):
        raise WtpoolError(f"{commit[:12]} is signed or not UTF-8: wtpool will not rewrite it")
    parents = [arg for line in lines if line.startswith("parent ") for arg in ("-p", line[7:])]
    env = WTPOOL_COMMITTER | _author(lines)
    return git.out("commit-tree", tree, *parents, "-F", "-", env=env, input=message)


def child_commit(git: Git, parent: str, tree: str, message: str) -> str:
    """A commit of `tree` on `parent`, written and committed by wtpool."""
    return git.out("commit-tree", tree, "-p", parent, "-F", "-", env=WTPOOL_IDENTITY, input=message)


def _tree_with(git: Git, tree: str, parts: list[str], leaf: str) -> str:
    """`tree` with the entry at `parts` replaced by `leaf` (`MODE blob OID`); the entries on
    the way exist, as tracked_file found the file."""
    name, rest = parts[0], parts[1:]
    entries = []
    for line in git.run("ls-tree", "-z", tree).stdout.split("\0"):
        if not line:
            continue
        meta, _, entry_name = line.partition("\t")
        if entry_name == name:
            mode, _, oid = meta.split()
            meta = f"{mode} tree {_tree_with(git, oid, rest, leaf)}" if rest else leaf
        entries.append(f"{meta}\t{entry_name}")
    # --missing: every entry comes from an existing tree, so there is nothing to check, and a
    # submodule's commit is never in this repository anyway.
    return git.out("mktree", "-z", "--missing", input="\0".join(entries) + "\0")


def _author(headers: list[str]) -> dict[str, str]:
    for line in headers:
        found = _AUTHOR.match(line)
        if found:
            name, email, seconds, zone = found.groups()
            return {
                "GIT_AUTHOR_NAME": name,
                "GIT_AUTHOR_EMAIL": email,
                "GIT_AUTHOR_DATE": f"@{seconds} {zone}",
            }
    raise WtpoolError("a commit without an author line")

"""Which untracked files in a slot are work: those the base's ignore rules do not ignore.

The rules are the base branch's committed `.gitignore` files, the repository's `info/exclude`
and the user's `core.excludesFile`, as git would apply them to a checkout of the base. The
slot's own `.gitignore` files, edited, committed or untracked, count for nothing: an agent that
adds `notes/` to `.gitignore`, or writes `scratch/.gitignore` containing `*`, has not turned its
notes into build output. Judging by the base means release, cleanup and scale down all see the
same work, before anything is reset or removed.

Git does the walk, so a directory the base ignores (`node_modules/`, `target/`) is never
entered. To make git apply the base's per-directory files rather than the slot's, each one is
rewritten into a single root-level exclude list that means the same: a pattern of `a/b/.gitignore`
without a slash matches at any depth below `a/b/` (`/a/b/**/pattern`), one with a slash is
anchored there (`/a/b/pattern`), and deeper files come later, because in one list the last match
wins just as the deeper file wins in git.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

from worktree_pool.git.run import Git, git_paths

# Rewritten rules by the base's commit id: an id names its content, so the rules never go
# stale, and cleanup judges many slots against one base without asking git again.
_RULES_BY_COMMIT: dict[str, str] = {}
_CACHED_COMMITS = 8
_RULES_LOCK = threading.Lock()


def untracked_work(git: Git, base: str | None, *, info_exclude: Path | None = None) -> list[str]:
    """The untracked files of the worktree at `git.cwd` that the base's rules do not ignore.

    `base` is a commit id; None (the base branch is gone) leaves only info/exclude and
    core.excludesFile. `info_exclude`: where that file is, when the caller already knows. A
    nested repository is listed as its directory, with a trailing slash, since git does not
    look inside it.
    """
    with tempfile.NamedTemporaryFile(
        "w", prefix="wtpool-base-ignores-", encoding="utf-8", errors="surrogateescape"
    ) as rules:
        rules.write(base_rules(git, base) if base else "")
        rules.flush()
        # In git's own order of precedence: the user's file, then the repository's, then the
        # base's per-directory rules, which override both.
        sources = [*_standard_exclude_files(git, info_exclude), Path(rules.name)]
        listing = git.out(
            "ls-files", "--others", "-z", *(f"--exclude-from={path}" for path in sources)
        )
    return [path for path in listing.split("\0") if path]


def base_rules(git: Git, commit: str) -> str:
    """The .gitignore files of the commit whose id is `commit` as one root-level exclude list
    (see the module docstring)."""
    with _RULES_LOCK:  # cleanup inspects slots side by side: one of them lists the tree
        if commit not in _RULES_BY_COMMIT:
            if len(_RULES_BY_COMMIT) >= _CACHED_COMMITS:  # a daemon sees the base move for hours
                _RULES_BY_COMMIT.clear()
            tree = git.out("rev-parse", f"{commit}^{{tree}}")
            _RULES_BY_COMMIT[commit] = _rewrite_rules(git, tree)
        return _RULES_BY_COMMIT[commit]


def _rewrite_rules(git: Git, tree: str) -> str:
    listing = git.out("ls-tree", "-r", "-z", "--full-tree", tree)
    files: list[tuple[str, str]] = []
    for entry in listing.split("\0"):
        meta, _, path = entry.partition("\t")
        # A symlinked .gitignore is not read by git either.
        if (path == ".gitignore" or path.endswith("/.gitignore")) and meta.startswith("100"):
            files.append((path.removesuffix(".gitignore").rstrip("/"), meta.split()[2]))
    files.sort(key=lambda item: (item[0].count("/") + bool(item[0]), item[0]))
    lines: list[str] = []
    for directory, oid in files:
        if "\n" not in directory:  # not expressible in a list; its files then count as work
            lines += rewrite_for_root(directory, git.out("cat-file", "blob", oid))
    return "".join(f"{line}\n" for line in lines)


def rewrite_for_root(directory: str, text: str) -> list[str]:
    """The patterns of `directory`/.gitignore, rewritten to mean the same in a root-level list."""
    # git splits on newlines alone and drops the carriage return of a CRLF line.
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    if not directory:
        return lines
    prefix = "/" + _escape(directory) + "/"
    rewritten = []
    for line in lines:
        if not line or line.startswith("#"):
            continue
        negative = line.startswith("!")
        body = line[1:] if negative else line
        pattern = _trim_trailing_spaces(body)
        if pattern.removesuffix("/") in ("", "/"):
            continue
        if "/" in pattern.removesuffix("/"):
            anchored = prefix + body.removeprefix("/")
        else:
            anchored = prefix + "**/" + body
        rewritten.append(("!" if negative else "") + anchored)
    return rewritten


def _escape(directory: str) -> str:
    return "".join("\\" + char if char in "\\*?[" else char for char in directory)


def _trim_trailing_spaces(pattern: str) -> str:
    """git's own rule: trailing spaces go unless a backslash quotes them."""
    end, index = len(pattern), 0
    last_space: int | None = None
    while index < end:
        char = pattern[index]
        if char == " ":
            last_space = index if last_space is None else last_space
        else:
            last_space = None
            if char == "\\":
                index += 1
        index += 1
    return pattern if last_space is None else pattern[:last_space]


def _standard_exclude_files(git: Git, repository: Path | None) -> list[Path]:
    """core.excludesFile (git's default: $XDG_CONFIG_HOME/git/ignore), then info/exclude
    (`repository`, or asked of git)."""
    configured = git.run("config", "--path", "--get", "core.excludesFile", check=False)
    if configured.returncode == 0:
        user = Path(configured.stdout.strip())
    else:
        config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
        user = Path(config_home) / "git" / "ignore"
    if repository is None:
        repository = git_paths(git, "info/exclude")["info/exclude"]
    return [path for path in (user, repository) if path.is_file() and os.access(path, os.R_OK)]

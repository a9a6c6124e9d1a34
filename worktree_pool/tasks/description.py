"""The files a task's text lists itself: a `Files:` section, heading or clause.

A section starts at a `Files:`/`FILES:` line, a `## Files...` heading (`## Files to create`), or
a `Files:` clause anywhere in a line, and runs over the list items that follow (after blank
lines, when the start holds nothing itself), to a blank line, a heading, or a line that is not
a list item. Only tokens that look like paths or globs count:
they hold a `/` or end in a file extension, or name a tracked path. Parenthesised remarks and
trailing punctuation are dropped, so `Files: test/x.gleam (new, <80 LOC).` gives `test/x.gleam`,
and a section of prose (`FILES: All HTMX-enabled forms`) gives nothing, which the caller
reports instead of turning the words into patterns. With the tree at hand, a path written
relative to a sub-project resolves to the tracked one it names by unique suffix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from worktree_pool.tasks.inference.text import MAX_TEXT, path_tokens
from worktree_pool.tasks.inference.tree import TreeIndex

_HEADING = re.compile(r"^\s*#+\s*files\b[^:\n]*:?\s*(.*)$", re.IGNORECASE)
_CLAUSE = re.compile(r"\bfiles\s*:\s*(.*)$", re.IGNORECASE)
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+(.*)$")
_REMARK = re.compile(r"\([^()]*\)")
_GLOB = re.compile(r"[*?\[{]")


@dataclass(frozen=True)
class Listed:
    patterns: tuple[str, ...]
    prose: tuple[str, ...]  # sections whose tokens were all prose, as written


def listed_files(text: str, tree: TreeIndex | None = None) -> Listed:
    patterns: list[str] = []
    prose: list[str] = []
    for section in _sections(text[:MAX_TEXT]):
        found = [p for p in (_as_pattern(t, tree) for t in _tokens(section, tree)) if p]
        if found:
            patterns += found
        elif section.strip():
            prose.append(" ".join(section.split())[:120])
    return Listed(tuple(dict.fromkeys(patterns)), tuple(prose))


def _sections(text: str) -> list[str]:
    sections: list[str] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        start = _HEADING.match(line) or _CLAUSE.search(line)
        index += 1
        if start is None:
            continue
        parts = [start.group(1)]
        if not start.group(1).strip():
            # `## Files` then a blank line then the list is how Markdown is usually written:
            # a start that holds nothing itself reaches over blank lines to its list.
            while index < len(lines) and not lines[index].strip():
                index += 1
        while index < len(lines):
            item = _LIST_ITEM.match(lines[index])
            if item is None:
                break
            parts.append(item.group(1))
            index += 1
        sections.append("\n".join(parts))
    return sections


def _tokens(section: str, tree: TreeIndex | None) -> list[str]:
    without_remarks = _REMARK.sub(" ", section)
    found = path_tokens(without_remarks)
    if tree is not None:  # a bare name the tree tracks (`Makefile`) is a path too
        found += [
            word
            for word in re.split(r"[\s,;`'\"]+", without_remarks)
            if word and word not in found and word in tree.file_set
        ]
    return found


def _as_pattern(token: str, tree: TreeIndex | None) -> str | None:
    """The pattern a token stands for: the tracked path it names, itself when it is a glob or
    a new file, nothing when it resolves to nothing and looks like prose after all."""
    if _GLOB.search(token) or tree is None:
        return token
    found = tree.resolve(token)
    if found is not None:
        return f"{found}/" if tree.is_dir(found) else found
    new = tree.resolve_new(token)
    if new is not None:
        return new
    # Named nowhere in the tree: a file or directory the task will create where nothing is yet
    # (`docs/adr/0007.md`, `tools/`), or words with a slash (`input/output`), which are dropped.
    last = token.rstrip("/").rsplit("/", 1)[-1]
    return token if token.endswith("/") or "." in last.lstrip(".") else None

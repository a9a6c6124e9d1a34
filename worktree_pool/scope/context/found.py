"""What a build system's rules find: entries of the view, each with its reason, and problems."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ContextEntry:
    pattern: str  # a file, or a directory as `dir/`, anchored at the repository root
    reason: str  # which manifest, import or rule brought it in
    lockfile: bool = False


@dataclass
class Found:
    entries: list[ContextEntry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def add(self, pattern: str, reason: str, lockfile: bool = False) -> None:
        self.entries.append(ContextEntry(pattern, reason, lockfile))

    def merge(self, other: Found) -> None:
        self.entries += other.entries
        self.problems += other.problems

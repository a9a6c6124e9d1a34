"""Inferring a task's scope from the repository: the paths its text names, the code identifiers
it mentions, the words it shares with the tree's paths, the files similar finished tasks
changed, and the files those change with.

Each signal scores files. The best files become the scope, each widened to its directory when
the directory is small, and collapsed to `dir/` patterns where most of a directory is chosen
(collapse.py). Every pattern keeps the evidence that chose it.

The confidence rests on evidence that points at code: a path the text names, an identifier
found in a file, commits that name the task. Words a task shares with paths, or with other
tasks, choose files too, but alone they are guesses, and a guessed scope that misses a file
blocks the agent's commit; so below `min_confidence` a task keeps its default scope, and the
evidence says why.
"""

from __future__ import annotations

import heapq
import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace

from worktree_pool.tasks.graph import Task
from worktree_pool.tasks.inference.collapse import to_patterns
from worktree_pool.tasks.inference.history import History
from worktree_pool.tasks.inference.ranking import BM25
from worktree_pool.tasks.inference.symbols import identifiers
from worktree_pool.tasks.inference.text import path_tokens, task_text, words
from worktree_pool.tasks.inference.tree import TreeIndex, ancestors, parent, path_words


@dataclass(frozen=True)
class Tuning:
    files: int = 20  # the most files the scored signals may choose
    floor: float = 0.1  # of the best file's score, for a file to be chosen
    directory_share: float = 0.1  # a chosen file widens to its directory up to this share
    similar_tasks: int = 3  # how many similar finished tasks lend their files
    similar_floor: float = 0.5  # of the best match's score, for the others to count
    common_identifier: float = 0.2  # an identifier in more of the files than this names none
    max_share: float = 0.3  # of the tracked files, past which a scope is too wide to help


@dataclass(frozen=True)
class Evidence:
    kind: str  # named, identifier, history, similar, words, co-change
    detail: str
    paths: tuple[str, ...]  # the files (or `dir/`s) it pointed at
    patterns: tuple[str, ...] = ()  # the scope's patterns it chose, once the scope is made


@dataclass(frozen=True)
class Inferred:
    patterns: tuple[str, ...]  # () when nothing could be inferred
    confidence: float
    evidence: tuple[Evidence, ...]


@dataclass
class Knowledge:
    """What inference knows of the repository, gathered once per graph."""

    tree: TreeIndex
    history: History
    task_files: dict[str, Counter[str]]  # task -> files the commits naming it changed
    task_words: dict[str, list[str]]  # the same tasks' words
    symbols: dict[str, set[str]]  # identifier -> tracked files holding it
    tuning: Tuning = field(default_factory=Tuning)
    # The task source's files: the tool that owns them (bd, wtpool's landing) writes them, so
    # no task's scope holds them, even one whose text names them.
    source: frozenset[str] = frozenset()

    @property
    def budget(self) -> float:
        """How many tracked files an inferred scope may cover (`max_share` of them)."""
        return self.tuning.max_share * len(self.tree.files)

    def __post_init__(self) -> None:
        # Files no inferred scope takes: the task source, and hubs unless the text names them.
        self.ignored = (self.source | self.history.hubs) & self.tree.file_set
        self.usable = self.tree.file_set - self.ignored
        # Directories that hold an ignored file are never taken whole.
        self.fenced = frozenset(d for path in self.ignored for d in ancestors(path))
        self.paths = BM25((f, path_words(f)) for f in self.tree.files if f in self.usable)
        self.tasks = BM25(self.task_words.items())


def infer(task: Task, knowledge: Knowledge) -> Inferred:
    text = task_text(task)
    query = words(text)
    found = _Found()
    _named(text, knowledge, found)
    _identifiers(text, knowledge, found)
    _own_history(task.id, knowledge, found)
    _similar(task.id, query, knowledge, found)
    _vocabulary(query, knowledge, found)
    if not found.scores and not found.named:
        return Inferred((), 0.0, tuple(found.evidence))
    chosen = _choose(found, knowledge)
    confidence = 1 - math.exp(-found.strength)
    patterns = to_patterns(chosen, knowledge.tree, fenced=knowledge.fenced, budget=knowledge.budget)
    return Inferred(patterns, round(confidence, 2), _supporting(found.evidence, patterns))


def _supporting(evidence: list[Evidence], patterns: tuple[str, ...]) -> tuple[Evidence, ...]:
    """The evidence, each item narrowed to the patterns its paths ended up in; an item that
    chose nothing that was kept is left out, so what is shown is why each pattern is there."""
    kept = []
    for item in evidence:
        supported = tuple(p for p in patterns if any(_covers(p, path) for path in item.paths))
        if supported:
            kept.append(replace(item, patterns=supported))
    return tuple(kept)


def _covers(pattern: str, path: str) -> bool:
    return pattern == path or (pattern.endswith("/") and path.startswith(pattern))


@dataclass
class _Found:
    named: set[str] = field(default_factory=set)  # files and `dir/`s the text names
    scores: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    evidence: list[Evidence] = field(default_factory=list)
    strength: float = 0.0  # evidence that points at code, summed; see the module's docstring


def _named(text: str, knowledge: Knowledge, found: _Found) -> None:
    """Path-like tokens that name a tracked file or directory, or a new file in a tracked
    directory: each is in the scope, unless it is the task source (or its directory)."""
    for token, target in named_paths(text, knowledge.tree):
        if _in_source(target, knowledge):
            continue
        found.named.add(target)
        found.strength += 1.0
        found.evidence.append(Evidence("named", f"the text names `{token}`", (target,)))


def _in_source(target: str, knowledge: Knowledge) -> bool:
    if not target.endswith("/"):
        return target in knowledge.source
    inside = [f for f in knowledge.source if f.startswith(target)]
    return bool(inside) and knowledge.tree.sizes.get(target.rstrip("/")) == len(inside)


def named_paths(text: str, tree: TreeIndex) -> list[tuple[str, str]]:
    """(token, what it names), `dir/` for a directory."""
    named = []
    for token in path_tokens(text):
        if any(c in token for c in "*?[{"):
            continue
        target = tree.resolve(token)
        if target is not None:
            named.append((token, f"{target}/" if tree.is_dir(target) else target))
        elif (new := tree.resolve_new(token)) is not None:
            named.append((token, new))
    return named


def _identifiers(text: str, knowledge: Knowledge, found: _Found) -> None:
    """Files holding the code identifiers the text mentions; an identifier in few files says
    more than one in many, and one in too many says nothing."""
    total = max(len(knowledge.usable), 1)
    for name in identifiers(text):
        holders = sorted(knowledge.symbols.get(name, set()) & knowledge.usable)
        if not holders or len(holders) > knowledge.tuning.common_identifier * total:
            continue
        weight = math.log(1 + total / len(holders))
        for path in holders:
            found.scores[path] += weight
        found.strength += 0.5
        found.evidence.append(Evidence("identifier", f"`{name}` is in the code", tuple(holders)))


def _own_history(task_id: str, knowledge: Knowledge, found: _Found) -> None:
    """Files that commits naming this very task already changed (work in progress)."""
    own = knowledge.task_files.get(task_id)
    paths = sorted(p for p in own or () if p in knowledge.usable)
    if not own or not paths:
        return
    top = max(own.values())
    for path in paths:
        found.scores[path] += 3.0 * own[path] / top
    found.strength += 1.0
    found.evidence.append(Evidence("history", f"commits naming {task_id} changed", tuple(paths)))


def _similar(task_id: str, query: list[str], knowledge: Knowledge, found: _Found) -> None:
    """Files that the finished tasks most like this one changed."""
    scores = knowledge.tasks.scores(query)
    scores.pop(task_id, None)
    if not scores:
        return
    tuning = knowledge.tuning
    ranked = _best(scores, tuning.similar_tasks)
    if not ranked:
        return
    best = ranked[0][1]
    for other, score in ranked:
        if score < tuning.similar_floor * best:
            break
        weight = score / best
        files = knowledge.task_files[other]
        top = max(files.values())
        paths = tuple(sorted(p for p in files if p in knowledge.usable))
        for path in paths:
            found.scores[path] += weight * files[path] / top
        found.evidence.append(Evidence("similar", f"like task {other} ({weight:.2f})", paths))


def _vocabulary(query: list[str], knowledge: Knowledge, found: _Found) -> None:
    """Files whose path shares the text's rarer words."""
    scores = knowledge.paths.scores(query)
    if not scores:
        return
    best = max(scores.values())
    ranked = _best(scores, 5)
    for path, score in ranked:
        if score < 0.6 * best:
            break
        found.scores[path] += score / best
        shared = ", ".join(knowledge.paths.matched(query, path))
        found.evidence.append(Evidence("words", f"its path shares {shared}", (path,)))


def _best(scores: dict[str, float], count: int) -> list[tuple[str, float]]:
    """The `count` best-scored, best first, ties by name: a few out of thousands."""
    return heapq.nsmallest(count, scores.items(), key=lambda kv: (-kv[1], kv[0]))


def _choose(found: _Found, knowledge: Knowledge) -> set[str]:
    """The named paths, then the best-scored files, each widened to its directory when that is
    small, then the files those change with, until the scope would pass `max_share` of the
    tracked files."""
    tree, tuning = knowledge.tree, knowledge.tuning
    total = max(len(tree.files), 1)
    chosen = set(found.named)
    used = sum(_size(p, tree) for p in chosen)

    def take(path: str) -> bool:
        nonlocal used
        if path in chosen or any(path.startswith(c) for c in chosen if c.endswith("/")):
            return False
        if used + _size(path, tree) > knowledge.budget:
            return False
        chosen.add(path)
        used += _size(path, tree)
        return True

    ranked = _best(found.scores, tuning.files)
    best = ranked[0][1] if ranked else 0.0
    for path, score in ranked:
        if score < tuning.floor * best:
            break
        directory = parent(path)
        small = tree.sizes.get(directory, total) <= tuning.directory_share * total
        take(f"{directory}/" if directory and small and directory not in knowledge.fenced else path)
    for path in sorted(p for p in chosen if not p.endswith("/")):
        for other in knowledge.history.companions(path):
            if other in knowledge.usable and take(other):
                found.evidence.append(Evidence("co-change", f"changes with {path}", (other,)))
    return chosen


def _size(path: str, tree: TreeIndex) -> int:
    return tree.sizes.get(path.rstrip("/"), 1) if path.endswith("/") else 1


def gather(
    tasks: dict[str, Task],
    tree: TreeIndex,
    history: History,
    id_pattern: re.Pattern[str],
    symbols: dict[str, set[str]],
    tuning: Tuning | None = None,
    source: frozenset[str] = frozenset(),
) -> Knowledge:
    """What inference knows, for the tasks of one graph: every task the history names lends
    its files, and its words for finding similar ones."""
    task_files = history.task_files(id_pattern, tasks)
    # Only finished tasks lend their files to similar ones: an open task's commits may be a
    # start, or only mention it.
    task_words = {t: words(task_text(tasks[t])) for t in task_files if tasks[t].done}
    return Knowledge(tree, history, task_files, task_words, symbols, tuning or Tuning(), source)

"""Measure scope inference on a repository's own history.

    python scripts/scope_eval.py REPO [--json] [--limit N]

For every finished task whose implementing commits name it, go back to the parent of the first
such commit and infer the task's scope from what was known then: the task's text, the tree at
that commit, and the history before it. Compare with the files those commits changed:

- recall: the share of the changed files the scope covers (mean over tasks, and the share of
  tasks with every changed file covered);
- breadth: the share of the tracked files the scope covers (median over tasks);
- independence: at the newest commit, how many tracks `spawn N independent` would start with
  no hand-written scope rules.

The scope is what a slot gets: the inferred patterns plus `scope.always_include`. Files of the
task source itself (a `.beads/` directory, the task file) are not counted as changed: bd
rewrites its export on every change of status, whatever the task was about. Two baselines run
on the same tasks: `**` (everything) and a matcher of title keywords to path components.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from worktree_pool.config.settings import Mode
from worktree_pool.git.repo import open_repository
from worktree_pool.scope import guard
from worktree_pool.scope.patterns import compile_rules
from worktree_pool.tasks.graph import Task
from worktree_pool.tasks.inference.collapse import to_patterns
from worktree_pool.tasks.inference.history import History, compile_id_pattern, read_history
from worktree_pool.tasks.inference.infer import Knowledge, gather, infer
from worktree_pool.tasks.inference.symbols import files_containing, identifiers
from worktree_pool.tasks.inference.text import task_text, words
from worktree_pool.tasks.inference.tree import TreeIndex, path_words
from worktree_pool.tasks.scoping import repository_scoping
from worktree_pool.tasks.selection import select
from worktree_pool.tasks.sources import load_task_graph
from worktree_pool.tasks.tracks import find_tracks

Scoper = Callable[[Task, Knowledge], tuple[str, ...]]


@dataclass(frozen=True)
class Row:
    method: str
    tasks: int
    mean_recall: float
    fully_covered: float
    median_breadth: float


def inferred(task: Task, knowledge: Knowledge) -> tuple[str, ...]:
    found = infer(task, knowledge)
    if not found.patterns or found.confidence < knowledge.tuning.min_confidence:
        return ("**",)
    return found.patterns


def everything(task: Task, knowledge: Knowledge) -> tuple[str, ...]:
    return ("**",)


def title_keywords(task: Task, knowledge: Knowledge) -> tuple[str, ...]:
    """The baseline: files whose path holds a word of the title."""
    title = set(words(task.title))
    chosen = [f for f in knowledge.tree.files if title & set(path_words(f))]
    return to_patterns(chosen, knowledge.tree) or ("**",)


METHODS: dict[str, Scoper] = {
    "**": everything,
    "title keywords": title_keywords,
    "inferred": inferred,
}


def is_task_source(path: str, task_file: str | None) -> bool:
    return path == task_file or path.startswith(".beads/")


def evaluate(root: Path, limit: int) -> tuple[list[Row], int, int]:
    repo = open_repository(root)
    git = repo.git
    settings = repo.config.tasks
    graph = load_task_graph(root, settings, lenient=True)
    task_file = None if settings.source == "bd" else _relative(graph.source, root)
    id_pattern = compile_id_pattern(settings.history_ids)
    history = read_history(git, "HEAD", limit)
    always = repo.config.scope.always_include
    source_files = (task_file,) if task_file else ()
    order = {c.commit: i for i, c in enumerate(history.changes)}  # newest first
    named: dict[str, list[int]] = {}
    for index, change in enumerate(history.changes):
        for task in _named(change.message, id_pattern, graph.tasks):
            named.setdefault(task, []).append(index)
    totals: dict[str, list[tuple[float, float]]] = {m: [] for m in METHODS}
    for task_id, indexes in sorted(named.items()):
        task = graph.tasks[task_id]
        if not task.done:
            continue
        changed = {
            f for i in indexes for f in history.changes[i].files if not is_task_source(f, task_file)
        }
        first = history.changes[max(indexes)]
        parents = git.out("rev-list", "--parents", "-n1", first.commit).split()[1:]
        if not changed or not parents:
            continue
        before = set(git.out("rev-list", parents[0]).split())
        files = tuple(git.out("ls-tree", "-r", "--name-only", parents[0]).splitlines())
        tree = TreeIndex(files)
        past = History(
            tuple(c for c in history.changes if c.commit in before and c.commit in order)
        )
        wanted = identifiers(task_text(task))
        symbols = files_containing(git, parents[0], wanted, skip=source_files)
        known = gather(
            graph.tasks, tree, past, id_pattern, symbols, ignored=frozenset(source_files)
        )
        for method, scoper in METHODS.items():
            rules = guard.compiled(compile_rules((*scoper(task, known), *always)))
            covered = sum(guard.allows(rules, f) for f in changed)
            breadth = sum(guard.allows(rules, f) for f in files) / max(len(files), 1)
            totals[method].append((covered / len(changed), breadth))
    rows = [
        Row(
            method,
            len(results),
            round(statistics.fmean(r for r, _ in results), 3) if results else 0.0,
            round(sum(r == 1.0 for r, _ in results) / len(results), 3) if results else 0.0,
            round(statistics.median(b for _, b in results), 3) if results else 0.0,
        )
        for method, results in totals.items()
    ]
    return rows, independence(repo, graph), len(history.changes)


def independence(repo, graph) -> int:
    scoping = replace(repository_scoping(repo, graph), rules=())
    tracks = find_tracks(graph, scoping)
    return len(select(tracks, [], None, Mode.INDEPENDENT).picks)


def _named(message: str, id_pattern, ids) -> set[str]:
    from worktree_pool.tasks.inference.history import named_tasks

    return named_tasks(message, id_pattern, ids)


def _relative(source: str, root: Path) -> str | None:
    try:
        return str(Path(source).resolve().relative_to(root.resolve()))
    except ValueError:
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo", type=Path)
    parser.add_argument("--limit", type=int, default=100_000, help="commits of history to read")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rows, tracks, commits = evaluate(args.repo, args.limit)
    if args.json:
        print(
            json.dumps(
                {
                    "commits": commits,
                    "independent_tracks": tracks,
                    "rows": [r.__dict__ for r in rows],
                }
            )
        )
        return 0
    print(f"{args.repo}: {commits} commits, {rows[0].tasks} tasks named by their commits\n")
    print("| scope | mean recall | tasks fully covered | median breadth |")
    print("|---|---|---|---|")
    for row in rows:
        print(
            f"| {row.method} | {row.mean_recall:.2f} | {row.fully_covered:.0%} | {row.median_breadth:.2f} |"
        )
    print(
        f"\nindependent tracks at the newest commit (spawn N independent, no scope rules): {tracks}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

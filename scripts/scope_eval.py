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

The scope is what a slot gets: the task's patterns plus `scope.always_include`. Two kinds of
changed file are not counted as the task's work: the task source's own files (bd rewrites its
export on every change of status, whatever the task), and files the newest commit's ignore
rules exclude (build output and runtime state committed by mistake, since ignored). Two
baselines run on the same tasks: `**` (everything) and title keywords matched to path words.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from worktree_pool.config.settings import Mode
from worktree_pool.git.repo import Repository, open_repository
from worktree_pool.scope import guard
from worktree_pool.scope.patterns import compile_rules
from worktree_pool.tasks.graph import Task, TaskGraph
from worktree_pool.tasks.inference.collapse import to_patterns
from worktree_pool.tasks.inference.history import (
    History,
    compile_id_pattern,
    named_tasks,
    read_history,
)
from worktree_pool.tasks.inference.infer import Knowledge, Tuning, gather
from worktree_pool.tasks.inference.symbols import files_containing, identifiers
from worktree_pool.tasks.inference.text import task_text, words
from worktree_pool.tasks.inference.tree import TreeIndex, ancestors, path_words
from worktree_pool.tasks.scoping import repository_scoping, task_source_files
from worktree_pool.tasks.selection import select
from worktree_pool.tasks.sources import load_task_graph
from worktree_pool.tasks.tracks import Scoping, find_tracks, task_scope

Scoper = Callable[["Case"], tuple[str, ...]]


@dataclass(frozen=True)
class Case:
    """One finished task, as things stood just before its first commit."""

    task: Task
    changed: frozenset[str]
    knowledge: Knowledge
    scoping: Scoping


@dataclass(frozen=True)
class Row:
    method: str
    tasks: int
    mean_recall: float
    fully_covered: float
    median_breadth: float


def wtpool_scope(case: Case) -> tuple[str, ...]:
    """What spawn would give the task with no scope rules: its files section, else inference,
    else the whole tree."""
    return task_scope(case.task, case.scoping).patterns


def everything(case: Case) -> tuple[str, ...]:
    return ("**",)


def title_keywords(case: Case) -> tuple[str, ...]:
    """The baseline: files whose path holds a word of the title."""
    title = set(words(case.task.title))
    tree = case.knowledge.tree
    return to_patterns([f for f in tree.files if title & set(path_words(f))], tree) or ("**",)


def changed_directories(case: Case) -> tuple[str, ...]:
    """Not a method but a ceiling: the tracked directories of the files the task really
    changed (the file itself at the root). No scope made of today's directories does better."""
    tree = case.knowledge.tree
    chosen = set()
    for path in case.changed:
        directory = next((d for d in ancestors(path) if tree.is_dir(d)), None)
        chosen.add(f"{directory}/" if directory else path)
    return tuple(sorted(chosen))


METHODS: dict[str, Scoper] = {
    "** (everything)": everything,
    "title keywords": title_keywords,
    "wtpool": wtpool_scope,
    "directories of the changed files (a ceiling)": changed_directories,
}


def cases(repo: Repository, graph: TaskGraph, limit: int, tuning: Tuning) -> Iterator[Case]:
    git = repo.git
    settings = repo.config.tasks
    id_pattern = compile_id_pattern(settings.history_ids)
    history = read_history(git, "HEAD", limit)
    named: dict[str, list[int]] = {}
    for index, change in enumerate(history.changes):  # newest first
        for task in named_tasks(change.message, id_pattern, graph.tasks):
            named.setdefault(task, []).append(index)
    every_path = {f for c in history.changes for f in c.files}
    source = task_source_files(repo.root, settings, TreeIndex(tuple(sorted(every_path))))
    not_work = _ignored(repo, every_path) | source
    for task_id, indexes in sorted(named.items()):
        task = graph.tasks[task_id]
        changed = frozenset(
            f for i in indexes for f in history.changes[i].files if f not in not_work
        )
        parents = git.out("rev-list", "--parents", "-n1", history.changes[max(indexes)].commit)
        before = parents.split()[1:2]
        if not task.done or not changed or not before:
            continue
        known = set(git.out("rev-list", before[0]).split())
        listed = git.out("ls-tree", "-r", "-z", "--name-only", before[0]).split("\0")
        tree = TreeIndex(tuple(f for f in listed if f))
        past = History(tuple(c for c in history.changes if c.commit in known))
        hidden = task_source_files(repo.root, settings, tree)
        wanted = identifiers(task_text(task))
        symbols = files_containing(git, before[0], wanted, skip=sorted(hidden))
        knowledge = gather(graph.tasks, tree, past, id_pattern, symbols, tuning, hidden)
        scoping = Scoping(
            knowledge=knowledge, min_confidence=settings.infer_min_confidence, tree=tree
        )
        yield Case(task, changed, knowledge, scoping)


def _ignored(repo: Repository, paths: set[str]) -> set[str]:
    """Those of `paths` that the working tree's ignore rules exclude."""
    done = subprocess.run(
        ["git", "check-ignore", "--no-index", "--stdin", "-z"],
        cwd=repo.root,
        input="\0".join(sorted(paths)),
        capture_output=True,
        text=True,
        check=False,
    )
    return set(done.stdout.split("\0")) - {""}


def unforeseeable(case: Case) -> set[str]:
    """Changed files nothing known before the work could point at: new files at the root or in
    a new top-level directory, that the task's text does not name."""
    text = task_text(case.task)
    tree = case.knowledge.tree
    return {
        path
        for path in case.changed
        if path not in tree.file_set
        and not any(tree.is_dir(d) for d in ancestors(path))
        and path.rsplit("/", 1)[-1] not in text
    }


def measure(all_cases: list[Case], scoper: Scoper, always: tuple[str, ...]) -> Row:
    results = []
    for case in all_cases:
        rules = guard.compiled(compile_rules((*scoper(case), *always)))
        covered = sum(guard.allows(rules, f) for f in case.changed)
        tracked = case.knowledge.tree.files
        breadth = sum(guard.allows(rules, f) for f in tracked) / max(len(tracked), 1)
        results.append((covered / len(case.changed), breadth))
    if not results:
        return Row("", 0, 0.0, 0.0, 0.0)
    return Row(
        "",
        len(results),
        round(statistics.fmean(r for r, _ in results), 3),
        round(sum(r == 1.0 for r, _ in results) / len(results), 3),
        round(statistics.median(b for _, b in results), 3),
    )


def independence(repo: Repository, graph: TaskGraph) -> int:
    """How many tracks spawn would start at the newest commit with no scope rules."""
    scoping = replace(repository_scoping(repo, graph), rules=())
    return len(select(find_tracks(graph, scoping), [], None, Mode.INDEPENDENT).picks)


def evaluate(root: Path, limit: int | None = None) -> dict[str, object]:
    repo = open_repository(root)
    limit = repo.config.tasks.history_limit if limit is None else limit
    graph = load_task_graph(root, repo.config.tasks, lenient=True)
    settings = repo.config.tasks
    tuning = Tuning(max_share=settings.infer_max_share)
    all_cases = list(cases(repo, graph, limit, tuning))
    always = repo.config.scope.always_include
    rows = [
        replace(measure(all_cases, scoper, always), method=name) for name, scoper in METHODS.items()
    ]
    blind = [unforeseeable(case) for case in all_cases]
    changed = sum(len(case.changed) for case in all_cases)
    return {
        "repository": str(root),
        "tasks": len(all_cases),
        "unforeseeable_files": round(sum(map(len, blind)) / max(changed, 1), 3),
        "tasks_with_unforeseeable_files": round(sum(map(bool, blind)) / max(len(blind), 1), 3),
        "rows": [asdict(r) for r in rows],
        "independent_tracks": independence(repo, graph),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("repo", type=Path)
    parser.add_argument(
        "--limit", type=int, help="commits of history to read (default: tasks.history_limit)"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = evaluate(args.repo, args.limit)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{result['tasks']} finished tasks named by their commits\n")
    print("| scope | mean recall | tasks fully covered | median breadth |")
    print("|---|---|---|---|")
    for row in result["rows"]:  # type: ignore[attr-defined]
        recall, full, breadth = row["mean_recall"], row["fully_covered"], row["median_breadth"]
        print(f"| {row['method']} | {recall:.2f} | {full:.0%} | {breadth:.2f} |")
    print(
        f"\n{result['unforeseeable_files']:.0%} of the changed files, in "
        f"{result['tasks_with_unforeseeable_files']:.0%} of the tasks, are new files at the root "
        "or in a new top-level directory that the task's text does not name"
    )
    tracks = result["independent_tracks"]
    print(f"\nindependent tracks at the newest commit (no scope rules): {tracks}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A repository's scoping: inference on or off, its history cache in the pool, the task source
kept out of every inferred scope, and bad settings refused cleanly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import POOL_DIR, assert_one_line_error, git, make_pool, make_repo, wtpool
from tests.tasks.inference.repos import commit, covers, filler
from worktree_pool.git.repo import CACHE_DIR_NAME, open_repository
from worktree_pool.scope import guard
from worktree_pool.scope.patterns import compile_rules
from worktree_pool.tasks.inference.history import CACHE_NAME
from worktree_pool.tasks.scoping import repository_scoping
from worktree_pool.tasks.sources import load_task_graph
from worktree_pool.tasks.tracks import find_tracks, task_scope

TREE = filler(
    "README.md",
    *(f"internal/sched/f{n}.go" for n in range(4)),
    *(f"internal/store/f{n}.go" for n in range(4)),
    *(f"docs/p{n}.md" for n in range(4)),
) | {"internal/sched/tick.go": "func RunTick() {}\n"}

TASKS = [
    {"id": "tick", "title": "Back off", "description": "RunTick must back off."},
    {"id": "store", "title": "Index", "description": "Add an index in internal/store/f1.go."},
    # Its only identifier lives in the task file itself: nothing in the code holds it.
    {"id": "only-here", "title": "Mention", "description": "OnlyInTheTaskFile matters."},
]


def _repo(tmp_path: Path, config: str = "") -> Path:
    root = make_repo(tmp_path / "repo", TREE)
    (root / "wtpool.yaml").write_text("tasks:\n  source: yaml\n" + config)
    (root / "tasks.yaml").write_text(yaml.safe_dump({"tasks": TASKS}))
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "-m", "tasks")  # the task file is tracked, as is usual
    return root


def _scopes(root: Path) -> dict[str, object]:
    repo = open_repository(root)
    graph = load_task_graph(root, repo.config.tasks)
    scoping = repository_scoping(repo, graph)
    return {t: task_scope(graph.tasks[t], scoping) for t in graph.tasks}


def test_inference_scopes_tasks_from_the_repository(tmp_path: Path) -> None:
    scopes = _scopes(_repo(tmp_path))
    tick, store, only_here = scopes["tick"], scopes["store"], scopes["only-here"]
    assert tick.source == "inferred" and covers(tick.patterns, "internal/sched/tick.go")
    assert store.source == "inferred" and covers(store.patterns, "internal/store/f1.go")
    # The task file holds every task's words: it is never searched, and never in a scope.
    assert only_here.source == "default_files" and only_here.patterns == ("**",)
    for scope in (tick, store):
        assert not covers(scope.patterns, "tasks.yaml") and scope.evidence


def test_a_graph_whose_tasks_all_name_their_files_gathers_nothing_for_inference(
    tmp_path: Path,
) -> None:
    root = _repo(tmp_path)
    named = [{**task, "files": ["docs/"]} for task in TASKS]
    (root / "tasks.yaml").write_text(yaml.safe_dump({"tasks": named}))
    repo = open_repository(root)
    graph = load_task_graph(root, repo.config.tasks)
    assert repository_scoping(repo, graph).knowledge is None
    assert {scope.source for scope in _scopes(root).values()} == {"metadata.files"}
    # One task without files is enough for inference to be gathered again.
    (root / "tasks.yaml").write_text(yaml.safe_dump({"tasks": [*named[1:], TASKS[0]]}))
    graph = load_task_graph(root, repo.config.tasks)
    assert repository_scoping(repo, graph).knowledge is not None


def test_tasks_infer_false_turns_inference_off(tmp_path: Path) -> None:
    root = _repo(tmp_path, "  infer: false\n  default_files: [docs/]\n")
    repo = open_repository(root)
    graph = load_task_graph(root, repo.config.tasks)
    assert repository_scoping(repo, graph).knowledge is None
    for scope in _scopes(root).values():
        assert (scope.source, scope.patterns, scope.evidence) == ("default_files", ("docs/",), ())
    tracks = find_tracks(graph, repository_scoping(repo, graph))
    assert {t.scope for t in tracks} == {("docs/",)}


def test_history_is_cached_in_the_pool_and_a_new_commit_reads_it_again(tmp_path: Path) -> None:
    root = _repo(tmp_path, "  history_limit: 2\n")
    make_pool(root, 1, 3)
    cache = root / POOL_DIR / CACHE_DIR_NAME / CACHE_NAME
    _scopes(root)
    kept = json.loads(cache.read_text())
    assert kept["head"] == git(root, "rev-parse", "HEAD")
    # Commit messages can be confidential: the cache is as private as the pool's state.
    assert cache.stat().st_mode & 0o777 == 0o600 and cache.parent.stat().st_mode & 0o777 == 0o700
    assert kept["limit"] == 2 and len(kept["changes"]) == 2  # tasks.history_limit is obeyed
    commit(root, "more", filler("docs/p0.md"))
    _scopes(root)
    assert json.loads(cache.read_text())["head"] == git(root, "rev-parse", "HEAD")
    # A torn cache is read past, never an error.
    cache.write_text('{"version": ')
    assert _scopes(root)["tick"].source == "inferred"
    assert json.loads(cache.read_text())["head"] == git(root, "rev-parse", "HEAD")


def test_an_id_pattern_that_does_not_compile_is_one_line_of_error(tmp_path: Path) -> None:
    root = _repo(tmp_path, "  history_ids: '([bd-'\n")
    result = wtpool(root, "tracks", "analyze")
    assert_one_line_error(result, 2, "tasks.history_ids is not a valid regular expression")


def test_a_history_limit_out_of_range_is_refused(tmp_path: Path) -> None:
    root = _repo(tmp_path, "  history_limit: 100000000\n")
    result = wtpool(root, "tracks", "analyze")
    assert_one_line_error(result, 2, "tasks.history_limit must be between 0 and 1,000,000")


def test_binary_junk_and_a_megabyte_of_text_in_a_beads_export_are_analysed(
    tmp_path: Path,
) -> None:
    root = make_repo(tmp_path / "repo", TREE)
    records = [
        {"id": "junk", "title": "Junk", "description": "\x00\x01\ufffd\x7f" * 1000 + " RunTick"},
        {"id": "huge", "title": "Huge", "description": "internal/store/f1.go " * 50_000},
        {"id": "out", "title": "Out", "description": "Files: ../../etc/passwd, /etc/shadow"},
    ]
    (root / ".beads").mkdir()
    (root / ".beads" / "issues.jsonl").write_text(
        "".join(json.dumps({**r, "status": "open", "priority": 2}) + "\n" for r in records)
    )
    result = wtpool(root, "tracks", "analyze", "--json")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    repo = open_repository(root)
    graph = load_task_graph(root, repo.config.tasks)
    scoping = repository_scoping(repo, graph)
    assert covers(task_scope(graph.tasks["junk"], scoping).patterns, "internal/sched/tick.go")
    assert covers(task_scope(graph.tasks["huge"], scoping).patterns, "internal/store/f1.go")
    for task in graph.tasks.values():
        for pattern in task_scope(task, scoping).patterns:
            assert not pattern.startswith("/") and ".." not in pattern.split("/")


CORTEX = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "repos" / "cortex.bundle"


@pytest.mark.skipif(not CORTEX.is_file(), reason=f"the shared repository is not at {CORTEX}")
def test_on_a_real_repository_no_inferred_scope_passes_its_share_of_the_tree(
    tmp_path: Path,
) -> None:
    """Cortex: 337 Beads issues with no files field, and its whole history. Named paths may
    take a scope past the cap (the text asked for them); nothing inference chose itself may."""
    root = tmp_path / "cortex"
    git(tmp_path, "clone", "--quiet", "--branch", "filled", str(CORTEX), str(root))
    repo = open_repository(root)
    graph = load_task_graph(root, repo.config.tasks, lenient=True)
    scoping = repository_scoping(repo, graph)
    assert scoping.knowledge is not None
    tree = scoping.knowledge.tree
    budget = repo.config.tasks.infer_max_share * len(tree.files)
    inferred = 0
    for task in graph.tasks.values():
        scope = task_scope(task, scoping)
        if scope.source != "inferred":
            continue
        inferred += 1
        named = {p for e in scope.evidence if e.kind == "named" for p in e.patterns}
        unnamed = tuple(p for p in scope.patterns if p not in named)
        rules = guard.compiled(compile_rules(unnamed)) if unnamed else []
        covered = sum(guard.allows(rules, f) for f in tree.files)
        assert covered <= budget, (task.id, scope.patterns)
        assert not any(p.startswith(".beads") for p in scope.patterns), (task.id, scope.patterns)
    assert inferred > 100

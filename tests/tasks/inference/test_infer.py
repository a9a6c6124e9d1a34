"""Inference, one source at a time, each in a small real repository.

Every test builds the Knowledge the way scoping does (the tree at HEAD, `git log`, one `git
grep`) and checks what a user relies on: which files the scope lets the agent commit, that the
files no inferred scope may hold stay out, and that every pattern has its evidence.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from tests.tasks.inference.repos import commit, covers, filler, new_repo, task, tree_of
from worktree_pool.config.settings import TaskSettings
from worktree_pool.git.run import Git
from worktree_pool.tasks.graph import Task
from worktree_pool.tasks.inference.history import HUB_MIN_COMMITS, read_history
from worktree_pool.tasks.inference.infer import Inferred, Knowledge, Tuning, gather, infer
from worktree_pool.tasks.inference.symbols import files_containing, identifiers
from worktree_pool.tasks.inference.text import task_text
from worktree_pool.tasks.tracks import Scoping, task_scope

DEFAULT_IDS = re.compile(TaskSettings().history_ids)

# Big enough that no directory is a large share of it, with the shapes the tests need: a
# sub-project, two packages with a main.go each, and directories of several files.
TREE = filler(
    "README.md",
    "Makefile",
    "cmd/alpha/main.go",
    "cmd/beta/main.go",
    "internal/scheduler/scheduler.go",
    "internal/scheduler/scheduler_test.go",
    "internal/scheduler/queue.go",
    "internal/scheduler/queue_test.go",
    "internal/scheduler/lease.go",
    "internal/scheduler/lease_test.go",
    "internal/dispatch/dispatch.go",
    "internal/dispatch/dispatch_test.go",
    "internal/dispatch/tmux.go",
    "internal/dispatch/backend.go",
    "internal/dispatch/retry.go",
    "internal/dispatch/pool.go",
    "internal/store/store.go",
    "internal/store/store_test.go",
    "internal/store/migrate.go",
    "internal/store/sql.go",
    "internal/config/config.go",
    "internal/config/config_test.go",
    "internal/config/defaults.go",
    "gleam/src/meal_planner/web.gleam",
    "gleam/src/meal_planner/db.gleam",
    "gleam/src/meal_planner/auth.gleam",
    "gleam/test/web_test.gleam",
    *(f"web/static/s{n}.js" for n in range(8)),
    *(f"docs/page{n}.md" for n in range(6)),
    *(f"vendor/lib{n}/lib.go" for n in range(10)),
)


def _knowledge(
    root: Path, tasks: Iterable[Task], ignored: Iterable[str] = (), tuning: Tuning | None = None
) -> Knowledge:
    """What scoping.knowledge gathers, for a repository with no pool."""
    tasks = {t.id: t for t in tasks}
    gitrun = Git(root, 60)
    wanted = {i for t in tasks.values() if not t.done for i in identifiers(task_text(t))}
    return gather(
        tasks,
        tree_of(root),
        read_history(gitrun, "HEAD", 1000),
        DEFAULT_IDS,
        files_containing(gitrun, "HEAD", wanted, skip=ignored),
        tuning,
        frozenset(ignored),
    )


def _infer(root: Path, subject: Task, *others: Task, ignored: Iterable[str] = ()) -> Inferred:
    return infer(subject, _knowledge(root, (subject, *others), ignored))


def _kinds(found: Inferred) -> set[str]:
    return {e.kind for e in found.evidence}


def assert_every_pattern_has_evidence(found: Inferred) -> None:
    """Each pattern holds a path some evidence names (`tracks explain` shows why it is there)."""
    for pattern in found.patterns:
        named = [p for e in found.evidence for p in e.paths]
        assert any(p == pattern or covers((pattern,), p) for p in named), pattern


def test_a_path_named_exactly_or_by_unique_suffix_is_in_the_scope(tmp_path: Path) -> None:
    root = new_repo(tmp_path / "repo", TREE)
    t = task(
        "t",
        title="Escape the web form",
        description="Edit src/meal_planner/web.gleam; see `internal/store/sql.go`.",
    )
    found = _infer(root, t)
    assert covers(found.patterns, "gleam/src/meal_planner/web.gleam")
    assert covers(found.patterns, "internal/store/sql.go")
    assert not covers(found.patterns, "internal/dispatch/tmux.go")
    named = {e.paths[0] for e in found.evidence if e.kind == "named"}
    assert named == {"gleam/src/meal_planner/web.gleam", "internal/store/sql.go"}
    assert found.confidence >= 0.8
    assert_every_pattern_has_evidence(found)


def test_an_ambiguous_name_points_nowhere(tmp_path: Path) -> None:
    root = new_repo(tmp_path / "repo", TREE)
    found = _infer(root, task("t", title="Tidy", description="Change main.go to print less."))
    # Two files end in main.go: the text names neither, and the words it shares with both
    # paths are only a guess, below the confidence a scope needs.
    assert "named" not in _kinds(found)
    assert found.confidence < TaskSettings().infer_min_confidence


def test_a_new_file_is_scoped_in_its_tracked_directory_and_a_new_directory_whole(
    tmp_path: Path,
) -> None:
    root = new_repo(tmp_path / "repo", TREE)
    beside = _infer(root, task("t", title="Cache", description="Add internal/store/cache.go."))
    assert covers(beside.patterns, "internal/store/cache.go")
    assert ("named", ("internal/store/cache.go",)) in {(e.kind, e.paths) for e in beside.evidence}
    new_dir = _infer(
        root, task("u", title="Metrics", description="Create internal/metrics/prom.go.")
    )
    assert "internal/metrics/" in new_dir.patterns
    assert covers(new_dir.patterns, "internal/metrics/prom_test.go")  # what it adds beside
    assert not covers(new_dir.patterns, "internal/store/store.go")
    assert_every_pattern_has_evidence(new_dir)


def test_a_code_identifier_finds_the_file_that_defines_it(tmp_path: Path) -> None:
    root = new_repo(
        tmp_path / "repo", {**TREE, "internal/scheduler/lease.go": "func RunTick(){}\n"}
    )
    t = task("t", title="Back off when a tick overruns", description="RunTick should back off.")
    found = _infer(root, t)
    assert covers(found.patterns, "internal/scheduler/lease.go")
    (evidence,) = [e for e in found.evidence if e.kind == "identifier"]
    assert "RunTick" in evidence.detail and evidence.paths == ("internal/scheduler/lease.go",)
    assert found.confidence >= TaskSettings().infer_min_confidence
    assert_every_pattern_has_evidence(found)


def test_the_repositorys_vocabulary_points_at_paths_sharing_rare_words(tmp_path: Path) -> None:
    root = new_repo(tmp_path / "repo", TREE)
    found = _infer(root, task("t", title="Tmux sessions leak when the backend restarts"))
    assert covers(found.patterns, "internal/dispatch/tmux.go")
    assert covers(found.patterns, "internal/dispatch/backend.go")
    assert "words" in _kinds(found)
    # Shared words alone are a guess: no evidence that points at code, no confidence.
    assert found.confidence < TaskSettings().infer_min_confidence
    assert_every_pattern_has_evidence(found)


def test_finished_tasks_named_by_commits_lend_their_files_to_similar_open_ones(
    tmp_path: Path,
) -> None:
    root = new_repo(tmp_path / "repo", TREE)
    commit(root, "[bd-12] retry webhook deliveries", filler("internal/dispatch/retry.go"))
    commit(root, "bd-12: tests", filler("internal/dispatch/dispatch_test.go"))
    commit(root, "Lease renewal for jobs (#7)", filler("internal/scheduler/lease.go"))
    done = task("bd-12", title="Retry failed webhook deliveries", status="closed")
    yaml_done = task("7", title="Renew job leases before they expire", status="closed")
    wanted = task("bd-40", title="Retry failed webhook deliveries with jitter")
    found = _infer(root, wanted, done, yaml_done)
    assert covers(found.patterns, "internal/dispatch/retry.go")
    assert covers(found.patterns, "internal/dispatch/dispatch_test.go")
    similar = [e for e in found.evidence if e.kind == "similar"]
    assert similar and "bd-12" in similar[0].detail
    assert not covers(found.patterns, "internal/scheduler/lease.go")  # not like task 7

    leases = _infer(root, task("bd-41", title="Job leases expire too early"), done, yaml_done)
    assert covers(leases.patterns, "internal/scheduler/lease.go")


def test_commits_naming_the_open_task_itself_are_strong_evidence(tmp_path: Path) -> None:
    root = new_repo(tmp_path / "repo", TREE)
    commit(root, "bd-5: first half", filler("internal/config/defaults.go"))
    found = _infer(root, task("bd-5", title="Something vague"))
    assert covers(found.patterns, "internal/config/defaults.go")
    assert "history" in _kinds(found) and found.confidence >= 0.6


def test_co_change_widens_a_file_to_its_companion(tmp_path: Path) -> None:
    root = new_repo(tmp_path / "repo", TREE)
    # The migration and a page of the docs change together, and share no word: only history
    # can tell that a task on the one needs the other.
    for n in range(3):
        commit(root, f"schema {n}", filler("internal/store/migrate.go", "docs/page3.md"))
    commit(root, "typo", filler("docs/page4.md"))
    found = _infer(root, task("t", title="x", description="Fix internal/store/migrate.go."))
    assert "docs/page3.md" in found.patterns
    (evidence,) = [e for e in found.evidence if e.kind == "co-change"]
    assert evidence.paths == ("docs/page3.md",)
    assert "internal/store/migrate.go" in evidence.detail
    assert not covers(found.patterns, "docs/page4.md")
    assert_every_pattern_has_evidence(found)


def test_most_of_a_directory_becomes_the_directory(tmp_path: Path) -> None:
    root = new_repo(tmp_path / "repo", TREE)
    text = "Touch internal/config/config.go and internal/config/defaults.go."
    found = _infer(root, task("t", title="Config", description=text))
    assert found.patterns == ("internal/config/",)


def test_hubs_and_the_task_source_never_enter_an_inferred_scope(tmp_path: Path) -> None:
    files = {**TREE, "tasks.yaml": "- id: t\n  title: RunTick changelog\n"}
    files["CHANGELOG.md"] = "RunTick\n"
    root = new_repo(tmp_path / "repo", files)
    # The changelog changes with everything: a hub, and everyone's co-change companion.
    for n in range(HUB_MIN_COMMITS + 2):
        commit(
            root,
            f"[bd-{n}] changelog and scheduler work",
            filler("CHANGELOG.md", "tasks.yaml", f"internal/scheduler/s{n}.go"),
        )
    closed = [task(f"bd-{n}", title="Changelog scheduler work", status="closed") for n in range(5)]
    subject = task(
        "t",
        title="Scheduler changelog entries for tasks",
        description="RunTick appears in internal/scheduler/s1.go too.",
    )
    (root / "internal/scheduler/s1.go").write_text("RunTick\n")
    commit(root, "unrelated", {})
    found = _infer(root, subject, *closed, ignored=["tasks.yaml"])
    assert found.patterns
    for kept_out in ("CHANGELOG.md", "tasks.yaml"):
        assert not covers(found.patterns, kept_out), found.patterns
    assert_every_pattern_has_evidence(found)


def test_low_confidence_falls_back_to_the_default_and_says_so(tmp_path: Path) -> None:
    root = new_repo(tmp_path / "repo", TREE)
    guess = task("t", title="Tmux backend restarts")
    knowledge = _knowledge(root, [guess])
    scope = task_scope(guess, Scoping(default_files=("**",), knowledge=knowledge))
    assert (scope.patterns, scope.source) == (("**",), "default_files")
    assert any("not sure enough" in note for note in scope.notes)
    assert scope.evidence  # what it would have used, for `tracks explain`

    nothing = task("u", title="Zzyzx")
    scope = task_scope(nothing, Scoping(knowledge=_knowledge(root, [nothing])))
    assert scope.source == "default_files"
    assert any("found nothing" in note for note in scope.notes)

    sure = task("v", title="x", description="Edit internal/store/sql.go")
    scope = task_scope(sure, Scoping(knowledge=_knowledge(root, [sure])))
    assert scope.source == "inferred" and covers(scope.patterns, "internal/store/sql.go")
    assert not covers(scope.patterns, "README.md")
    assert scope.confidence is not None and scope.confidence >= 0.3


def test_a_huge_or_binary_task_text_is_bounded_and_harmless(tmp_path: Path) -> None:
    root = new_repo(tmp_path / "repo", TREE)
    huge = task(
        "t",
        title="Big",
        description="See internal/store/sql.go. " + "RunTick " * 125_000 + "\x00\xff\ufffd" * 1000,
        notes="\x00" * 100_000 + " ../../etc/passwd /etc/shadow ..\\x",
    )
    found = _infer(root, huge)
    assert covers(found.patterns, "internal/store/sql.go")
    for pattern in found.patterns:
        assert not pattern.startswith("/") and ".." not in pattern.split("/")

"""Per-slot scopes: what a slot shows (sparse checkout) and what it may commit (the guard)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from tests.conftest import (
    Pool,
    assert_one_line_error,
    git,
    make_pool,
    make_repo,
    snapshot,
    wtpool,
    wtpool_json,
)
from worktree_pool.agents.reservations import reserve, unreserve
from worktree_pool.git.repo import git_dir_of
from worktree_pool.pool.claims import acquire
from worktree_pool.store.guard_facts import facts_path

LAYOUT = {
    "README.md": "# sample\n",
    "pyproject.toml": "[project]\n",
    "src/api/handlers.py": "def handle():\n    pass\n",
    "src/api/routes.py": "ROUTES = []\n",
    "src/db/models.py": "MODELS = []\n",
    "src/db/queries.py": "QUERIES = []\n",
    "docs/guide.md": "guide\n",
    "docs/api.md": "api docs\n",
    "LICENSE": "MIT\n",  # a root file outside always_include: cone mode shows it
    "src/__init__.py": "",  # a file in a parent of a cone directory: shown too
}


@pytest.fixture
def layout_pool(tmp_path: Path) -> Pool:
    return make_pool(make_repo(tmp_path / "repo", LAYOUT), minimum=1, maximum=4)


def _files(root: Path) -> list[str]:
    """The project files checked out in a slot: not git's, the pool's, or wtpool's env file."""
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file()
        and not {".git", ".agent-worktrees"} & set(p.relative_to(root).parts)
        and p.name != ".env.worktree"
    )


def _commit_outcome(slot: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["git", "commit", "-q", "-m", "attempt", *args], cwd=slot, capture_output=True, text=True
    )


def _scoped(pool: Pool, *patterns: str, agent: str = "alice") -> Path:
    result = acquire(pool.repo, pool.store(), agent, None, patterns)
    return Path(str(result.path))


# --- what a slot shows --------------------------------------------------------------------


def test_a_directory_scope_uses_cone_mode_and_shows_only_its_files(layout_pool: Pool) -> None:
    slot = _scoped(layout_pool, "src/api/")
    assert _files(slot) == [
        "LICENSE",
        "README.md",
        "pyproject.toml",
        "src/__init__.py",
        "src/api/handlers.py",
        "src/api/routes.py",
    ]
    report = wtpool_json(layout_pool.root, "filter", "show", "pool-wt-1")
    assert report["mode"] == "cone" and report["sparse_index"] is True
    assert report["patterns"] == ["src/api/"]
    assert (report["visible_files"], report["tracked_files"]) == (6, 10)
    assert report["note"] is None


def test_a_file_glob_scope_uses_non_cone_mode_and_says_so(layout_pool: Pool) -> None:
    slot = _scoped(layout_pool, "docs/*.md", "src/db/models.py")
    assert _files(slot) == [
        "README.md",
        "docs/api.md",
        "docs/guide.md",
        "pyproject.toml",
        "src/db/models.py",
    ]
    report = wtpool_json(layout_pool.root, "filter", "show", "pool-wt-1")
    assert report["mode"] == "non-cone" and report["sparse_index"] is False
    assert "slower" in report["note"]
    assert "non-cone" in wtpool(layout_pool.root, "filter", "show", "pool-wt-1").stdout


def test_patterns_are_anchored_at_the_repository_root(tmp_path: Path) -> None:
    files = {**LAYOUT, "docs/README.md": "nested readme\n"}
    pool = make_pool(make_repo(tmp_path / "repo", files), minimum=1)
    slot = _scoped(pool, "src/api/")
    assert not (slot / "docs" / "README.md").exists()  # always_include's README.md is the root one


def test_sparse_index_can_be_turned_off(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo", LAYOUT)
    (root / "wtpool.yaml").write_text("scope:\n  sparse_index: false\n")
    pool = make_pool(root, minimum=1)
    slot = _scoped(pool, "src/api/")
    assert git(slot, "config", "--get", "index.sparse") == "false"
    assert wtpool_json(root, "filter", "show", "pool-wt-1")["sparse_index"] is False


def test_settings_stay_in_the_slot_and_the_main_worktree_is_untouched(layout_pool: Pool) -> None:
    root = layout_pool.root
    main_config = (root / ".git" / "config").read_text()
    main_files = _files(root)
    other = _scoped(layout_pool, "docs/", agent="bob")  # pool-wt-1, full until now
    other_files = _files(other)

    slot = _scoped(layout_pool, "src/api/")  # a new slot, pool-wt-2
    wtpool_json(root, "filter", "add", "pool-wt-2", "src/db/")
    wtpool_json(root, "filter", "set", "pool-wt-2", "src/db/queries.py")

    assert (root / ".git" / "config").read_text() == main_config
    assert _files(root) == main_files
    assert (
        git(
            root,
            "config",
            "--get",
            "core.sparseCheckout",
        )
        == ""
        if False
        else True
    )
    assert subprocess.run(["git", "config", "core.sparseCheckout"], cwd=root).returncode == 1
    assert subprocess.run(["git", "config", "core.hooksPath"], cwd=root).returncode == 1
    assert _files(other) == other_files
    own = git(slot, "config", "--worktree", "--list")
    assert "core.sparsecheckout=true" in own and "core.hookspath=" in own


def test_reapplying_touches_only_what_enters_or_leaves_the_scope(layout_pool: Pool) -> None:
    slot = _scoped(layout_pool, "src/api/", "src/db/")
    (slot / "src" / "db" / "models.py").write_text("edited, not committed\n")
    (slot / "src" / "api" / "scratch.txt").write_text("untracked notes\n")
    untouched = (slot / "src" / "api" / "routes.py").stat().st_mtime_ns

    wtpool_json(layout_pool.root, "filter", "set", "pool-wt-1", "src/api/")

    assert (slot / "src" / "db" / "models.py").read_text() == "edited, not committed\n"
    assert not (slot / "src" / "db" / "queries.py").exists()
    assert (slot / "src" / "api" / "scratch.txt").read_text() == "untracked notes\n"
    assert (slot / "src" / "api" / "routes.py").stat().st_mtime_ns == untouched


def test_clear_shows_every_file_again(layout_pool: Pool) -> None:
    slot = _scoped(layout_pool, "src/api/")
    report = wtpool_json(layout_pool.root, "filter", "clear", "pool-wt-1")
    assert report["mode"] == "full" and report["patterns"] is None
    assert _files(slot) == sorted(LAYOUT)


def test_a_pattern_that_matches_nothing_is_a_warning(layout_pool: Pool) -> None:
    _scoped(layout_pool, "src/api/")
    result = wtpool(layout_pool.root, "filter", "add", "pool-wt-1", "src/new_module/")
    assert result.returncode == 0, result.stderr
    assert "matches no tracked file yet" in result.stdout


def test_acquire_without_scope_undoes_the_previous_holders_scope(layout_pool: Pool) -> None:
    slot = _scoped(layout_pool, "src/api/")
    wtpool_json(layout_pool.root, "release", "pool-wt-1")
    acquire(layout_pool.repo, layout_pool.store(), "bob", None)
    assert _files(slot) == sorted(LAYOUT)


# --- what a slot may commit ---------------------------------------------------------------


def _head_files(slot: Path) -> set[str]:
    return set(git(slot, "ls-tree", "-r", "--name-only", "HEAD").splitlines())


def test_a_new_file_outside_the_scope_cannot_be_committed_by_any_route(layout_pool: Pool) -> None:
    slot = _scoped(layout_pool, "src/api/")
    before = git(slot, "rev-parse", "HEAD")
    (slot / "src" / "db").mkdir(exist_ok=True)
    (slot / "src" / "db" / "new.py").write_text("outside\n")

    # git add: git itself refuses a path outside the sparse checkout.
    assert subprocess.run(["git", "add", "src/db/new.py"], cwd=slot).returncode != 0
    # git add --sparse, then commit: the guard refuses, naming the path and the remedy.
    git(slot, "add", "--sparse", "src/db/new.py")
    refused = _commit_outcome(slot)
    assert refused.returncode != 0
    assert "src/db/new.py" in refused.stderr and "wtpool filter add pool-wt-1" in refused.stderr
    git(slot, "reset", "-q")

    # git commit -a with a changed tracked file outside the scope.
    (slot / "src" / "db" / "models.py").write_text("changed outside the scope\n")
    git(slot, "add", "--sparse", "src/db/models.py")
    git(slot, "reset", "-q")
    _commit_outcome(slot, "-a")
    assert git(slot, "show", "HEAD:src/db/models.py") == "MODELS = []"
    git(slot, "checkout", "-q", "--", ".")

    # A rename that moves a file out of the scope.
    git(slot, "mv", "--sparse", "src/api/routes.py", "src/db/routes.py")
    refused = _commit_outcome(slot)
    assert refused.returncode != 0 and "src/db/routes.py" in refused.stderr
    git(slot, "reset", "-q", "--hard")

    # git rm --sparse of a file outside the scope.
    git(slot, "rm", "-q", "--sparse", "src/db/queries.py")
    refused = _commit_outcome(slot)
    assert refused.returncode != 0 and "src/db/queries.py" in refused.stderr
    git(slot, "reset", "-q", "--hard")

    assert git(slot, "rev-parse", "HEAD") == before
    assert "src/db/new.py" not in _head_files(slot)


def test_commit_all_cannot_commit_visible_files_outside_the_scope(layout_pool: Pool) -> None:
    # Cone mode also shows root files and files in a cone directory's parents; the scope does
    # not cover them, so `commit -a` is exactly the route the guard has to close.
    slot = _scoped(layout_pool, "src/api/")
    (slot / "LICENSE").write_text("changed licence\n")
    (slot / "src" / "__init__.py").write_text("changed\n")
    refused = _commit_outcome(slot, "-a")
    assert refused.returncode != 0
    assert "LICENSE" in refused.stderr and "src/__init__.py" in refused.stderr
    assert git(slot, "show", "HEAD:LICENSE") == "MIT"


def test_commits_inside_the_scope_pass(layout_pool: Pool) -> None:
    slot = _scoped(layout_pool, "src/api/")
    (slot / "src" / "api" / "routes.py").write_text("ROUTES = ['/']\n")
    (slot / "src" / "api" / "new.py").write_text("new\n")
    (slot / "README.md").write_text("# always included\n")
    git(slot, "add", "--all")
    assert _commit_outcome(slot).returncode == 0
    assert {"src/api/new.py", "README.md"} <= _head_files(slot)


def _hook_run(pool: Pool, slot: Path) -> tuple[int, bool]:
    """Run the slot's pre-commit hook as git would, traced: its exit code, and whether it
    started the Python guard (the shell part decided alone otherwise)."""
    hook = pool.root / ".agent-worktrees" / ".guards" / slot.name / "pre-commit"
    traced = subprocess.run(["sh", "-x", str(hook)], cwd=slot, capture_output=True, text=True)
    return traced.returncode, "-m worktree_pool.guard" in traced.stderr


def test_the_shell_decides_a_plain_commit_inside_the_scope_and_python_the_rest(
    layout_pool: Pool,
) -> None:
    slot = _scoped(layout_pool, "src/api/", "docs/guide.md")
    (slot / "src" / "api" / "routes.py").write_text("ROUTES = ['/']\n")
    (slot / "docs" / "guide.md").write_text("new guide\n")
    git(slot, "add", "--all")
    assert _hook_run(layout_pool, slot) == (0, False)
    (slot / "LICENSE").write_text("changed\n")  # outside: Python refuses, and says why
    git(slot, "add", "--sparse", "LICENSE")
    assert _hook_run(layout_pool, slot) == (1, True)
    git(slot, "reset", "-q", "--", "LICENSE")
    (slot / "src" / "api" / "caf\u00e9.py").write_text("x\n")  # a name git quotes: Python
    git(slot, "add", "src/api")
    assert _hook_run(layout_pool, slot) == (0, True)


def test_the_shell_sends_a_commit_to_python_whenever_it_cannot_be_sure(
    layout_pool: Pool,
) -> None:
    slot = _scoped(layout_pool, "src/api/")
    (slot / "src" / "api" / "routes.py").write_text("ROUTES = ['/']\n")
    git(slot, "add", "--all")
    facts = facts_path(layout_pool.repo.state_path)
    facts.unlink()  # as while another process changes the store
    assert _hook_run(layout_pool, slot) == (0, True)
    with layout_pool.store().transaction():
        pass  # any change writes the facts again
    assert _hook_run(layout_pool, slot) == (0, False)
    # Another agent's exclusive reservation over a path of the commit: Python decides.
    reserve(layout_pool.repo, layout_pool.store(), "bob", ("src/api/r*.py",))
    assert _hook_run(layout_pool, slot) == (1, True)
    # The slot's own agent's reservations hold nothing against it.
    unreserve(layout_pool.repo, layout_pool.store(), "bob")
    reserve(layout_pool.repo, layout_pool.store(), "alice", ("src/api/",))
    assert _hook_run(layout_pool, slot) == (0, False)
    merge_head = git_dir_of(slot) / "MERGE_HEAD"  # a merge being concluded: Python
    merge_head.write_text(git(slot, "rev-parse", "HEAD") + "\n")
    assert _hook_run(layout_pool, slot)[1]


def test_a_scope_with_globs_is_always_checked_by_python(layout_pool: Pool) -> None:
    slot = _scoped(layout_pool, "src/api/*.py")
    (slot / "src" / "api" / "routes.py").write_text("ROUTES = ['/']\n")
    git(slot, "add", "--all")
    assert _hook_run(layout_pool, slot) == (0, True)


def test_the_guard_needs_no_wtpool_on_path_and_works_from_a_subdirectory(
    layout_pool: Pool,
) -> None:
    slot = _scoped(layout_pool, "src/api/")
    (slot / "src" / "db").mkdir(exist_ok=True)
    (slot / "src" / "db" / "x.py").write_text("x\n")
    git(slot, "add", "--sparse", "src/db/x.py")
    env = {**os.environ, "PATH": "/usr/bin:/bin"}
    refused = subprocess.run(
        ["git", "commit", "-q", "-m", "x"],
        cwd=slot / "src" / "api",
        env=env,
        capture_output=True,
        text=True,
    )
    assert refused.returncode != 0 and "outside this slot's scope" in refused.stderr
    git(slot, "reset", "-q", "--", "src/db/x.py")
    (slot / "src" / "api" / "ok.py").write_text("ok\n")
    git(slot, "add", "src/api/ok.py")
    allowed = subprocess.run(
        ["git", "commit", "-q", "-m", "ok"],
        cwd=slot / "src" / "api",
        env=env,
        capture_output=True,
        text=True,
    )
    assert allowed.returncode == 0, allowed.stderr


def test_merging_the_base_into_a_scoped_branch_is_allowed(layout_pool: Pool) -> None:
    slot = _scoped(layout_pool, "src/api/")
    git(slot, "switch", "-q", "-c", "wtpool/agent/alice-work")
    (slot / "src" / "api" / "routes.py").write_text("mine\n")
    git(slot, "commit", "-qam", "mine")
    (layout_pool.root / "docs" / "guide.md").write_text("landed by someone else\n")
    git(layout_pool.root, "commit", "-qam", "theirs")
    merged = subprocess.run(
        ["git", "merge", "-q", "--no-edit", "main"], cwd=slot, capture_output=True, text=True
    )
    assert merged.returncode == 0, merged.stderr


def _write_hook(directory: Path, name: str, body: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    hook = directory / name
    hook.write_text(f"#!/bin/sh\n{body}\n")
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR)


@pytest.mark.parametrize("where", ["default", "configured"])
def test_the_repositorys_own_hooks_still_run_and_can_block(layout_pool: Pool, where: str) -> None:
    root = layout_pool.root
    hooks = root / ".git" / "hooks"
    if where == "configured":
        hooks = root / "team-hooks"
        git(root, "config", "core.hooksPath", "team-hooks")  # relative: to the worktree top
    slot = _scoped(layout_pool, "src/api/")
    if where == "configured":
        _write_hook(slot / "team-hooks", "pre-commit", "exit 0")  # what the slot would run
    log = root.parent / "hook.log"
    target = slot / "team-hooks" if where == "configured" else hooks
    _write_hook(target, "pre-commit", f'echo pre-commit >> "{log}"\n[ ! -e BLOCK ] || exit 1')
    _write_hook(target, "commit-msg", f'echo commit-msg >> "{log}"')

    (slot / "src" / "api" / "a.py").write_text("a\n")
    git(slot, "add", "src/api/a.py")
    assert _commit_outcome(slot).returncode == 0
    assert log.read_text().split() == ["pre-commit", "commit-msg"]

    (slot / "BLOCK").write_text("")
    (slot / "src" / "api" / "b.py").write_text("b\n")
    git(slot, "add", "src/api/b.py")
    blocked = _commit_outcome(slot)
    assert blocked.returncode != 0
    assert "src/api/b.py" not in _head_files(slot)


# --- verify -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("breakage", "symptom"),
    [
        (["sparse-checkout", "disable"], "lost its sparse settings"),
        (["config", "--worktree", "core.hooksPath", "/tmp/elsewhere"], "core.hooksPath"),
        (["config", "--worktree", "--unset", "core.hooksPath"], "core.hooksPath is unset"),
        (["sparse-checkout", "set", "--no-cone", "/*"], "shows every file"),
    ],
)
def test_verify_detects_a_broken_filter_and_fix_restores_it(
    layout_pool: Pool, breakage: list[str], symptom: str
) -> None:
    slot = _scoped(layout_pool, "src/api/")
    expected_files = _files(slot)
    assert wtpool(layout_pool.root, "filter", "verify", "pool-wt-1").returncode == 0
    git(slot, *breakage)

    found = wtpool(layout_pool.root, "filter", "verify", "pool-wt-1", "--json")
    assert found.returncode == 1
    assert any(symptom in problem for problem in json.loads(found.stdout)["problems"])

    fixed = wtpool(layout_pool.root, "filter", "verify", "pool-wt-1", "--fix")
    assert fixed.returncode == 0, fixed.stderr
    assert wtpool(layout_pool.root, "filter", "verify", "pool-wt-1").returncode == 0
    assert _files(slot) == expected_files


def test_verify_notices_a_tampered_guard(layout_pool: Pool) -> None:
    _scoped(layout_pool, "src/api/")
    hook = layout_pool.root / ".agent-worktrees" / ".guards" / "pool-wt-1" / "pre-commit"
    hook.write_text("#!/bin/sh\nexit 0\n")
    found = wtpool_json_status(layout_pool.root)
    assert any("pre-commit" in problem for problem in found["problems"])
    assert wtpool(layout_pool.root, "filter", "verify", "pool-wt-1", "--fix").returncode == 0
    assert "worktree_pool.guard" in hook.read_text()


def wtpool_json_status(root: Path) -> dict:
    result = wtpool(root, "filter", "verify", "pool-wt-1", "--json")
    assert result.returncode == 1
    return json.loads(result.stdout)


def test_a_guard_that_cannot_read_its_scope_refuses_the_commit(layout_pool: Pool) -> None:
    slot = _scoped(layout_pool, "src/api/")
    (layout_pool.root / ".agent-worktrees" / ".guards" / "pool-wt-1" / "scope.json").write_text("{")
    # The hook's shell part holds its own copy of the scope and passes a commit inside it;
    # any commit it cannot pass needs the Python guard, which needs scope.json.
    (slot / "src" / "api" / "a.py").write_text("a\n")
    (slot / "LICENSE").write_text("changed\n")
    git(slot, "add", "src/api/a.py", "LICENSE")
    refused = _commit_outcome(slot)
    assert refused.returncode != 0 and "filter verify --fix" in refused.stderr


# --- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (["filter", "set", "pool-wt-1", "../outside"], 2, "escapes the repository"),
        (["filter", "add", "pool-wt-1", "src/../../x"], 2, "escapes the repository"),
        (["filter", "set", "pool-wt-1", "/etc/passwd"], 2, "is an absolute path"),
        (["filter", "set", "pool-wt-1", ""], 2, "empty scope pattern"),
        (["filter", "set", "pool-wt-1", "#notes"], 2, "comment"),
        (["filter", "set", "pool-wt-1"], 2, "missing argument"),
        (["filter", "set", "pool-wt-9", "src/"], 2, "no slot named 'pool-wt-9'"),
        (["filter", "show", "nope"], 2, "no slot named 'nope'"),
        (["filter", "verify", "../x"], 2, "invalid slot name"),
        (["filter", "clear"], 2, "not inside a slot"),
        (["acquire", "--agent", "b", "--scope", "../x"], 2, "escapes the repository"),
        (["acquire", "--agent", "b", "--scope", "src/[z-a]"], 2, "is not valid"),
        (["filter", "set", "pool-wt-1", "src/[z-a]"], 2, "is not valid"),
        (["filter", "add", "pool-wt-1", "src/api/\\"], 2, "is not valid"),
        (["filter", "set", "pool-wt-1", "./src/api/"], 2, "'.' path component"),
        (["filter", "set", "pool-wt-1", "src//api/"], 2, "empty or '.' path component"),
        (["filter", "set", "pool-wt-1", "src/api/ "], 2, "trailing spaces"),
    ],
)
def test_bad_filter_input_is_refused_cleanly(
    layout_pool: Pool, args: list[str], code: int, fragment: str
) -> None:
    _scoped(layout_pool, "src/api/")
    before = snapshot(layout_pool.root)
    result = wtpool(layout_pool.root, *args)
    assert_one_line_error(result, code, fragment)
    assert snapshot(layout_pool.root) == before


# --- found in review ----------------------------------------------------------------------


def test_a_slot_that_fails_to_prepare_is_never_handed_out(layout_pool: Pool) -> None:
    acquire(layout_pool.repo, layout_pool.store(), "holder", None)  # the next claim is a new slot
    (layout_pool.root / ".agent-worktrees" / ".guards").rename(
        layout_pool.root / ".agent-worktrees" / "guards-aside"
    )
    (layout_pool.root / ".agent-worktrees" / ".guards").write_text("in the way\n")
    failed = wtpool(layout_pool.root, "acquire", "--agent", "b", "--scope", "src/api/")
    assert_one_line_error(failed, 1, "guard")
    assert not layout_pool.slot(2).exists()
    assert [w["name"] for w in wtpool_json(layout_pool.root, "status")["worktrees"]] == [
        "pool-wt-1"
    ]


def test_git_am_is_guarded_too(layout_pool: Pool) -> None:
    root = layout_pool.root
    git(root, "switch", "-q", "-c", "patch-source")
    (root / "src" / "db" / "models.py").write_text("patched outside the scope\n")
    git(root, "commit", "-qam", "outside")
    patch = git(root, "format-patch", "-1", "--stdout")
    git(root, "switch", "-q", "main")
    slot = _scoped(layout_pool, "src/api/")
    applied = subprocess.run(
        ["git", "am", "-q"], cwd=slot, input=patch + "\n", text=True, capture_output=True
    )
    assert applied.returncode != 0 and "src/db/models.py" in applied.stderr
    subprocess.run(["git", "am", "--abort"], cwd=slot, capture_output=True)
    assert git(slot, "show", "HEAD:src/db/models.py") == "MODELS = []"


def test_a_merge_cannot_quietly_drop_the_bases_landed_work(layout_pool: Pool) -> None:
    slot = _scoped(layout_pool, "src/api/")
    git(slot, "switch", "-q", "-c", "wtpool/agent/alice-ours")
    (layout_pool.root / "docs" / "guide.md").write_text("landed by someone else\n")
    git(layout_pool.root, "commit", "-qam", "theirs")
    refused = subprocess.run(
        ["git", "merge", "-q", "-s", "ours", "--no-edit", "main"],
        cwd=slot,
        capture_output=True,
        text=True,
    )
    assert refused.returncode != 0 and "docs/guide.md" in refused.stderr


def test_a_gitlink_change_is_seen_whatever_diff_ignoresubmodules_says(layout_pool: Pool) -> None:
    slot = _scoped(layout_pool, "src/api/")
    git(slot, "config", "--worktree", "diff.ignoreSubmodules", "all")
    commit = git(slot, "rev-parse", "HEAD")
    git(slot, "update-index", "--add", "--cacheinfo", f"160000,{commit},libs/sub")
    refused = _commit_outcome(slot)
    assert refused.returncode != 0 and "libs/sub" in refused.stderr


def test_a_tracked_relative_hooks_path_hidden_by_the_scope_still_runs(tmp_path: Path) -> None:
    files = {**LAYOUT, ".githooks/pre-commit": "#!/bin/sh\necho team-hook >&2\nexit 1\n"}
    root = make_repo(tmp_path / "repo", files)
    (root / ".githooks" / "pre-commit").chmod(0o755)
    git(root, "config", "core.hooksPath", ".githooks")
    pool = make_pool(root, minimum=1)
    slot = _scoped(pool, "src/api/")
    assert not (slot / ".githooks").exists()  # hidden by the sparse checkout
    (slot / "src" / "api" / "a.py").write_text("a\n")
    git(slot, "add", "src/api/a.py")
    blocked = _commit_outcome(slot)
    assert blocked.returncode != 0 and "team-hook" in blocked.stderr


@pytest.mark.parametrize(
    ("patterns", "mode"),
    [
        (("src/api",), "cone"),  # a directory in the tree, without the slash
        (("src/api/new_module.py",), "non-cone"),  # a file still to be created
        (("Makefile", "src/api/"), "cone"),  # an untracked root file: cone shows root files
    ],
)
def test_a_bare_path_is_a_directory_only_if_the_tree_has_one(
    layout_pool: Pool, patterns: tuple[str, ...], mode: str
) -> None:
    _scoped(layout_pool, *patterns)
    assert wtpool_json(layout_pool.root, "filter", "show", "pool-wt-1")["mode"] == mode
    assert wtpool(layout_pool.root, "filter", "verify", "pool-wt-1").returncode == 0


def test_verify_accepts_a_directory_with_a_non_ascii_name(tmp_path: Path) -> None:
    pool = make_pool(make_repo(tmp_path / "repo", {**LAYOUT, "src/café/menu.py": "MENU = []\n"}))
    slot = _scoped(pool, "src/café/")
    assert (slot / "src" / "café" / "menu.py").exists()
    result = wtpool(pool.root, "filter", "verify", "pool-wt-1")
    assert result.returncode == 0, result.stdout


def test_the_hint_escapes_glob_characters_so_following_it_works(tmp_path: Path) -> None:
    pool = make_pool(make_repo(tmp_path / "repo", {**LAYOUT, "top1.txt": "1\n"}))
    slot = _scoped(pool, "src/api/")
    (slot / "top[1].txt").write_text("bracketed\n")
    git(slot, "add", "--sparse", "top[1].txt")
    refused = _commit_outcome(slot)
    hint = refused.stderr.strip().splitlines()[-1]
    assert hint == "to widen the scope: wtpool filter add pool-wt-1 'top\\[1\\].txt'"
    wtpool_json(pool.root, "filter", "add", "pool-wt-1", "top\\[1\\].txt")
    assert _commit_outcome(slot).returncode == 0

"""The tests mirror the packages, and each package says what it holds.

Every module of `worktree_pool/` has a test file named after it, `tests/<package>/test_<module>.py`
(`tests/test_<module>.py` for the top-level ones), or is named in COVERED_BY below with the test
file that exercises it: a small module is often best tested through the command that uses it.
Each package's `__init__.py` is its docstring alone (packages are imported on start-up paths) and
that docstring names every module and subpackage of the package (`name.py`, `name/`).

When a module is added, renamed or split, give it a test file or an entry here, and name it in
its package's docstring.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "worktree_pool"

# Module (path under worktree_pool/) -> the test file that covers it, for modules that have no
# test file of their own. Keep it honest: the file named must really drive the module's code.
COVERED_BY: dict[str, str] = {
    # entry points and the error type: every CLI test runs `python -m worktree_pool`
    "__main__.py": "tests/reliability/test_bad_input.py",
    "agent_runner.py": "tests/agents/test_process.py",
    "errors.py": "tests/reliability/test_bad_input.py",
    "guard.py": "tests/scope/test_filters.py",
    # cli
    "cli/app.py": "tests/reliability/test_bad_input.py",
    "cli/render/common.py": "tests/reliability/test_terminal_text.py",
    "cli/render/merges.py": "tests/reliability/test_terminal_text.py",
    "cli/render/monitor.py": "tests/monitor/test_limits.py",
    "cli/render/tracks.py": "tests/reliability/test_terminal_text.py",
    # coord
    "coord/consistency.py": "tests/coord/test_doctor.py",
    "coord/daemon.py": "tests/monitor/test_limits.py",
    "coord/findings.py": "tests/coord/test_doctor.py",
    "coord/leaks.py": "tests/monitor/test_limits.py",
    "coord/report.py": "tests/monitor/test_limits.py",
    "coord/watch.py": "tests/monitor/test_limits.py",
    # merge: the queue is tested end to end through `wtpool merge`
    "merge/after_landing.py": "tests/merge/test_queue.py",
    "merge/gate.py": "tests/merge/test_queue.py",
    "merge/integration.py": "tests/merge/test_queue.py",
    "merge/landing.py": "tests/merge/test_queue.py",
    "merge/scratch.py": "tests/merge/test_queue.py",
    # pool
    "pool/handoff.py": "tests/pool/test_hostile_repo.py",
    "pool/history.py": "tests/pool/test_salvage.py",
    "pool/scaling.py": "tests/pool/test_lifecycle.py",
    "pool/worktrees.py": "tests/pool/test_claims.py",
    # tasks
    "tasks/planning.py": "tests/coord/test_spawn.py",
    "tasks/status.py": "tests/merge/test_queue.py",
    # monitor
    "monitor/diskusage.py": "tests/monitor/test_limits.py",
    "monitor/resources.py": "tests/monitor/test_limits.py",
    "monitor/slot_facts.py": "tests/monitor/test_limits.py",
    # agents
    "agents/audit.py": "tests/agents/test_reservations.py",
    "agents/mail.py": "tests/agents/test_reservations.py",
    "agents/runner.py": "tests/agents/test_process.py",
    # scope
    "scope/guard.py": "tests/scope/test_filters.py",
    "scope/hooks.py": "tests/scope/test_filters.py",
    "scope/patterns.py": "tests/scope/test_overlap.py",
    "scope/sparse.py": "tests/scope/test_filters.py",
    # db
    "db/server.py": "tests/db/test_slots.py",
    # store
    "store/slots.py": "tests/pool/test_claims.py",
    # git
    "git/repo.py": "tests/pool/test_lifecycle.py",
    "git/run.py": "tests/pool/test_hostile_repo.py",
    # util
    "util/inputs.py": "tests/reliability/test_bad_input.py",
    "util/names.py": "tests/reliability/test_bad_input.py",
    "util/pattern_syntax.py": "tests/agents/test_reservations.py",
    "util/private.py": "tests/reliability/test_security.py",
    "util/processes.py": "tests/agents/test_process.py",
    "util/testpoints.py": "tests/reliability/test_crashes.py",
}


def _modules() -> list[str]:
    """Every module of the package, as a path under worktree_pool/, package inits left out."""
    return sorted(
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if path.name != "__init__.py"
    )


def _own_test_file(module: str) -> Path:
    path = Path(module)
    return ROOT / "tests" / path.parent / f"test_{path.stem}.py"


def test_every_module_has_a_test_file_or_names_the_one_that_covers_it() -> None:
    missing = [
        module
        for module in _modules()
        if not _own_test_file(module).is_file() and module not in COVERED_BY
    ]
    assert not missing, (
        f"no test file for {missing}: add tests/<package>/test_<module>.py, "
        "or name the test file that covers it in COVERED_BY (tests/test_layout.py)"
    )


def test_the_covered_by_table_names_real_modules_and_real_test_files() -> None:
    modules = set(_modules())
    stale = sorted(module for module in COVERED_BY if module not in modules)
    assert not stale, f"COVERED_BY names modules that no longer exist: {stale}"
    redundant = sorted(module for module in COVERED_BY if _own_test_file(module).is_file())
    assert not redundant, (
        f"these have a test file of their own, drop them from COVERED_BY: {redundant}"
    )
    absent = sorted(
        test
        for test in set(COVERED_BY.values())
        if not ((ROOT / test).is_file() and Path(test).name.startswith("test_"))
    )
    assert not absent, f"COVERED_BY names test files that do not exist: {absent}"


def test_each_package_init_is_a_docstring_that_names_its_modules() -> None:
    for init in sorted(PACKAGE.rglob("__init__.py")):
        package = init.parent
        tree = ast.parse(init.read_text())
        where = init.relative_to(ROOT)
        # Nothing that runs: no import (packages are imported on start-up paths), no code; only
        # the root may hold a constant (`__version__`).
        code = [
            node
            for node in tree.body[1:]
            if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant))
        ]
        assert not code, f"{where}: a package's __init__.py holds its docstring alone"
        docstring = ast.get_docstring(tree)
        assert docstring, f"{where}: a docstring saying what the package owns"
        parts = [p.name for p in package.glob("*.py") if p.name != "__init__.py"]
        parts += [f"{p.name}/" for p in package.iterdir() if (p / "__init__.py").is_file()]
        unnamed = sorted(part for part in parts if part not in docstring)
        assert not unnamed, f"{where}: its docstring does not name {unnamed}"

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
    "cli/entry.py": "tests/cli/test_app.py",
    "cli/failure.py": "tests/cli/test_quick.py",
    "cli/invocation.py": "tests/cli/test_app.py",
    "cli/lazy.py": "tests/cli/test_app.py",
    "cli/options.py": "tests/cli/test_app.py",
    # cli/commands: each group is driven through `python -m worktree_pool <command>`
    "cli/commands/agents.py": "tests/agents/test_activity.py",
    "cli/commands/claims.py": "tests/pool/test_claims.py",
    "cli/commands/cleanup.py": "tests/coord/test_cleanup.py",
    "cli/commands/config.py": "tests/config/test_settings.py",
    "cli/commands/daemon.py": "tests/monitor/test_limits.py",
    "cli/commands/fleet.py": "tests/store/test_control_plane.py",
    "cli/commands/db.py": "tests/db/test_slots.py",
    "cli/commands/demo.py": "tests/cli/test_demo.py",
    "cli/commands/environment.py": "tests/pool/test_environment.py",
    "cli/commands/filter.py": "tests/scope/test_filters.py",
    "cli/commands/health.py": "tests/coord/test_doctor.py",
    "cli/commands/mail.py": "tests/agents/test_reservations.py",
    "cli/commands/merge.py": "tests/merge/test_queue.py",
    "cli/commands/monitor.py": "tests/monitor/test_limits.py",
    "cli/commands/pool.py": "tests/pool/test_lifecycle.py",
    "cli/commands/reserve.py": "tests/agents/test_reservations.py",
    "cli/commands/scale.py": "tests/pool/test_lifecycle.py",
    "cli/commands/spawn.py": "tests/coord/test_spawn.py",
    "cli/commands/status.py": "tests/pool/test_lifecycle.py",
    "cli/commands/tracks.py": "tests/coord/test_spawn.py",
    "cli/render/agents.py": "tests/agents/test_process.py",
    "cli/render/cleanup.py": "tests/coord/test_cleanup.py",
    "cli/render/config.py": "tests/config/test_settings.py",
    "cli/render/environment.py": "tests/pool/test_environment.py",
    "cli/render/fleet.py": "tests/store/test_control_plane.py",
    "cli/render/progress.py": "tests/cli/test_progress.py",
    "cli/render/pool.py": "tests/reliability/test_terminal_text.py",
    "cli/render/report.py": "tests/monitor/test_limits.py",
    "cli/render/common.py": "tests/reliability/test_terminal_text.py",
    "cli/render/merges.py": "tests/reliability/test_terminal_text.py",
    "cli/render/monitor.py": "tests/monitor/test_limits.py",
    "cli/render/tracks.py": "tests/reliability/test_terminal_text.py",
    # coord
    "coord/control_plane.py": "tests/store/test_control_plane.py",
    "coord/fleet.py": "tests/store/test_control_plane.py",
    "coord/consistency.py": "tests/coord/test_doctor.py",
    "coord/notify.py": "tests/agents/test_activity.py",
    "coord/reaching.py": "tests/agents/test_activity.py",
    "coord/daemon.py": "tests/monitor/test_limits.py",
    "coord/daemon_lock.py": "tests/monitor/test_limits.py",
    "coord/findings.py": "tests/coord/test_doctor.py",
    "coord/leaks.py": "tests/monitor/test_limits.py",
    "coord/report.py": "tests/monitor/test_limits.py",
    "coord/watch.py": "tests/monitor/test_limits.py",
    "coord/widening.py": "tests/scope/test_view.py",
    # merge: the queue is tested end to end through `wtpool merge`
    "merge/after_landing.py": "tests/merge/test_queue.py",
    "merge/gate.py": "tests/merge/test_queue.py",
    "merge/integration.py": "tests/merge/test_queue.py",
    "merge/landing.py": "tests/merge/test_queue.py",
    "merge/report.py": "tests/merge/test_queue.py",
    "merge/submit.py": "tests/merge/test_queue.py",
    "merge/scratch.py": "tests/merge/test_queue.py",
    "merge/settling.py": "tests/merge/test_queue.py",
    # pool
    "pool/refresh.py": "tests/pool/test_slot_hooks.py",
    "agents/output.py": "tests/agents/test_activity.py",
    "agents/terminal.py": "tests/agents/test_activity.py",
    "pool/adoption.py": "tests/coord/test_doctor.py",
    "pool/handoff.py": "tests/pool/test_hostile_repo.py",
    "pool/opening.py": "tests/pool/test_lifecycle.py",
    "pool/recycle.py": "tests/pool/test_claims.py",
    "pool/serving.py": "tests/pool/test_concurrent_claims.py",
    "pool/history.py": "tests/pool/test_salvage.py",
    "pool/scaling.py": "tests/pool/test_lifecycle.py",
    "pool/status.py": "tests/pool/test_lifecycle.py",
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
    "agents/logs.py": "tests/agents/test_process.py",
    "agents/membership.py": "tests/agents/test_process.py",
    "agents/process_table.py": "tests/agents/test_process.py",
    "agents/stopping.py": "tests/agents/test_process.py",
    "agents/mail.py": "tests/agents/test_reservations.py",
    "agents/runner.py": "tests/agents/test_process.py",
    # scope
    "scope/guard.py": "tests/scope/test_filters.py",
    "scope/hooks.py": "tests/scope/test_filters.py",
    "scope/patterns.py": "tests/scope/test_overlap.py",
    "scope/sparse.py": "tests/scope/test_filters.py",
    "scope/building.py": "tests/scope/test_view.py",
    # db
    "db/clone.py": "tests/db/test_postgres.py",
    "db/connection.py": "tests/db/test_postgres.py",
    "db/inventory.py": "tests/db/test_postgres.py",
    "db/names.py": "tests/db/test_postgres.py",
    "db/ownership.py": "tests/db/test_postgres.py",
    "db/server.py": "tests/db/test_slots.py",
    "db/template.py": "tests/db/test_postgres.py",
    # config
    "config/display.py": "tests/config/test_settings.py",
    "config/effective.py": "tests/config/test_settings.py",
    "config/loader.py": "tests/config/test_settings.py",
    "config/validation.py": "tests/config/test_settings.py",
    # store
    # store: the query modules run under the components that call them; test_sql and test_seam
    # hold the rules every one of them follows
    "store/audit_log.py": "tests/agents/test_reservations.py",
    "store/claims.py": "tests/store/test_control_plane.py",
    "store/databases.py": "tests/db/test_slots.py",
    "store/hosts.py": "tests/store/test_control_plane.py",
    "store/origin.py": "tests/store/test_control_plane.py",
    "store/postgres.py": "tests/store/test_control_plane.py",
    "store/shared_schema.py": "tests/store/test_control_plane.py",
    "store/split.py": "tests/store/test_control_plane.py",
    "store/limits.py": "tests/monitor/test_limits.py",
    "store/mail.py": "tests/agents/test_reservations.py",
    "store/merges.py": "tests/merge/test_queue.py",
    "store/pool.py": "tests/pool/test_lifecycle.py",
    "store/protocol.py": "tests/store/test_seam.py",
    "store/queue.py": "tests/pool/test_concurrent_claims.py",
    "store/reservations.py": "tests/agents/test_reservations.py",
    "store/schema.py": "tests/store/test_sqlite.py",
    "store/slots.py": "tests/pool/test_claims.py",
    "store/trust.py": "tests/pool/test_slot_hooks.py",
    "store/values.py": "tests/store/test_sqlite.py",
    # git
    "git/remote.py": "tests/store/test_control_plane.py",
    "git/repo.py": "tests/pool/test_lifecycle.py",
    "git/run.py": "tests/pool/test_hostile_repo.py",
    "git/tree_listing.py": "tests/scope/context/test_reader.py",
    # util
    "util/inputs.py": "tests/reliability/test_bad_input.py",
    "util/progress.py": "tests/cli/test_progress.py",
    "util/yaml_input.py": "tests/config/test_settings.py",
    "util/shell.py": "tests/pool/test_claims.py",
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

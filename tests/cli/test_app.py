"""The CLI's root: every command is listed and reachable, and commands load lazily.

`wtpool --version` and `wtpool status` are run by agents constantly; the root imports a
command's module only when that command runs, and these tests keep it that way.
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import typer

from tests.conftest import Pool, wtpool
from worktree_pool.cli import commands
from worktree_pool.cli.app import COMMANDS

# Runs one command in a fresh interpreter and prints which command modules it imported.
_IMPORTED = """
import json, sys
sys.argv = ["wtpool", *json.loads(sys.argv[1])]
from worktree_pool.cli.app import run
code = run(sys.argv[1:])
loaded = sorted(m for m in sys.modules if m.startswith("worktree_pool.cli.commands."))
print(json.dumps({"code": code, "loaded": loaded}), file=sys.stderr)
"""


def _command_modules_imported(cwd: Path, *argv: str) -> tuple[int, list[str]]:
    result = subprocess.run(
        [sys.executable, "-c", _IMPORTED, json.dumps(argv)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = json.loads(result.stderr.strip().splitlines()[-1])
    return report["code"], report["loaded"]


def test_help_lists_every_command_in_order(tmp_path: Path) -> None:
    result = wtpool(tmp_path, "--help")
    assert result.returncode == 0, result.stderr
    listed = result.stdout.split("Commands:\n", 1)[1].splitlines()
    assert [line.split()[0] for line in listed if line.strip()] == list(COMMANDS)


def test_every_command_of_every_module_is_registered() -> None:
    """A command defined in a module but missing from COMMANDS would silently not exist."""
    for info in pkgutil.iter_modules(commands.__path__):
        module = __import__(f"{commands.__name__}.{info.name}", fromlist=["app"])
        group = typer.main.get_group(module.app)
        names = [group.name] if group.name else list(group.commands)
        for name in names:
            assert COMMANDS.get(name) == info.name, f"{name} of commands/{info.name}.py"


def test_version_imports_no_command_module(tmp_path: Path) -> None:
    assert _command_modules_imported(tmp_path, "--version") == (0, [])


def test_the_console_script_answers_version_without_importing_typer(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "worktree_pool", "--version"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0 and result.stdout.startswith("wtpool ")
    imported = [line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()]
    assert "worktree_pool" in imported  # the measurement saw wtpool's imports
    assert not [name for name in imported if name.split(".")[0] in ("typer", "click", "rich")]
    assert "worktree_pool.cli.app" not in imported


def test_status_imports_only_its_own_command_module(pool: Pool) -> None:
    code, loaded = _command_modules_imported(pool.root, "status")
    assert (code, loaded) == (0, ["worktree_pool.cli.commands.status"])


def test_group_command_imports_only_its_module(tmp_path: Path) -> None:
    code, loaded = _command_modules_imported(tmp_path, "mail", "--help")
    assert (code, loaded) == (0, ["worktree_pool.cli.commands.mail"])


def test_unknown_command_is_one_usage_error(tmp_path: Path) -> None:
    result = wtpool(tmp_path, "stauts")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        "error: No such command 'stauts'. Did you mean 'status'?\nhint: see `wtpool --help`\n"
    )

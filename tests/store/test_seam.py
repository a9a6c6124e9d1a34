"""Every SQL statement wtpool runs on its state store lives in worktree_pool/store/.

The only other SQL in the package is PostgreSQL's: the db package's clone, inventory, ownership
and template modules administer the slot databases' server, and cli/demo.py runs the demo's
own app database. Neither is the store.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import worktree_pool
from worktree_pool.store.split import is_shared

PACKAGE = Path(worktree_pool.__file__).parent
# PostgreSQL, not the state store
NOT_THE_STORE = {
    "db/clone.py",
    "db/inventory.py",
    "db/ownership.py",
    "db/template.py",
    "cli/demo.py",
}
SQL = re.compile(
    r"\b(SELECT\s.+\sFROM|INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM"
    r"|CREATE\s+(TABLE|INDEX)|ALTER\s+TABLE)\b",
    re.S,
)


def _outside_store() -> list[tuple[str, ast.Module]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith("store/"):
            continue
        found.append((relative, ast.parse(path.read_text(encoding="utf-8"), relative)))
    return found


def test_no_statement_runs_outside_the_store() -> None:
    offenders = [
        f"{name}:{node.lineno}"
        for name, tree in _outside_store()
        if name not in NOT_THE_STORE
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in {"execute", "executemany", "executescript"}
    ]
    assert offenders == []


def test_no_sql_text_or_sqlite_outside_the_store() -> None:
    offenders = []
    for name, tree in _outside_store():
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                modules = (
                    [alias.name for alias in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                )
                offenders += [
                    f"{name}:{node.lineno} imports sqlite3" for m in modules if m == "sqlite3"
                ]
            elif (
                name not in NOT_THE_STORE
                and isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and SQL.search(node.value)
            ):
                offenders.append(f"{name}:{node.lineno} {node.value[:40]!r}")
    assert offenders == []


def test_the_rule_sees_sql_where_it_is() -> None:
    """The scan itself works: it finds the statements the store does run."""
    text = (PACKAGE / "store" / "slots.py").read_text(encoding="utf-8")
    assert SQL.search(text)
    assert any(
        isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "execute"
        for node in ast.walk(ast.parse(text))
    )


def _store_statements() -> list[tuple[str, str]]:
    """Every SQL text of the query modules (the schemas and backends aside), with its module."""
    backends = {"schema.py", "shared_schema.py", "sqlite.py", "postgres.py"}
    found = []
    for path in sorted((PACKAGE / "store").glob("*.py")):
        if path.name in backends:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            text = node.value if isinstance(node, ast.Constant) else None
            if isinstance(text, str) and (SQL.search(text) or text.startswith(" FROM")):
                found.append((path.name, text))
    return found


def test_each_statement_runs_on_one_side_and_translates_to_postgresql() -> None:
    """A statement names local or shared tables, never both (split.py routes it by them),
    and keeps `?` and `%` out of its string literals (postgres.py rewrites both)."""
    statements = _store_statements()
    assert len(statements) > 40  # the scan finds the statements at all
    shared = [text for _, text in statements if is_shared(text)]
    assert any("claims" in text for text in shared)
    for module, text in statements:
        for literal in re.findall(r"'[^']*'", text):
            assert "?" not in literal and "%" not in literal, f"{module}: {text}"

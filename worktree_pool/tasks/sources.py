"""Reading the task graph from its source: a Beads export, `bd list`, or a YAML task file.

Beads writes one JSON object per line. Newer exports mark issues with `"_type": "issue"` and may
hold other record types (skipped); older ones have no `_type`. Unknown fields are ignored, so a
newer Beads does not break wtpool. A dependency `{issue_id, depends_on_id, type}` says that
`issue_id` depends on `depends_on_id`: for `parent-child`, the target is the parent. `bd list
--json` prints the same records as one JSON list. An issue's `ephemeral` flag (a wisp) is kept,
as such an issue is never work (graph.py). A YAML task file is a `tasks` list whose
`depends_on` ids are blocking edges.
"""

from __future__ import annotations

import difflib
import json
import shutil
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

from worktree_pool.config.settings import TaskSettings
from worktree_pool.errors import WtpoolError, bad_input
from worktree_pool.git.repo import Repository
from worktree_pool.tasks.graph import PARENT_EDGE, Dependency, Task, TaskGraph
from worktree_pool.util.inputs import describe, read_text_bounded
from worktree_pool.util.yaml_input import load_yaml

# A task file is read whole: past this, it is refused rather than read into memory.
MAX_TASK_FILE_BYTES = 64_000_000


# --- Beads ----------------------------------------------------------------------------------


def read_beads(path: Path, *, lenient: bool = False) -> TaskGraph:
    lines = read_text_bounded(path, MAX_TASK_FILE_BYTES, "the task file").splitlines()
    return parse_beads_records(
        ((number, line) for number, line in enumerate(lines, start=1)), str(path), lenient
    )


def parse_beads_records(numbered_records: Any, source: str, lenient: bool) -> TaskGraph:
    """Tasks from (number, record) pairs, a record being an export's line or, from bd, an
    already decoded JSON value."""
    tasks: dict[str, Task] = {}
    warnings: list[str] = []
    for number, raw in numbered_records:
        if isinstance(raw, str) and not raw.strip():
            continue
        try:
            record = json.loads(raw) if isinstance(raw, str) else raw
            if not isinstance(record, dict):
                raise ValueError("a line must hold a JSON object")
            if record.get("_type", "issue") != "issue":
                continue
            task = _beads_task(record)
        except (ValueError, TypeError, KeyError) as exc:
            message = f"{source}:{number}: malformed task record: {_reason(exc)}"
            if not lenient:
                raise bad_input(message, "fix the line, or pass --lenient to skip it") from exc
            warnings.append(message)
            continue
        tasks[task.id] = task
    return TaskGraph(source, tasks, warnings)


def _reason(exc: Exception) -> str:
    return f"missing field {exc}" if isinstance(exc, KeyError) else str(exc).splitlines()[0]


def _beads_task(record: dict[str, Any]) -> Task:
    task_id = _text(record["id"], "id")
    dependencies = tuple(
        Dependency(
            _text(dep["depends_on_id"], "depends_on_id"), _text(dep.get("type", "blocks"), "type")
        )
        for dep in _list(record.get("dependencies"), "dependencies")
    )
    parent = record.get("parent")
    if parent and Dependency(parent, PARENT_EDGE) not in dependencies:
        dependencies += (Dependency(_text(parent, "parent"), PARENT_EDGE),)
    return Task(
        id=task_id,
        title=_text(record.get("title", ""), "title"),
        status=_text(record.get("status", "open"), "status"),
        priority=_priority(record.get("priority", 2)),
        issue_type=_text(record.get("issue_type", "task"), "issue_type"),
        description=_text(record.get("description") or "", "description"),
        design=_text(record.get("design") or "", "design"),
        notes=_text(record.get("notes") or "", "notes"),
        acceptance_criteria=_text(record.get("acceptance_criteria") or "", "acceptance_criteria"),
        labels=tuple(_text(label, "labels") for label in _list(record.get("labels"), "labels")),
        dependencies=dependencies,
        files=_metadata_files(record.get("metadata")),
        created_at=_timestamp(record.get("created_at")),
        ephemeral=_flag(record.get("ephemeral", False), "ephemeral"),
    )


def _metadata_files(metadata: Any) -> tuple[str, ...] | None:
    if isinstance(metadata, str):  # some exports store metadata as a JSON string
        metadata = json.loads(metadata) if metadata.strip() else {}
    if not isinstance(metadata, dict) or metadata.get("files") is None:
        return None
    files = metadata["files"]
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise ValueError("metadata.files must be a list of strings")
    return tuple(files)


def _list(value: Any, name: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{name} must be a list, got {type(value).__name__}")
    return value


def _id(value: Any, name: str) -> str:
    """A task id: YAML reads `id: 12` as a number, which still names task "12"."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return _text(value, name)


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, got {describe(value)}")
    return value


def _flag(value: Any, name: str) -> bool:
    # null is what some exports write for "not set"
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {describe(value)}")
    return value


def _priority(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"priority must be an integer, got {describe(value)}")
    return value


def _timestamp(value: Any) -> datetime | None:
    """RFC 3339, with 0 to 9 fractional digits and `Z` or an offset."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"created_at must be an RFC 3339 timestamp, got {describe(value)}")
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"created_at {describe(value)} is not an RFC 3339 timestamp") from exc


# --- YAML -----------------------------------------------------------------------------------


def read_yaml_tasks(path: Path) -> TaskGraph:
    """`tasks: [{id, title, description, priority, status, depends_on: [ids], files: [...]}]`."""
    data = load_yaml(read_text_bounded(path, MAX_TASK_FILE_BYTES, "the task file"), path)
    entries = data.get("tasks") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise bad_input(f"{path}: expected a mapping with a `tasks` list")
    tasks: dict[str, Task] = {}
    for index, entry in enumerate(entries, start=1):
        try:
            if not isinstance(entry, dict):
                raise ValueError("each task must be a mapping")
            task = _yaml_task(entry)
        except (ValueError, KeyError) as exc:
            raise bad_input(f"{path}: task {index}: {_reason(exc)}") from exc
        if task.id in tasks:
            raise bad_input(f"{path}: task {index}: id {task.id!r} is given twice")
        tasks[task.id] = task
    return TaskGraph(str(path), tasks)


def _yaml_task(entry: dict[str, Any]) -> Task:
    depends_on = entry.get("depends_on") or []
    files = entry.get("files")
    if not isinstance(depends_on, list) or (files is not None and not isinstance(files, list)):
        raise ValueError("depends_on and files must be lists")
    return Task(
        id=_id(entry["id"], "id"),
        title=_text(entry.get("title", ""), "title"),
        status=_text(entry.get("status", "open"), "status"),
        priority=_priority(entry.get("priority", 2)),
        description=_text(entry.get("description") or "", "description"),
        dependencies=tuple(Dependency(_id(d, "depends_on"), "blocks") for d in depends_on),
        files=tuple(_text(f, "files") for f in files) if files is not None else None,
    )


# --- finding the graph ----------------------------------------------------------------------

BEADS_FILES = (".beads/issues.jsonl", ".beads/beads.jsonl")
YAML_FILE = "tasks.yaml"
BD_LIST = ("bd", "list", "--json", "--all", "-n", "0")


def load_task_graph(
    root: Path, settings: TaskSettings, *, lenient: bool = False, timeout: float = 300.0
) -> TaskGraph:
    """The task graph that `tasks.source` and `tasks.path` point at, for the repository at
    `root`."""
    if settings.source == "bd":
        return read_bd(root, lenient=lenient, timeout=timeout)
    if settings.source == "yaml":
        return read_yaml_tasks(task_file(root, settings))
    return read_beads(task_file(root, settings), lenient=lenient)


def configured_task_graph(
    root: Path, settings: TaskSettings, *, timeout: float = 300.0
) -> TaskGraph | None:
    """The task graph, read leniently; None when the repository has no task source: the
    default source (beads, with no tasks.path) and no export. A source that is configured but
    cannot be read is an error, not an absence."""
    default = settings.source == "beads" and settings.path is None
    if default and not any((root / name).is_file() for name in BEADS_FILES):
        return None
    return load_task_graph(root, settings, lenient=True, timeout=timeout)


ADHOC_HINT = "pass --adhoc for a task that is in no task source"


def check_task_id(
    repo: Repository, task: str, otherwise: str, graph: TaskGraph | None = None
) -> None:
    """Refuse a task id that the repository's task source (`graph`, when the caller has read
    it already) does not have, naming the nearest ids it does have; with no task source, any
    id goes. The one check of a task id that acquire, assign, merge and spawn share."""
    if graph is None:
        graph = configured_task_graph(
            repo.root, repo.config.tasks, timeout=repo.config.timeouts.git
        )
    if graph is None or task in graph.tasks:
        return
    nearest = difflib.get_close_matches(task, list(graph.tasks), n=3)
    if nearest:
        otherwise = f"did you mean {' or '.join(nearest)}? {otherwise[:1].upper()}{otherwise[1:]}"
    raise bad_input(f"no task {task!r} in {graph.source}", otherwise)


def task_file(root: Path, settings: TaskSettings) -> Path:
    """The task file of the `beads` or `yaml` source."""
    defaults = (YAML_FILE,) if settings.source == "yaml" else BEADS_FILES
    candidates = (settings.path,) if settings.path else defaults
    for candidate in candidates:
        if (root / candidate).is_file():
            return root / candidate
    raise bad_input(
        f"no task file: looked for {' and '.join(candidates)} in {root}",
        "export your Beads issues there, or point tasks.source and tasks.path in wtpool.yaml "
        "at your tasks (see config/tasks.example.yaml)",
    )


def relative_task_file(root: Path, settings: TaskSettings) -> str | None:
    """The task file's path inside the repository as git writes paths (`./tasks.yaml` is
    `tasks.yaml`); None for the bd source, or when there is no task file."""
    if settings.source == "bd":
        return None
    try:
        return task_file(root, settings).relative_to(root).as_posix()
    except (WtpoolError, ValueError):
        return None


def read_bd(root: Path, *, lenient: bool = False, timeout: float = 300.0) -> TaskGraph:
    """Every issue `bd list --json --all -n 0` prints, parsed like an export's lines."""
    if shutil.which("bd") is None:
        raise bad_input(
            "tasks.source is bd, but the bd command is not on PATH",
            "install Beads, or set tasks.source: beads to read the .beads/ export instead",
        )
    command = " ".join(BD_LIST)
    try:
        done = subprocess.run(
            BD_LIST, cwd=root, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise WtpoolError(f"`{command}` did not finish within {timeout:g} s") from exc
    except OSError as exc:
        raise WtpoolError(f"cannot run `{command}`: {exc}") from exc
    if done.returncode != 0:
        detail = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise WtpoolError(f"`{command}` failed with exit code {done.returncode}: {detail}")
    return parse_bd_list(done.stdout, f"`{command}`", lenient)


def parse_bd_list(text: str, source: str, lenient: bool) -> TaskGraph:
    try:
        records = json.loads(text) if text.strip() else []
    except ValueError as exc:
        raise WtpoolError(f"{source} printed something that is not JSON: {exc}") from exc
    if not isinstance(records, list):
        raise WtpoolError(f"{source} printed JSON that is not a list of issues")
    graph = parse_beads_records(
        enumerate(records, start=1),
        source,
        lenient,
    )
    # Some bd versions list only counts, not the edges; planning on such a graph would call
    # dependent tasks independent, so say so instead of silently trusting it.
    missing = [
        r.get("id")
        for r in records
        if isinstance(r, dict) and r.get("dependency_count") and not r.get("dependencies")
    ]
    if missing:
        graph.warnings.append(
            f"{source} gave dependency counts but not the dependencies of {len(missing)} "
            f"issue(s) (e.g. {missing[0]}); export to .beads/issues.jsonl and use "
            "tasks.source: beads for an exact graph"
        )
    return graph

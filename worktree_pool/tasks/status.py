"""Marking a task done once its branch has landed.

A YAML task file gets `status: closed` on that task, written into the text itself: loading and
dumping the YAML would throw away the user's comments, order and quoting. The edit is located
with the YAML parser's own positions, and accepted only if the file then reads exactly as
before apart from that one status (`closing_edit`). A task file the repository tracks gets the
edit in the landing commit itself (merge/closing.py), so the main worktree is not left with an
uncommitted change; an untracked one, or a tracked one the landing commit could not carry the
edit in, is edited in place. Beads is told with `bd close` when `bd` is installed; wtpool never
writes a Beads export, which belongs to bd.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml

from worktree_pool.errors import WtpoolError
from worktree_pool.git.objects import TrackedFile, read_blob, tracked_file
from worktree_pool.git.repo import Repository
from worktree_pool.tasks.sources import (
    MAX_TASK_FILE_BYTES,
    load_task_graph,
    relative_task_file,
    task_file,
)
from worktree_pool.util.inputs import read_text_bounded
from worktree_pool.util.yaml_input import compose_yaml, load_yaml

CLOSED = "closed"
BD_TIMEOUT = 60.0


def close_task(repo: Repository, task: str, commit: str) -> str | None:
    """Mark `task` done in its source, now that `commit` has landed it; returns what was done,
    in words, or None when the task is in no task source (a slot acquired by hand). It never
    raises: the work has landed, whatever happens here.

    A YAML task file that `commit` tracks was closed in the landing commit itself (see
    merge/closing.py): the main worktree is left alone unless that could not be done."""
    settings = repo.config.tasks
    try:
        if settings.source == "yaml":
            committed = _closed_in_commit(repo, task, commit)
            if committed is not None:
                return committed
            return _close_in_yaml(task_file(repo.root, settings), task)
        if settings.source == "beads" and task not in _beads_tasks(repo):
            return None
    except WtpoolError:
        return None
    return _close_in_beads(repo.root, task, commit)


def committed_task_file(repo: Repository, commit: str) -> tuple[str, TrackedFile] | None:
    """(path, entry) of the YAML task file as `commit` tracks it, if it does, as a file."""
    path = relative_task_file(repo.root, repo.config.tasks)
    if path is None or repo.config.tasks.source != "yaml":
        return None
    entry = tracked_file(repo.git, commit, path)
    return None if entry is None else (path, entry)


def _closed_in_commit(repo: Repository, task: str, commit: str) -> str | None:
    """What to say when the task file is tracked and `commit` has the task closed in it; None
    when the file is untracked, or the commit could not carry the edit (the caller edits the
    file in place, as for an untracked one)."""
    try:
        found = committed_task_file(repo, commit)
        if found is None:
            return None
        path, entry = found
        data = load_yaml(read_blob(repo.git, entry.oid, MAX_TASK_FILE_BYTES), Path(path))
    except WtpoolError:
        return None
    if _status_of(data, task) != CLOSED:
        return None
    return f"task {task} is closed in {path} in the landed commit {commit[:12]}"


def _status_of(data: Any, task: str) -> Any:
    entries = data.get("tasks") if isinstance(data, dict) else None
    for entry in entries if isinstance(entries, list) else ():
        if isinstance(entry, dict) and str(entry.get("id")) == task:
            return entry.get("status")
    return None


def _beads_tasks(repo: Repository) -> set[str]:
    return set(load_task_graph(repo.root, repo.config.tasks, lenient=True).tasks)


def _close_in_yaml(path: Path, task: str) -> str | None:
    try:
        text = read_text_bounded(path, MAX_TASK_FILE_BYTES, "the task file")
    except WtpoolError as exc:
        return f"task {task} was not marked done: {exc.message}"
    except OSError as exc:
        return f"task {task} was not marked done in {path}: {exc}"
    edited, why = closing_edit(text, task, path)
    if edited is None:
        return why
    try:
        _replace(path, edited)
    except OSError as exc:
        return f"task {task} was not marked done in {path}: {exc}"
    return f"marked task {task} closed in {path}"


def closing_edit(text: str, task: str, path: Path) -> tuple[str | None, str | None]:
    """A YAML task file's `text` with `task` closed, and nothing else changed: (the new text,
    None); or (None, why not) when the task is closed already or the file is laid out in a
    way wtpool won't edit; or (None, None) when the file has no such task."""
    try:
        before = load_yaml(text, path)
        edited = _with_status_closed(text, compose_yaml(text), task)
        if edited is None:
            return None, None
        if edited == text:
            return None, f"task {task} was already closed in {path}"
        # An edit that changes anything else, or breaks the file, is not made.
        if load_yaml(edited, path) != _closed_in(before, task):
            return None, (
                f"task {task} was not marked done: {path} is laid out in a way wtpool won't edit"
            )
    except WtpoolError as exc:
        return None, f"task {task} was not marked done: {exc.message}"
    except yaml.YAMLError as exc:
        return None, f"task {task} was not marked done in {path}: {exc}"
    return edited, None


def _with_status_closed(text: str, root: yaml.Node | None, task: str) -> str | None:
    """`text` with the task's status set to closed; None if the task is not found."""
    tasks = _value(root, "tasks")
    if not isinstance(tasks, yaml.SequenceNode):
        return None
    for item in tasks.value:
        id_node = _value(item, "id")
        if not isinstance(id_node, yaml.ScalarNode) or id_node.value != task:
            continue
        assert isinstance(item, yaml.MappingNode)  # _value found a key in it
        status = _value(item, "status")
        if isinstance(status, yaml.ScalarNode):
            if status.value == CLOSED:
                return text
            start, end = status.start_mark.index, status.end_mark.index
            value = CLOSED if start != end else f" {CLOSED}"  # `status:` with no value
            return text[:start] + value + text[end:]
        if item.flow_style:
            at = id_node.end_mark.index
            return text[:at] + f", status: {CLOSED}" + text[at:]
        newline = "\r\n" if "\r\n" in text else "\n"  # a file's line endings are its own
        line_end = text.find(newline, id_node.end_mark.index)
        at = len(text) if line_end == -1 else line_end
        id_key = next(k for k, v in item.value if v is id_node)
        indent = " " * id_key.start_mark.column
        return text[:at] + f"{newline}{indent}status: {CLOSED}" + text[at:]
    return None


def _value(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            return value_node
    return None


def _closed_in(data: Any, task: str) -> Any:
    for entry in data["tasks"]:
        if isinstance(entry, dict) and str(entry.get("id")) == task:
            entry["status"] = CLOSED
    return data


def _replace(path: Path, text: str) -> None:
    """Write beside the file, then rename over it: a crash leaves the old file or the new."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temporary, path.stat().st_mode & 0o7777)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _close_in_beads(root: Path, task: str, commit: str) -> str:
    if shutil.which("bd") is None:
        return f"task {task} landed; bd is not installed, so close it in Beads: bd close {task}"
    command = ["bd", "close", task, "--reason", f"merged as {commit[:12]} by wtpool"]
    try:
        result = subprocess.run(
            command,
            cwd=root,
            capture_output=True,
            text=True,
            timeout=BD_TIMEOUT,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"task {task} was not closed in Beads ({exc}); run: bd close {task}"
    if result.returncode != 0:
        why = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        return f"`bd close {task}` failed ({why[0]}); close it by hand"
    return f"closed task {task} in Beads (bd close)"

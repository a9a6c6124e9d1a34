"""What an agent finds when it gets a slot: `.env.worktree`, and the brief of its task.

`.env.worktree` sits at the slot's root with `WTPOOL_SLOT`, `WTPOOL_TASK`, `WTPOOL_TRACK`,
`WTPOOL_AGENT` and `WTPOOL_BRIEF` (later issues add `DATABASE_URL`). It is listed in the
repository's `info/exclude`, which every worktree shares, so it never shows as a change, is
never salvaged and cannot be committed by accident. Values are single-quoted, so the file is
safe to `source` from a shell as well as to read as a dotenv file.

The brief (title, description, acceptance criteria, the track's tasks in order) lives outside
the tracked tree, in `.agent-worktrees/.briefs/<task>.md`: it is wtpool's note to the agent, not
part of the project. Both go away when the slot is released.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from worktree_pool.guard import shell_quote
from worktree_pool.private import write_private
from worktree_pool.repo import Repository, exclude_from_git
from worktree_pool.slots import ClaimRequest

if TYPE_CHECKING:  # only spawn writes briefs; every claim imports this module
    from worktree_pool.tasks import TaskGraph
    from worktree_pool.tracks import Track

ENV_FILE = ".env.worktree"
BRIEF_DIR = ".briefs"


def brief_path(repo: Repository, task: str) -> Path:
    return repo.pool_dir / BRIEF_DIR / f"{task}.md"


def slot_environment(repo: Repository, slot: str, request: ClaimRequest) -> dict[str, str]:
    brief = brief_path(repo, request.task) if request.task else None
    return {
        "WTPOOL_SLOT": slot,
        "WTPOOL_TASK": request.task or "",
        "WTPOOL_TRACK": request.track or "",
        "WTPOOL_AGENT": request.agent,
        "WTPOOL_BRIEF": str(brief) if brief and brief.is_file() else "",
    }


def write_env_file(repo: Repository, slot: str, environment: dict[str, str]) -> None:
    exclude_from_git(repo, f"/{ENV_FILE}", "wtpool writes this file in each slot")
    lines = [f"{key}={shell_quote(value)}" for key, value in environment.items()]
    text = "# written by wtpool for this slot's agent; rewritten on every claim\n"
    # 0600: DATABASE_URL may carry a password.
    write_private(repo.slot_path(slot) / ENV_FILE, text + "\n".join(lines) + "\n")


def forget_handoff(repo: Repository, slot: str, task: str | None) -> None:
    """Remove what the slot's last claim left for its agent."""
    (repo.slot_path(slot) / ENV_FILE).unlink(missing_ok=True)
    if task:
        brief_path(repo, task).unlink(missing_ok=True)


def write_brief(repo: Repository, graph: TaskGraph, track: Track, task_id: str) -> str:
    """Write the task's brief where its agent finds it; return the text, for its mail."""
    text = _brief_text(graph, track, task_id)
    path = brief_path(repo, task_id)
    path.parent.mkdir(mode=0o700, exist_ok=True)
    write_private(path, text)
    return text


def _brief_text(graph: TaskGraph, track: Track, task_id: str) -> str:
    task = graph.tasks[task_id]
    lines = [f"# {task.id}: {task.title}", ""]
    lines += [f"Track {track.id}, priority {task.priority}. Source: {graph.source}.", ""]
    if task.description.strip():
        lines += ["## Description", "", task.description.strip(), ""]
    if task.acceptance_criteria.strip():
        lines += ["## Acceptance criteria", "", task.acceptance_criteria.strip(), ""]
    scope = track.scopes[task_id]
    lines += ["## Files", "", f"Scope of this task (from {scope.source}):", ""]
    lines += [f"- `{pattern}`" for pattern in scope.patterns]
    if track.scope != scope.patterns:
        lines += ["", "The slot shows the whole track's scope:", ""]
        lines += [f"- `{pattern}`" for pattern in track.scope]
    lines += ["", "## The track, in dependency order", ""]
    for member in track.tasks:
        other = graph.tasks[member]
        mark = "this task" if member == task_id else "ready" if member in track.ready else "waits"
        lines.append(f"1. {member} ({other.status}, {mark}): {other.title}")
    return "\n".join(lines) + "\n"

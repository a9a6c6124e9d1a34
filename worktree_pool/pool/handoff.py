"""What an agent finds when it gets a slot: the hand-off file, and the brief of its task.

The hand-off file, `agent.env_file` (`.env.worktree` by default) at the slot's root, holds
`WTPOOL_SLOT`, `WTPOOL_TASK`, `WTPOOL_TRACK`, `WTPOOL_AGENT`, `WTPOOL_BRIEF`, the slot's ports
(`WTPOOL_PORT`, `WTPOOL_PORTS`, see monitor/ports.py) and its database, when databases are on.
Values are single-quoted, so the file is safe to `source` from a shell as well as to read as a
dotenv file.

wtpool never writes a path the repository tracks: where the base or the slot's branch tracks
that path (or a file or link on the way to it), the file goes to `.wtpool/env` instead, and
`status`, `acquire` and the brief say so. The path used is listed, anchored, in the
repository's `info/exclude` (the one every worktree reads: git has no per-worktree exclude
file, and a per-worktree `core.excludesFile` would hide the user's own global one), and git
itself is asked, in the slot, whether it now ignores it: only then is the file written. So it
never shows as a change, is never salvaged and cannot be committed by `git add -A`. It is
written and removed without following links.

The brief (title, description, acceptance criteria, the track's tasks in order) lives outside
the tracked tree, in `.agent-worktrees/.briefs/<task>.md`: it is wtpool's note to the agent, not
part of the project. Both go away when the slot is released.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from worktree_pool.errors import WtpoolError
from worktree_pool.git.repo import Repository, exclude_from_git
from worktree_pool.git.run import branch_exists, tracks_path
from worktree_pool.monitor.ports import port_variables
from worktree_pool.store.slots import ClaimRequest
from worktree_pool.util.private import (
    replace_private,
    starts_with_inside,
    unlink_inside,
    write_private_inside,
)
from worktree_pool.util.shell import shell_quote

if TYPE_CHECKING:
    from worktree_pool.tasks.graph import TaskGraph
    from worktree_pool.tasks.tracks import Track

# Where the hand-off file goes when the repository tracks agent.env_file.
FALLBACK_ENV_FILE = ".wtpool/env"
# The first line of every hand-off file: how wtpool tells its own file from anyone else's.
ENV_FILE_HEADER = "# written by wtpool for this slot's agent; rewritten on every claim\n"
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
        **port_variables(repo.config.ports, slot),
    }


def idle_environment(repo: Repository, slot: str) -> dict[str, str]:
    """A slot's variables while no agent holds it: for the hooks of a slot being created."""
    return slot_environment(repo, slot, ClaimRequest(agent=""))


def env_file_path(repo: Repository, base: str, branch: str) -> str:
    """Where a slot on `branch`, started from `base`, gets its hand-off file, relative to the
    slot: `agent.env_file`, unless the base or the branch tracks it; then `.wtpool/env`."""
    commits = [f"refs/heads/{base}"]
    if branch_exists(repo.git, branch):  # a resumed branch is what the slot checks out
        commits.append(f"refs/heads/{branch}")
    candidates = _env_file_candidates(repo)
    for candidate in candidates:
        if not any(tracks_path(repo.git, commit, candidate) for commit in commits):
            return candidate
    raise WtpoolError(
        f"the repository tracks {' and '.join(candidates)}, where wtpool would write the "
        "slot's hand-off file",
        "set agent.env_file in wtpool.yaml to a path the repository does not track",
    )


def moved_env_file_note(repo: Repository, relative: str) -> str | None:
    """What to tell the agent when its hand-off file is not where the configuration says."""
    configured = repo.config.agent.env_file
    if relative == configured:
        return None
    return f"the repository tracks {configured}: this slot's variables are in {relative}"


def write_env_file(repo: Repository, slot: str, relative: str, environment: dict[str, str]) -> None:
    """Write the hand-off file at `relative` (from env_file_path) in the slot, once git is
    known to ignore that path there."""
    exclude_from_git(repo, f"/{relative}", "wtpool writes this file in each slot")
    path = repo.slot_path(slot)
    git = repo.git.at(path)
    # The index is left out of check-ignore: a sparse index would be expanded to every tracked
    # file first (70 ms at 50,000 files); what it would say of a tracked path, the commit says.
    if tracks_path(git, "HEAD", relative) or not git.ok(
        "check-ignore", "--no-index", "--quiet", "--", relative
    ):
        # A tracked path, or one the repository's .gitignore takes back with `!`.
        raise WtpoolError(
            f"git does not ignore {relative} in {slot}, so wtpool will not write its "
            "hand-off file there",
            "set agent.env_file in wtpool.yaml to a path the repository neither tracks nor "
            "un-ignores",
        )
    lines = [f"{key}={shell_quote(value)}" for key, value in environment.items()]
    try:
        # 0600: DATABASE_URL may carry a password.
        write_private_inside(path, relative, ENV_FILE_HEADER + "\n".join(lines) + "\n")
    except OSError as exc:
        raise WtpoolError(
            f"cannot write {slot}'s hand-off file {relative}: {exc.strerror}",
            "a link or a file is in the way; remove it from the slot",
        ) from exc


def env_file_in(repo: Repository, slot: str) -> str | None:
    """The hand-off file wtpool wrote in the slot, relative to it; None if there is none."""
    path = repo.slot_path(slot)
    return next(
        (c for c in _env_file_candidates(repo) if starts_with_inside(path, c, ENV_FILE_HEADER)),
        None,
    )


def forget_handoff(repo: Repository, slot: str, task: str | None) -> None:
    """Remove what the slot's last claim left for its agent: its hand-off file wherever it is,
    but never a file the slot's checkout tracks."""
    path = repo.slot_path(slot)
    candidates = _env_file_candidates(repo)
    tracked = set(repo.git.at(path).out("ls-files", "-z", "--", *candidates).split("\0"))
    for candidate in candidates:
        if candidate not in tracked and starts_with_inside(path, candidate, ENV_FILE_HEADER):
            unlink_inside(path, candidate)
    if task:
        brief_path(repo, task).unlink(missing_ok=True)


def _env_file_candidates(repo: Repository) -> tuple[str, ...]:
    return tuple(dict.fromkeys((repo.config.agent.env_file, FALLBACK_ENV_FILE)))


def brief_text(
    repo: Repository, graph: TaskGraph, track: Track, task_id: str, env_file: str
) -> str:
    """The task's brief, for its file and its mail. `env_file` is where its slot's hand-off
    file will be (env_file_path)."""
    return _brief_text(graph, track, task_id) + _env_file_section(repo, env_file)


def write_brief(repo: Repository, task_id: str, text: str) -> None:
    """Put the brief where the task's agent finds it: by the claim that won the task only,
    since two claims racing for one task both prepare one (see claims.acquire)."""
    replace_private(brief_path(repo, task_id), text)


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


def _env_file_section(repo: Repository, env_file: str) -> str:
    lines = ["", "## The slot's variables", ""]
    lines.append(
        f"`{env_file}` at the slot's root holds WTPOOL_SLOT, WTPOOL_TASK, WTPOOL_BRIEF and the "
        "slot's other variables (its database, if it has one); `source` it from a shell."
    )
    configured = repo.config.agent.env_file
    if env_file != configured:
        lines += [
            "",
            f"Not `{configured}`: the repository tracks that file, and wtpool never "
            "writes a file the repository tracks.",
        ]
    return "\n".join(lines) + "\n"

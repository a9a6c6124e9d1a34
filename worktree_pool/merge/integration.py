"""Landing a commit on the base branch without checking the base out.

    git merge-tree --write-tree BASE TIP     the merged tree, or the conflicted paths
    git commit-tree TREE -p BASE [-p TIP]    the commit that lands it
    git update-ref refs/heads/BASE NEW OLD   compare-and-swap: fails if the base moved

The swap is what makes concurrent landings safe: a writer that read an old base fails instead
of overwriting the commit that moved it (the original design's workers checked out the same tree
and raced, losing commits). The caller recomputes and tries again.

`update-ref` moves a branch even where it is checked out, which would leave that worktree
looking as if every landed change had been undone. So a worktree that has the base out is
brought along with `git read-tree -m -u OLD NEW`, the two-tree merge `git checkout` itself does:
it keeps the user's uncommitted changes, and refuses, changing nothing, when one of them is in a
path the landing changes. That refusal is checked before the swap (`-n`), so the queue refuses
to land rather than leave a worktree stale.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from worktree_pool.errors import WtpoolError
from worktree_pool.git.repo import Repository
from worktree_pool.git.run import WTPOOL_COMMITTER, WTPOOL_IDENTITY, Git, resolve, worktree_records
from worktree_pool.merge.scratch import scratch_worktree

# wtpool makes the commits that land work, so it is their committer; the work stays the
# agents' (a squash keeps the branch tip's author, a rebase each commit's).


@dataclass(frozen=True)
class Built:
    """A commit ready to land, or the paths that conflict."""

    commit: str | None
    conflicts: tuple[str, ...] = ()


def merged_tree(git: Git, base: str, tip: str) -> tuple[str, tuple[str, ...]]:
    """(tree, conflicted paths) of merging `tip` into `base`; the tree is git's conflicted
    one when there are conflicts."""
    result = git.run("merge-tree", "--write-tree", "--name-only", "-z", base, tip, check=False)
    if result.returncode not in (0, 1):
        raise git.failure(("merge-tree", "--write-tree"), result)
    tree, *paths = result.stdout.split("\0\0")[0].split("\0")
    conflicts = tuple(dict.fromkeys(path for path in paths if path))
    return tree, conflicts if result.returncode == 1 else ()


def build(
    repo: Repository,
    base: str,
    tip: str,
    message: str,
    scope: tuple[str, ...] | None,
) -> Built:
    git = repo.git
    tree, conflicts = merged_tree(git, base, tip)
    if conflicts:
        return Built(None, conflicts)
    strategy = repo.config.merge.strategy
    if strategy == "rebase":
        return _replay(repo, base, tip, scope)
    if strategy == "squash":
        author = git.out("log", "-1", "--format=%an%x00%ae%x00%aI", tip).split("\0")
        env = WTPOOL_COMMITTER | dict(
            zip(("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_AUTHOR_DATE"), author, strict=True)
        )
        parents = ["-p", base]
    else:
        env, parents = WTPOOL_IDENTITY, ["-p", base, "-p", tip]
    commit = git.out("commit-tree", tree, *parents, "-F", "-", env=env, input=message)
    return Built(commit)


def _replay(repo: Repository, base: str, tip: str, scope: tuple[str, ...] | None) -> Built:
    """The branch's own commits, replayed on the base in a scratch worktree (git 2.39 has no
    `git replay`); the slot's worktree belongs to the agent, who may still be in it."""
    fork = repo.git.out("merge-base", base, tip)
    with scratch_worktree(repo, tip, scope) as git:
        result = git.run(
            "rebase", "--quiet", "--onto", base, fork, env=WTPOOL_COMMITTER, check=False
        )
        if result.returncode != 0:
            conflicts = git.out("diff", "--name-only", "--diff-filter=U", "-z").split("\0")
            git.run("rebase", "--abort", check=False)
            if not any(conflicts):
                raise git.failure(("rebase", "--onto"), result)
            return Built(None, tuple(path for path in conflicts if path))
        return Built(git.out("rev-parse", "HEAD"))


def changed_paths(git: Git, base: str, tip: str) -> set[str]:
    """Every path the branch changes since it left the base; a rename counts as both sides."""
    output = git.out("diff", "--name-only", "--no-renames", "-z", f"{base}...{tip}")
    return {path for path in output.split("\0") if path}


def swap(git: Git, base: str, new: str, old: str, reason: str) -> bool:
    """Move the base from `old` to `new`; False, changing nothing, if it is no longer at `old`."""
    result = git.run("update-ref", "-m", reason, f"refs/heads/{base}", new, old, check=False)
    return result.returncode == 0


def base_checkouts(repo: Repository, base: str) -> list[Path]:
    """The worktrees (the main one, usually) that have the base checked out."""
    return [record.path for record in worktree_records(repo.git) if record.branch == base]


def why_cannot_follow(git: Git, old: str, new: str) -> str | None:
    """Why the worktree `git` runs in could not be brought from `old` to `new` without losing
    an uncommitted change; None when it can."""
    result = git.run("read-tree", "-m", "-u", "-n", old, new, check=False)
    if result.returncode != 0:  # perhaps only stat information is stale: refresh, ask again
        git.run("update-index", "-q", "--refresh", check=False)
        result = git.run("read-tree", "-m", "-u", "-n", old, new, check=False)
    return None if result.returncode == 0 else _reason(result.stderr or result.stdout)


def follow(git: Git, old: str, new: str) -> str | None:
    """Bring a worktree that has the base out from `old` to `new`: None when done, else git's
    reason (a change made since the check), and the worktree is as it was."""
    result = git.run("read-tree", "-m", "-u", old, new, check=False)
    return None if result.returncode == 0 else _reason(result.stderr or result.stdout)


def _reason(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return "; ".join(lines[:5]) or "git read-tree failed"


def fetch_base(git: Git, remote: str, base: str) -> str:
    """The remote's base after fetching it into refs/remotes/<remote>/<base>."""
    tracking = f"refs/remotes/{remote}/{base}"
    git.run("fetch", "--quiet", "--no-tags", remote, f"+refs/heads/{base}:{tracking}")
    oid = resolve(git, tracking)
    if oid is None:
        raise WtpoolError(f"remote {remote} has no branch {base} to land on")
    return oid


def push(git: Git, remote: str, base: str, new: str, expected: str) -> bool:
    """Push `new` as the remote's base only if the remote still has `expected` there
    (--force-with-lease); False when it has moved, that is, when someone else landed first."""
    result = git.run(
        "push",
        "--porcelain",
        f"--force-with-lease=refs/heads/{base}:{expected}",
        remote,
        f"{new}:refs/heads/{base}",
        check=False,
        hooks=True,  # a push is the user's, made for them: their pre-push hook has its say
    )
    if result.returncode == 0:
        return True
    # `!<tab>ref<tab>[rejected] (stale info | fetch first | non-fast-forward)`: the remote's base
    # moved. `[remote rejected]` (a hook, a protected branch) would refuse a retry just the same.
    refused = [line for line in result.stdout.splitlines() if line.startswith("!")]
    if any("\t[rejected]" in line for line in refused):
        return False
    if not refused:
        raise git.failure(("push", remote), result)
    raise WtpoolError(f"{remote} refused the push of {base}: {_refusal(refused, result.stderr)}")


def push_branch(git: Git, remote: str, branch: str, tip: str, replaces: str | None) -> None:
    """Push `tip` as the remote's `branch`: over `replaces` (what wtpool pushed there before,
    a rewritten branch's old commits included) with a lease on it, else only forward. Any
    other commit there is someone's work, and refuses the push."""
    lease = [f"--force-with-lease=refs/heads/{branch}:{replaces}"] if replaces else []
    result = git.run(
        "push", "--porcelain", *lease, remote, f"{tip}:refs/heads/{branch}", check=False, hooks=True
    )
    if result.returncode == 0:
        return
    refused = [line for line in result.stdout.splitlines() if line.startswith("!")]
    if not refused:
        raise git.failure(("push", remote), result)
    moved = any("\t[rejected]" in line for line in refused)
    raise WtpoolError(
        f"cannot push {branch} to {remote}: {_refusal(refused, result.stderr)}",
        f"{remote}'s {branch} has commits wtpool did not push there: look at them "
        f"(git fetch {remote} {branch}) before queueing again"
        if moved
        else f"{remote} must accept wtpool/* branches for a shared queue, or turn merge.push off",
    )


def delete_landed_branches(git: Git, remote: str, tips: dict[str, str]) -> None:
    """Delete each branch on the remote that still points at its landed tip (a lease each:
    one that moved since keeps what was pushed to it). Whatever fails stays there, harmless:
    nothing is lost by a copy kept."""
    leases = [f"--force-with-lease=refs/heads/{branch}:{tip}" for branch, tip in tips.items()]
    deletions = [f":refs/heads/{branch}" for branch in tips]
    git.run("push", "--porcelain", *leases, remote, *deletions, check=False)


def _refusal(refused: list[str], stderr: str) -> str:
    """`!<tab>ref<tab>[remote rejected] (why)` lines, with what the remote's hook said."""
    said = [line.strip() for line in stderr.splitlines() if line.startswith("remote:")]
    return "; ".join([line.split("\t")[-1] for line in refused] + said[:3])

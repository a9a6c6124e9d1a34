"""Opening a pool: the checks every command makes before it touches the pool directory, and
the state store they then open.

Every command that reads or changes the pool goes through here first, so a pool directory
wtpool must not use is refused before anything changes.
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from worktree_pool.errors import WtpoolError
from worktree_pool.git.repo import POOL_DIR_NAME, Repository
from worktree_pool.store.pool import no_pool_error, read_pool
from worktree_pool.store.protocol import Store
from worktree_pool.store.sqlite import POOL_DIR_MODE, StateStore

if TYPE_CHECKING:
    from worktree_pool.store.hosts import HostIdentity
    from worktree_pool.store.postgres import ControlPlane
    from worktree_pool.store.split import SplitStore


def check_pool_dir(repo: Repository, *, reading: bool = False) -> None:
    """Refuse a pool directory that wtpool must not use; every command that opens the pool
    calls this before anything else, so a refusal changes nothing. A command that only reads
    (`status`) skips the one costly check, whether the repository tracks the pool directory:
    it reads the main worktree's whole index, and what it guards against is writing.

    The pool is a real directory directly inside the repository, or not there yet: never a
    link (init would chmod its target and build the pool outside the repository, and cleanup
    would not find the slots there), never a file, and never a path the repository tracks (a
    checkout would write into the pool, and wtpool into the repository's files). The state
    store inside it is a regular file, not a link.
    """
    kind = file_kind(repo.pool_dir)
    if kind == "link":
        raise WtpoolError(
            f"{repo.pool_dir} is a symbolic link (to {os.readlink(repo.pool_dir)}), not a "
            "directory",
            "wtpool keeps its pool in a real directory inside the repository; remove the link "
            "(`git worktree list` shows any worktrees made through it)",
        )
    if kind not in (None, "directory"):
        raise WtpoolError(
            f"{repo.pool_dir} exists but is not a directory",
            "wtpool keeps its pool there; move that file aside",
        )
    listed = "" if reading else repo.git.out("ls-files", "-z", "--", f":(literal){POOL_DIR_NAME}")
    if listed:
        tracked = listed.split("\0")[0]
        raise WtpoolError(
            f"the repository tracks {POOL_DIR_NAME}/ ({tracked}), where wtpool keeps its pool",
            f"remove it from the repository (`git rm -r --cached {POOL_DIR_NAME}`) and commit",
        )
    if file_kind(repo.state_path) not in (None, "file"):
        raise WtpoolError(
            f"{repo.state_path} exists but is not a file",
            "wtpool keeps its state store there; move it aside",
        )


def file_kind(path: Path) -> str | None:
    """What is at `path` itself, links not followed: None when nothing is."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(mode):
        return "link"
    if stat.S_ISDIR(mode):
        return "directory"
    return "file" if stat.S_ISREG(mode) else "other"


def open_store(repo: Repository, *, reading: bool = False) -> Store:
    """Open an existing pool's store; never creates anything. `reading`: see check_pool_dir."""
    store = open_store_if_any(repo, reading=reading)
    if store is None:
        raise no_pool_error(repo)
    return store


def open_store_if_any(repo: Repository, *, reading: bool = False) -> Store | None:
    """The pool's store, or None when the repository has no pool (yet, or any more)."""
    check_pool_dir(repo, reading=reading)
    if not repo.state_path.is_file():
        return None
    local = StateStore(repo.state_path, repo.config.timeouts.state_lock)
    url = repo.config.state.url
    return local if url is None else with_control_plane(repo, local, url)


def with_control_plane(repo: Repository, local: StateStore, url: str) -> SplitStore:
    """The pool's store when `state.url` names a shared control plane: nothing connects
    until a statement needs a shared table. Imported here: a local pool's commands (`status`
    above all) never load the control plane's modules."""
    from worktree_pool.store.hosts import HostIdentity
    from worktree_pool.store.split import SplitStore

    try:
        with local.snapshot() as conn:
            pool = read_pool(conn)
    except BaseException:
        local.close()
        raise
    host = None
    if pool is not None:
        host = HostIdentity(
            id=host_id(repo, pool.pool_id),
            pool_id=pool.pool_id,
            hostname=socket.gethostname(),
            repository=str(repo.root),
        )
    return SplitStore(local, _control_plane(repo, url, host))


def check_control_plane(repo: Repository) -> None:
    """With `state.url`, reach the control plane, creating or migrating its schema, so that
    `init` says at once what is wrong with the URL, before it changes anything."""
    url = repo.config.state.url
    if url is None:
        return
    plane = _control_plane(repo, url, None)
    with plane, plane.snapshot():
        pass


def _control_plane(repo: Repository, url: str, host: HostIdentity | None) -> ControlPlane:
    from worktree_pool.store.postgres import ControlPlane  # see with_control_plane

    settings = repo.config.state
    lock = repo.config.timeouts.state_lock
    return ControlPlane(url, settings.schema, lock, host, settings.host_ttl)


def host_id(repo: Repository, pool_id: str) -> str:
    """This pool's id among the hosts of a shared control plane (hosts.py)."""
    from worktree_pool.store.hosts import default_host_id  # see with_control_plane

    return repo.config.state.host or default_host_id(socket.gethostname(), pool_id)


def create_store(repo: Repository) -> StateStore:
    """The pool's store, created with the pool directory if need be: by `init`, and by
    `wtpool trust`, which may come first. The caller has checked the pool directory."""
    created = not repo.pool_dir.exists()
    repo.pool_dir.mkdir(mode=POOL_DIR_MODE, exist_ok=True)
    _make_private(repo)
    try:
        return StateStore.create(repo.state_path, repo.config.timeouts.state_lock)
    except (OSError, WtpoolError) as exc:
        if created:
            shutil.rmtree(repo.pool_dir, ignore_errors=True)
        if isinstance(exc, WtpoolError):
            raise
        raise WtpoolError(f"cannot create the state store {repo.state_path}: {exc}") from exc


def _make_private(repo: Repository) -> None:
    """Take read and write from everyone but the owner; keep search (x) permission, which the
    embedded server's user, run as root, needs to reach its data below (pgserver gives it):
    taking it would leave a running server unreachable, so that the next command would try
    to start a second one over its postmaster.pid."""
    mode = stat.S_IMODE(repo.pool_dir.stat().st_mode)
    wanted = POOL_DIR_MODE | (mode & 0o011)
    if mode != wanted:
        repo.pool_dir.chmod(wanted)

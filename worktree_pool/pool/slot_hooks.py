"""The hooks a slot runs as it is created, claimed, released and removed, and whether they may.

Hooks come from two files. The user's own (`~/.config/wtpool/config.yaml`) are run as they are:
the user wrote them. The repository's (`wtpool.yaml`) are code that anyone who can push to the
repository wrote, so they run only once the user has looked at them and run `wtpool trust`,
which records their digest in the state; any change to them gives another digest, and they do
not run again until trusted again. A command that would run untrusted hooks refuses before it
changes anything, and says how to trust them; a release or removal never refuses (saving the
slot's work comes first), it reports the hooks it did not run.

Each command runs in the slot, with the slot's environment, in a session of its own (so that a
command that runs past `hooks.timeout` is stopped with everything it started), its output
appended to `.agent-worktrees/logs/<slot>.hooks.log`. The commands of a hook run in order, the
user's first; the first that fails ends the hook.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from worktree_pool.agents.logs import LOG_DIR
from worktree_pool.agents.process import program_path, require_program
from worktree_pool.config.loader import load_user_config
from worktree_pool.config.settings import HOOK_NAMES, HookSettings
from worktree_pool.errors import WtpoolError
from worktree_pool.git.repo import Repository
from worktree_pool.git.run import environment_without_locations
from worktree_pool.pool.environment import slot_variables
from worktree_pool.pool.opening import check_pool_dir, create_store
from worktree_pool.store.protocol import Store
from worktree_pool.store.slots import Slot
from worktree_pool.store.trust import is_trusted, record_trust
from worktree_pool.store.values import utc_now
from worktree_pool.util.private import open_private

# The hooks that make a slot ready: one that fails takes the slot out of service.
SETUP_HOOKS = ("post_create", "post_acquire")
# Seconds a timed-out hook's process group gets between SIGTERM and SIGKILL.
_KILL_GRACE = 2.0


@dataclass(frozen=True)
class HookCommand:
    key: str  # where it is configured, e.g. hooks.post_create[1], for messages
    argv: tuple[str, ...]


@dataclass(frozen=True)
class Hooks:
    """The hook commands that may run, each hook's in order; `untrusted`: why the
    repository's own were left out (None when there are none or they are trusted)."""

    commands: Mapping[str, tuple[HookCommand, ...]]
    untrusted: str | None = None
    on_state_change: tuple[str, ...] = ()

    def of(self, hook: str) -> tuple[HookCommand, ...]:
        return self.commands.get(hook, ())


@dataclass(frozen=True)
class HookRun:
    hook: str
    ok: bool
    log: str
    failure: str | None = None  # which command failed and how


def hooks_digest(hooks: HookSettings) -> str:
    """What `wtpool trust` records: every command of the repository's hooks (not the timeout,
    which runs nothing)."""
    return hashlib.sha256(hooks_json(hooks).encode()).hexdigest()


def hooks_json(hooks: HookSettings) -> str:
    commands = {name: [list(c) for c in getattr(hooks, name)] for name in HOOK_NAMES}
    commands["on_state_change"] = [list(hooks.on_state_change)]
    return json.dumps(commands, sort_keys=True)


def has_commands(hooks: HookSettings) -> bool:
    return bool(hooks.on_state_change) or any(getattr(hooks, name) for name in HOOK_NAMES)


def untrusted_hint(repo: Repository) -> str:
    source = repo.config_path or "wtpool.yaml"
    return f"read the hooks in {source}, then run `wtpool trust` to let them run"


def hooks_in_effect(repo: Repository, store: Store) -> Hooks:
    """The hooks that may run in this repository now (see the module's docstring)."""
    user_path, user = load_user_config(os.environ)
    own = repo.config.hooks
    untrusted = None
    trusted_own = has_commands(own)
    if trusted_own:
        with store.snapshot() as conn:
            trusted_own = is_trusted(conn, hooks_digest(own))
        if not trusted_own:
            untrusted = f"the hooks in {repo.config_path} are not trusted"
    commands: dict[str, tuple[HookCommand, ...]] = {}
    for name in HOOK_NAMES:
        listed = [
            HookCommand(f"{user_path}: hooks.{name}[{i}]", tuple(c))
            for i, c in enumerate(getattr(user.hooks, name))
        ]
        if trusted_own:
            listed += [
                HookCommand(f"hooks.{name}[{i}]", tuple(c))
                for i, c in enumerate(getattr(own, name))
            ]
        commands[name] = tuple(listed)
    on_change = user.hooks.on_state_change or (own.on_state_change if trusted_own else ())
    return Hooks(commands, untrusted, on_change)


def require_runnable(repo: Repository, hooks: Hooks, names: tuple[str, ...]) -> None:
    """Refuse, before anything changes, hooks that would be skipped (untrusted) or could not
    start (a program that is not there): a slot set up without them is not what the user
    configured."""
    if hooks.untrusted is not None:
        raise WtpoolError(f"{hooks.untrusted}, so they will not run", untrusted_hint(repo))
    for name in names:
        for command in hooks.of(name):
            require_program(repo, command.argv[0], command.key)


def hook_log_path(repo: Repository, slot: str) -> Path:
    return repo.pool_dir / LOG_DIR / f"{slot}.hooks.log"


def run_hook(
    repo: Repository, hooks: Hooks, slot: str, hook: str, environment: Mapping[str, str]
) -> HookRun | None:
    """Run the hook's commands in the slot, in order, until one fails; None when it has none."""
    commands = hooks.of(hook)
    if not commands:
        return None
    log = hook_log_path(repo, slot)
    log.parent.mkdir(mode=0o700, exist_ok=True)
    # Not the caller's git location variables: a hook run from a commit hook would aim its git
    # at another worktree.
    inherited = environment_without_locations()
    env = {**inherited, **environment, "WTPOOL_HOOK": hook}
    cwd = repo.slot_path(slot)
    for command in commands:
        failure = _run_logged(repo, command, cwd, env, log)
        if failure is not None:
            return HookRun(hook, False, str(log), f"{command.key} {failure}")
    return HookRun(hook, True, str(log))


def _run_logged(
    repo: Repository, command: HookCommand, cwd: Path, env: dict[str, str], log: Path
) -> str | None:
    """Run one command; None when it succeeded, else how it failed."""
    argv = [program_path(repo, command.argv[0]), *command.argv[1:]]
    timeout = repo.config.hooks.timeout
    start = time.monotonic()
    with open_private(log, "ab") as out:
        out.write(f"--- wtpool: {utc_now()} {command.key}: {list(command.argv)}\n".encode())
        out.flush()
        try:
            process = subprocess.Popen(
                argv,
                cwd=cwd,
                env={**env, "PWD": str(cwd)},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            out.write(f"--- wtpool: cannot start: {exc}\n".encode())
            return f"could not start: {exc.strerror or exc}"
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _stop_group(process)
            out.write(f"--- wtpool: stopped after hooks.timeout ({timeout:g} s)\n".encode())
            return f"ran longer than hooks.timeout ({timeout:g} s)"
        except BaseException:  # an interrupt: nothing the hook started outlives wtpool
            _stop_group(process)
            raise
        out.write(f"--- wtpool: exit {code} ({time.monotonic() - start:.1f} s)\n".encode())
    return None if code == 0 else f"exited {code}"


def _stop_group(process: subprocess.Popen) -> None:
    """SIGTERM the command's whole group, then SIGKILL whatever of it is left."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=_KILL_GRACE)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@dataclass(frozen=True)
class TrustResult:
    source: str | None  # the repository's config file
    digest: str | None  # None: it has no hooks, nothing to trust
    hooks: dict[str, list[list[str]]]  # what was trusted
    already: bool  # these very hooks were trusted before


def trust_hooks(repo: Repository) -> TrustResult:
    """Record the repository's hooks, as they are now, as trusted (`wtpool trust`)."""
    own = repo.config.hooks
    shown = json.loads(hooks_json(own))
    if not has_commands(own):
        return TrustResult(str(repo.config_path) if repo.config_path else None, None, {}, False)
    check_pool_dir(repo)
    digest = hooks_digest(own)
    with create_store(repo) as store, store.transaction() as conn:
        already = is_trusted(conn, digest)
        record_trust(conn, digest, hooks_json(own))
    return TrustResult(str(repo.config_path), digest, shown, already)


def run_reported(repo: Repository, store: Store, hooks: Hooks, slot: Slot, hook: str) -> list[str]:
    """Run a hook that must not stop what comes after it (pre_release, pre_remove); return
    what went wrong, in words. The slot's work is saved after it, whatever it does. `hooks`:
    hooks_in_effect, read once by a caller that goes through many slots."""
    notes = []
    if hooks.untrusted and getattr(repo.config.hooks, hook):
        notes.append(f"{hooks.untrusted}: their {hook} commands did not run")
    if hooks.of(hook):
        variables = slot_variables(repo, store, slot, best_effort=True)
        run = run_hook(repo, hooks, slot.name, hook, variables)
        if run is not None and not run.ok:
            notes.append(f"{run.failure} in {slot.name} (see {run.log})")
    return notes

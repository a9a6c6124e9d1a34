"""Checks of a configuration's values, once its keys and types are known to be right.

Every error names the file and the key, so a mistake in wtpool.yaml is found without guessing.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

from worktree_pool.config.settings import (
    AGENT_PLACEHOLDERS,
    AGENT_TERMINALS,
    CLONE_STRATEGIES,
    COPY_MODES,
    DATABASE_MODES,
    HOOK_NAMES,
    MAX_POOL_SIZE,
    MERGE_STRATEGIES,
    RESERVATION_MODES,
    RESERVED_SCHEMAS,
    STATE_SCHEMA_PATTERN,
    TASK_SOURCES,
    AgentSettings,
    Config,
    CopyRule,
    DatabaseSettings,
    HookSettings,
    LimitSettings,
    MergeSettings,
    PortSettings,
    StateSettings,
    TaskSettings,
)
from worktree_pool.config.sizes import parse_size
from worktree_pool.errors import WtpoolError, bad_input
from worktree_pool.util.names import NAME_PATTERN
from worktree_pool.util.pattern_syntax import validate_patterns

# A hand-off file's path: plain names only, so that it is its own gitignore pattern.
_ENV_FILE = re.compile(r"[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*")


def validate(config: Config, path: Path) -> None:
    """Refuse values that have the right type but make no sense, naming `path` and the key."""
    try:
        check_pool_bounds(config.pool.min, config.pool.max)
    except WtpoolError as exc:
        raise bad_input(f"{path}: {exc.message}") from exc
    validate_patterns(config.scope.always_include, f"{path}: scope.always_include")
    validate_patterns(config.scope.context, f"{path}: scope.context")
    if config.scope.build_command and not config.scope.build_command[0].strip():
        raise bad_input(f"{path}: scope.build_command must start with the program to run")
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
    validate_hooks(config.hooks, path)
    _check_copy(config.copy_rules(), path)
    validate_ports(config.ports, config.pool.max, path)
    _check_state(config.state, path)
    for section in ("timeouts", "monitor", "reservations", "merge", "state"):
        for item in dataclasses.fields(getattr(config, section)):
            seconds = getattr(getattr(config, section), item.name)
            if not isinstance(seconds, float):  # every float in these sections is seconds
                continue
            if not 0 < seconds < 1e9:  # also refuses .nan and .inf, which YAML allows
                raise bad_input(
                    f"{path}: {section}.{item.name} must be a positive number of seconds, "
                    f"got {seconds}"
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
    _check_regex(tasks.history_ids, f"{path}: tasks.history_ids")
    if not 0 <= tasks.history_limit <= 1_000_000:
        raise bad_input(f"{path}: tasks.history_limit must be between 0 and 1,000,000")
    for name in ("infer_max_share", "infer_min_confidence"):
        if not 0 <= getattr(tasks, name) <= 1:
            raise bad_input(f"{path}: tasks.{name} must be between 0 and 1")
    for index, rule in enumerate(tasks.scope_rules):
        _check_regex(rule.match, f"{path}: tasks.scope_rules[{index}].match")
        validate_patterns(rule.files, f"{path}: tasks.scope_rules[{index}].files")


def _check_regex(pattern: str, where: str) -> None:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise bad_input(f"{where} is not a valid regular expression: {exc}") from exc


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
    if agent.terminal not in AGENT_TERMINALS:
        raise bad_input(
            f"{path}: agent.terminal must be one of {', '.join(AGENT_TERMINALS)}, "
            f"got {agent.terminal!r}"
        )
    if not 0 < agent.idle_after < 1e6:
        raise bad_input(f"{path}: agent.idle_after must be a positive number of seconds")
    _check_regex(agent.waiting_pattern, f"{path}: agent.waiting_pattern")


def _check_command(command: tuple[str, ...], key: str, path: Path) -> None:
    if not command or not command[0].strip():
        raise bad_input(
            f"{path}: {key} must be an argument list that starts with the program to run",
            "e.g. [npm, ci]: a list of strings, never a shell string",
        )


def validate_hooks(hooks: HookSettings, path: Path) -> None:
    """Shared with the user's own config file, which holds hooks only."""
    for name in HOOK_NAMES:
        for index, command in enumerate(getattr(hooks, name)):
            _check_command(command, f"hooks.{name}[{index}]", path)
    if hooks.on_state_change:
        _check_command(hooks.on_state_change, "hooks.on_state_change", path)
    if not 0 < hooks.timeout < 1e9:
        raise bad_input(
            f"{path}: hooks.timeout must be a positive number of seconds, got {hooks.timeout}"
        )


def _check_copy(rules: tuple[CopyRule, ...], path: Path) -> None:
    for index, rule in enumerate(rules):
        validate_patterns([rule.pattern], f"{path}: copy[{index}]", noun="copy pattern")
        if rule.mode not in COPY_MODES:
            raise bad_input(
                f"{path}: copy[{index}].mode must be one of {', '.join(COPY_MODES)}, "
                f"got {rule.mode!r}"
            )


def validate_ports(ports: PortSettings, pool_max: int, path: Path, euid: int | None = None) -> None:
    """`euid`: whose ports these are, the current user's by default."""
    try:
        first, last = ports.bounds()
    except ValueError as exc:
        raise bad_input(f"{path}: ports.range {exc}") from exc
    if not 0 <= ports.per_slot <= 1000:
        raise bad_input(f"{path}: ports.per_slot must be between 0 and 1000, got {ports.per_slot}")
    if first > last:
        raise bad_input(
            f"{path}: ports.range {ports.range} is inverted: its first port is above its last"
        )
    if not 1 <= first <= last <= 65535:
        raise bad_input(
            f"{path}: ports.range {ports.range} must be FIRST-LAST with 1 <= FIRST <= LAST <= 65535"
        )
    if first < 1024 and (os.geteuid() if euid is None else euid) != 0:
        raise bad_input(
            f"{path}: ports.range {ports.range} starts below 1024, which only root may bind",
            "use ports from 1024 up, e.g. 40000-49999",
        )
    if last - first + 1 < ports.per_slot * pool_max:
        raise bad_input(
            f"{path}: ports.range {ports.range} holds {last - first + 1} ports, too few for "
            f"{pool_max} slots of ports.per_slot {ports.per_slot}",
            f"widen it to at least {ports.per_slot * pool_max} ports, or lower ports.per_slot",
        )


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


def _check_state(state: StateSettings, path: Path) -> None:
    if state.url is not None:
        url = state.url.strip()
        if not url:
            raise bad_input(f"{path}: state.url is empty", "remove the key to keep the state local")
        if not url.startswith(("postgresql://", "postgres://")) and "=" not in url:
            raise bad_input(
                f"{path}: state.url must be a postgresql:// URL or key=value pairs",
                "e.g. postgresql://USER@HOST:5432/DATABASE",
            )
    if not re.fullmatch(STATE_SCHEMA_PATTERN, state.schema):
        raise bad_input(
            f"{path}: state.schema must be a plain PostgreSQL name (lower-case letters, digits "
            f"and '_', starting with a letter or '_', at most 63), got {state.schema!r}"
        )
    if state.schema in RESERVED_SCHEMAS or state.schema.startswith("pg_"):
        raise bad_input(
            f"{path}: state.schema {state.schema!r} is reserved: it is not wtpool's to fill",
            "name a schema of wtpool's own, e.g. wtpool",
        )
    if state.host is not None and not NAME_PATTERN.fullmatch(state.host):
        raise bad_input(
            f"{path}: state.host must be 1-64 letters, digits, '.', '_' or '-', starting with a "
            f"letter or digit, got {state.host!r}"
        )


def _check_merge(merge: MergeSettings, path: Path) -> None:
    if merge.strategy not in MERGE_STRATEGIES:
        raise bad_input(
            f"{path}: merge.strategy must be one of {', '.join(MERGE_STRATEGIES)}, "
            f"got {merge.strategy!r}"
        )
    if merge.test_command and not merge.test_command[0].strip():
        raise bad_input(f"{path}: merge.test_command must start with the program to run")
    if not 1 <= merge.batch_size <= 1000:
        raise bad_input(
            f"{path}: merge.batch_size must be between 1 and 1000, got {merge.batch_size}",
            "1 lands one entry at a time",
        )
    # A remote name becomes an argument to git fetch and push: it must not read as an option.
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._/-]*", merge.remote):
        raise bad_input(f"{path}: merge.remote {merge.remote!r} is not a remote name")


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

"""Reading wtpool.yaml into a `Config`: discovery, a strict YAML loader, environment overrides.

Discovery, first match wins: `--config PATH`, then `wtpool.yaml` at the main worktree's root,
then the built-in defaults. Unknown keys and wrong types are errors that name the file, the key
and the expected type: a typo must not silently fall back to a default.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

from worktree_pool.config.settings import (
    CONFIG_FILE_NAME,
    DATABASE_MODE_VARIABLE,
    DATABASE_MODES,
    STATE_URL_VARIABLE,
    USER_CONFIG_FILE,
    Config,
    UserConfig,
)
from worktree_pool.config.validation import validate, validate_hooks
from worktree_pool.errors import WtpoolError, bad_input
from worktree_pool.util.inputs import describe, read_text_bounded
from worktree_pool.util.private import replace_private
from worktree_pool.util.redact import mask

# A configuration file is a few kilobytes; refusing big ones keeps a hostile or mistaken file
# (say, a log passed by accident) from costing time or memory before validation rejects it.
MAX_CONFIG_BYTES = 1_000_000


def find_config_file(repo_root: Path, explicit: Path | None) -> Path | None:
    if explicit is not None:
        if not explicit.is_file():
            raise bad_input(f"config file {explicit} does not exist or is not a file")
        return explicit
    candidate = repo_root / CONFIG_FILE_NAME
    return candidate if candidate.is_file() else None


def load_config(path: Path | None, cache: Path | None = None) -> Config:
    """The configuration in `path` (the defaults for None). With `cache`, the file's parsed
    YAML is remembered there, and read back while the file has not changed (see _parsed)."""
    if path is None:
        return Config()
    data = _parsed(path, cache)
    if data is None:
        data = {}
    config = _build(Config, data, "", path)
    validate(config, path)
    return config


# A file changed this recently may change again within the same tick of the file system's
# clock (coarse on many: 4 ms on ext4, 2 s on FAT), leaving its modification time as it was;
# its parse is not remembered until it has settled.
_SETTLED_NS = 3_000_000_000


def _parsed(path: Path, cache: Path | None) -> Any:
    """The YAML data of the config file, from the cache when the file is the one it was made
    from: same device, inode, size, modification and change times (a change time cannot be set
    back), so every command need not import and run a YAML parser."""
    try:
        info = path.stat()
        key = [
            str(path),
            info.st_dev,
            info.st_ino,
            info.st_size,
            info.st_mtime_ns,
            info.st_ctime_ns,
        ]
    except OSError:
        key = None  # read_text_bounded says why
    if cache is not None and key is not None:
        with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
            remembered = json.loads(cache.read_text(encoding="utf-8"))
            if remembered["file"] == key:
                return remembered["data"]
    text = read_text_bounded(path, MAX_CONFIG_BYTES, "config file")
    from worktree_pool.util.yaml_input import load_yaml  # only when the cache cannot answer

    data = load_yaml(text, path, unique_keys=True)
    settled = key is not None and time.time_ns() - key[4] > _SETTLED_NS
    remembered = _as_json(data)
    if cache is not None and settled and remembered is not None:
        with contextlib.suppress(OSError, WtpoolError):  # not remembered: only slower
            replace_private(cache, f'{{"file": {json.dumps(key)}, "data": {remembered}}}')
    return data


def _as_json(data: Any) -> str | None:
    """`data` as JSON, if JSON gives it back as it is (YAML can hold what JSON cannot: dates,
    non-string keys; the cache must never change what the file says) and it holds no password
    (a database URL's): no copy of one is kept in the pool directory."""
    try:
        text = json.dumps(data)
        exact = json.loads(text) == data
    except (TypeError, ValueError):
        return None
    return text if exact and mask(text) == text else None


def user_config_path(environ: Mapping[str, str]) -> Path:
    base = environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / USER_CONFIG_FILE


def load_user_config(environ: Mapping[str, str]) -> tuple[Path | None, UserConfig]:
    """The user's own configuration (see UserConfig), and its file; (None, defaults) when
    there is none. Read only where hooks run, so no other command pays for it."""
    path = user_config_path(environ)
    if not path.is_file():
        return None, UserConfig()
    from worktree_pool.util.yaml_input import load_yaml

    data = load_yaml(read_text_bounded(path, MAX_CONFIG_BYTES, "config file"), path)
    config = _build(UserConfig, {} if data is None else data, "", path)
    validate_hooks(config.hooks, path)
    return path, config


def with_environment(config: Config, environ: Mapping[str, str]) -> Config:
    """`config` with the settings the environment overrides: WTPOOL_DATABASE_MODE, so that a
    CI job or a test run can go without databases whatever wtpool.yaml says, and
    WTPOOL_STATE_URL, so that a password need not sit in a file the repository tracks."""
    if state_url := environ.get(STATE_URL_VARIABLE):
        config = dataclasses.replace(config, state=dataclasses.replace(config.state, url=state_url))
    mode = environ.get(DATABASE_MODE_VARIABLE)
    if not mode:
        return config
    if mode not in DATABASE_MODES:
        raise bad_input(
            f"{DATABASE_MODE_VARIABLE} must be one of {', '.join(DATABASE_MODES)}, got {mode!r}"
        )
    database = dataclasses.replace(config.database, mode=mode)
    return dataclasses.replace(config, database=database)


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
    rule = _dataclass_in(item)
    if rule is not None:
        if not isinstance(value, list):
            raise bad_input(f"{path}: {key} must be {_type_name(expected)}, got {describe(value)}")
        either = item is not rule  # `str | Rule`: a string or a mapping
        for index, entry in enumerate(value):
            if either and not isinstance(entry, str | dict):
                where = f"{key}[{index}]"
                raise bad_input(
                    f"{path}: {where} must be {_type_name(item)}, got {describe(entry)}"
                )
        return tuple(
            entry
            if either and isinstance(entry, str)
            else _build(rule, entry, f"{key}[{i}].", path)
            for i, entry in enumerate(value)
        )
    if _accepts(value, expected):
        if expected is float:
            return float(value)
        return _frozen(value)
    raise bad_input(f"{path}: {key} must be {_type_name(expected)}, got {describe(value)}")


def _dataclass_in(item: Any) -> Any:
    """The dataclass a list item is, or may be (`str | Rule`); None for plain values."""
    if dataclasses.is_dataclass(item):
        return item
    if get_origin(item) in (Union, types.UnionType):
        return next((option for option in get_args(item) if dataclasses.is_dataclass(option)), None)
    return None


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
        if get_origin(item) is tuple:  # a list of argument lists
            return f"a list of lists of {_type_name(item).removeprefix('a list of ')}"
        if get_origin(item) in (Union, types.UnionType):
            options = [_type_name(option) for option in get_args(item)]
            return f"a list whose items are each {' or '.join(options)}"
        return f"a list of {_type_name(item).removeprefix('a ').removeprefix('an ')}s"
    if dataclasses.is_dataclass(expected):
        return "a mapping"
    return {
        bool: "true or false",
        int: "an integer",
        float: "a number",
        str: "a string",
        type(None): "null",
    }.get(expected, expected.__name__)

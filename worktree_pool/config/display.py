"""A configuration as people see it: the documented YAML file, and the view with secrets masked."""

from __future__ import annotations

import dataclasses
import textwrap
from typing import Any

import yaml

from worktree_pool.config.settings import Config
from worktree_pool.util.redact import mask


def for_display(config: Config) -> Config:
    """`config` as `wtpool config` and `wtpool report` show it: the server URLs masked."""
    if config.database.url:
        database = dataclasses.replace(config.database, url=mask(config.database.url))
        config = dataclasses.replace(config, database=database)
    if config.state.url:
        state = dataclasses.replace(config.state, url=mask(config.state.url))
        config = dataclasses.replace(config, state=state)
    return config


def render_config(config: Config) -> str:
    """The YAML text of `config`, every key preceded by its documentation."""
    lines = [
        "# wtpool configuration. Every key is optional; a missing key takes the value shown here.",
        "# wtpool reads --config PATH, else wtpool.yaml at the repository root, else these",
        "# built-in defaults. Unknown keys and wrong types are errors.",
    ]
    for section_field in dataclasses.fields(config):
        lines += ["", *_comment(section_field.metadata["doc"], "")]
        section_value = getattr(config, section_field.name)
        if not dataclasses.is_dataclass(section_value):  # a top-level list: `copy`
            lines.append(f"{section_field.name}: {_yaml_value(section_value)}")
            continue
        lines.append(f"{section_field.name}:")
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

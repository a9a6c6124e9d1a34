"""The configuration in effect, as `wtpool config` shows it: where it came from, its values (the
database URL masked), and which keys an environment variable overrides."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from worktree_pool.config.display import for_display
from worktree_pool.config.settings import DATABASE_MODE_VARIABLE, Config


@dataclass(frozen=True)
class EffectiveConfig:
    source: str | None  # the file read; None: the built-in defaults
    config: Config
    overridden: dict[str, str]  # key -> the environment variable that sets it


def effective_config(config: Config, path: Path | None) -> EffectiveConfig:
    """`config`, read from `path` (None: no file), as it may be shown."""
    overridden = (
        {"database.mode": DATABASE_MODE_VARIABLE} if os.environ.get(DATABASE_MODE_VARIABLE) else {}
    )
    return EffectiveConfig(str(path) if path else None, for_display(config), overridden)

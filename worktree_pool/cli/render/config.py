"""What `wtpool config` prints for a person: the YAML of the configuration in effect, headed by
where it came from (scripts use `--json`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from worktree_pool.cli.render.common import printable
from worktree_pool.config.display import render_config

if TYPE_CHECKING:
    from worktree_pool.config.effective import EffectiveConfig


def show_config(shown: EffectiveConfig) -> None:
    # Plain print, not rich: the YAML is meant to be copied into a file as it is.
    print(f"# from {printable(shown.source or 'the built-in defaults')}")
    for key, variable in shown.overridden.items():
        print(f"# {key} from {variable}")
    print(render_config(shown.config), end="")

"""`wtpool config`: the configuration in effect and the file it came from."""

from __future__ import annotations

from worktree_pool.cli.invocation import repository
from worktree_pool.cli.options import JsonOption, commands, emit
from worktree_pool.cli.render.config import show_config
from worktree_pool.config.effective import effective_config

app = commands()


@app.command()
def config(json: JsonOption = False) -> None:
    """Show the configuration in effect and the file it came from."""
    repo = repository()
    emit(effective_config(repo.config, repo.config_path), json, show_config)

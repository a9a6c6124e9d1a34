"""What `wtpool env`, `refresh` and `trust` print for a person."""

from __future__ import annotations

from typing import TYPE_CHECKING

from worktree_pool.cli.render.common import console, escape
from worktree_pool.util.shell import shell_quote

if TYPE_CHECKING:
    from worktree_pool.pool.copies import CopyReport
    from worktree_pool.pool.environment import SlotEnvironment
    from worktree_pool.pool.refresh import RefreshResult
    from worktree_pool.pool.slot_hooks import TrustResult


def dotenv_lines(found: SlotEnvironment) -> None:
    """KEY='value' lines, as in the hand-off file: for a person, or `source`."""
    for key, value in found.variables.items():
        print(f"{key}={shell_quote(value)}")


def shell_lines(found: SlotEnvironment) -> None:
    """`export` lines, for `eval "$(wtpool env SLOT --shell)"`."""
    for key, value in found.variables.items():
        print(f"export {key}={shell_quote(value)}")


def show_trust(result: TrustResult) -> None:
    if result.digest is None:
        console.print("the repository's configuration has no hooks: nothing to trust")
        return
    how = "still trusted" if result.already else "trusted"
    console.print(f"{how}: the hooks in {escape(result.source or '')}")
    for hook, commands in result.hooks.items():
        for command in commands:
            if command:
                console.print(f"  {hook}: {escape(' '.join(command))}")


def show_refresh(result: RefreshResult) -> None:
    show_copies(result.copies)
    if result.hooks is not None and result.hooks.ok:
        console.print(f"{result.slot}: post_create hooks ran; the slot is back in service")
    if result.out_of_service:
        console.print(
            f"[red]{result.slot} is still out of service: {escape(result.out_of_service)}[/]"
        )


def show_copies(report: CopyReport) -> None:
    if report.copied:
        size = f"{report.files} files, {report.bytes / 1_048_576:.1f} MB, " if report.files else ""
        console.print(
            f"{report.slot}: copied {escape(', '.join(report.copied))} "
            f"({size}{report.method}, {report.seconds:.1f} s)"
        )
    elif not report.skipped and not report.refused:
        console.print(f"{report.slot}: nothing to copy (see `copy:` in wtpool.yaml)")
    for entry in report.skipped + report.refused:
        console.print(f"[yellow]  not copied: {escape(entry)}[/]")

"""wtpool: a pool of git worktrees for running several coding agents on one repository."""

__version__ = "0.1.0"

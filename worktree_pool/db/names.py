"""The names of a pool's databases: `<prefix>_template` and `<prefix>_wt_<n>`.

Names are unique per pool: the prefix is the repository directory's name plus the start of the
pool's random id (pools made before that have the directory's name alone, and keep it until
their cleanup), so two repositories with the same directory name on one server never reach for
the same name. Every name fits PostgreSQL's 63 bytes, so the server never cuts one.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from worktree_pool.errors import ExitCode, WtpoolError
from worktree_pool.store.slots import slot_number

if TYPE_CHECKING:
    from worktree_pool.config.settings import DatabaseSettings
    from worktree_pool.git.repo import Repository
    from worktree_pool.store.pool import PoolRecord

MAX_IDENTIFIER_BYTES = 63  # PostgreSQL's NAMEDATALEN - 1; longer names are cut silently
POOL_TAG_LENGTH = 8  # hex digits of the pool id in its database names
_LONGEST_SUFFIX = "_template"  # longer than any `_wt_<n>` of a pool's at most 64 slots


def prefix_for(repo_root: Path, limit: int = MAX_IDENTIFIER_BYTES - len(_LONGEST_SUFFIX)) -> str:
    """The repository directory's name as an identifier: lowercase letters, digits and _; at
    most `limit` bytes. Alone, the prefix of a pool made before names carried the pool id."""
    name = re.sub(r"[^a-z0-9_]+", "_", repo_root.name.lower()).strip("_")
    if not name or not name[0].isalpha():
        name = f"wt_{name}".rstrip("_")
    return fit(name, limit)


def pool_prefix(repo_root: Path, pool_id: str) -> str:
    """The start of every database name of a new pool: the repository directory's name and the
    start of the pool's id, short enough that each of its names fits in 63 bytes."""
    tag = pool_id[:POOL_TAG_LENGTH]
    room = MAX_IDENTIFIER_BYTES - len(_LONGEST_SUFFIX) - len(tag) - 1
    return f"{prefix_for(repo_root, room)}_{tag}"


def fit(name: str, limit: int = MAX_IDENTIFIER_BYTES) -> str:
    """`name`, or, when it is longer than `limit` bytes, its start plus a hash of the whole:
    never a name the server would cut, so two long names can never end up the same."""
    if len(name.encode()) <= limit:
        return name
    import hashlib  # rarely needed, and its import costs `wtpool status` 4 ms

    digest = hashlib.sha256(name.encode()).hexdigest()[:10]
    head = name.encode()[: limit - len(digest) - 1].decode(errors="ignore")
    return f"{head}_{digest}"


def template_name(settings: DatabaseSettings, prefix: str) -> str:
    return fit(settings.template or f"{prefix}_template")


def slot_database_name(prefix: str, slot_number: int) -> str:
    return fit(f"{prefix}_wt_{slot_number}")


def database_prefix(repo: Repository, pool: PoolRecord) -> str:
    """The start of the pool's database names; a pool made before names carried the pool id
    keeps the repository directory's name alone, so that it finds its databases again."""
    return pool.database_prefix or prefix_for(repo.root)


def slot_database(repo: Repository, pool: PoolRecord, slot: str) -> str:
    """The name of the slot's database, from names alone: never asks the server."""
    return slot_database_named(database_prefix(repo, pool), slot)


def slot_database_named(prefix: str, slot: str) -> str:
    number = slot_number(slot)
    if number is None:
        raise WtpoolError(f"{slot} is not a slot name", code=ExitCode.USAGE)
    return slot_database_name(prefix, number)

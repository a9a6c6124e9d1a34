"""`wtpool demo`: a short, real session in a throwaway repository.

It drives the same library functions the commands call, against a real git repository in a
temporary directory, and prints each step as the command a user would type. Nothing outside
the temporary directory is touched.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from worktree_pool import render
from worktree_pool.claims import acquire, release
from worktree_pool.coordinator import cleanup
from worktree_pool.gitops import WTPOOL_IDENTITY, Git
from worktree_pool.pool import init_pool, open_store, pool_status
from worktree_pool.repo import open_repository
from worktree_pool.scaling import scale_pool

_FILES = {
    "README.md": "# shop\n",
    "src/cart.py": "def total(items):\n    return sum(items)\n",
    "src/catalog.py": "PRODUCTS = ['tea', 'cups']\n",
    "tests/test_cart.py": "from src.cart import total\n\n\ndef test_total():\n"
    "    assert total([1, 2]) == 3\n",
}


def _step(command: str, note: str = "") -> None:
    render.console.print()
    render.console.print(f"[bold cyan]$ {command}[/]" + (f"   [dim]# {note}[/]" if note else ""))


def _make_repository(path: Path) -> Git:
    for name, text in _FILES.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text, encoding="utf-8")
    git = Git(path, 60)
    git.run("init", "--quiet", "--initial-branch=main")
    git.run("add", "--all")
    git.run("commit", "--quiet", "-m", "initial commit", env=WTPOOL_IDENTITY)
    return git


def _visible(root: Path) -> list[str]:
    return sorted(
        str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and p.name != ".git"
    )


def run_demo(keep: bool) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="wtpool-demo-"))
    try:
        _session(workdir / "shop")
    finally:
        if keep:
            render.console.print(f"\nthe demo repository is kept at {workdir / 'shop'}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def _session(root: Path) -> None:
    root.mkdir()
    git = _make_repository(root)
    render.console.print(f"a throwaway repository with {len(_FILES)} files at {root}")

    _step("wtpool init --min 2 --max 3")
    render.show_init(init_pool(open_repository(root), 2, 3, None))
    repo = open_repository(root)
    store = open_store(repo)

    _step("wtpool acquire --agent alice --task cart-discounts --scope src/")
    alice = acquire(repo, store, "alice", "cart-discounts", ("src/",))
    render.show_acquire(alice)
    slot = Git(Path(str(alice.path)), 60)
    render.console.print(f"[dim]  alice's slot shows: {', '.join(_visible(slot.cwd))}[/]")
    (slot.cwd / "src/cart.py").write_text(
        "def total(items, discount=0):\n    return sum(items) - discount\n", encoding="utf-8"
    )
    slot.run("commit", "--quiet", "-am", "cart: discounts", env=WTPOOL_IDENTITY)
    render.console.print("[dim]  alice commits a change to src/cart.py on her branch[/]")
    (slot.cwd / "tests").mkdir()
    (slot.cwd / "tests/test_cart.py").write_text("# rewritten by alice\n", encoding="utf-8")
    slot.run("add", "--sparse", "tests/test_cart.py")
    _step("git commit -m 'also the tests'", "in alice's slot: outside her scope")
    refused = slot.run(
        "commit", "--quiet", "-m", "also the tests", check=False, env=WTPOOL_IDENTITY
    )
    render.console.print(refused.stderr.rstrip(), markup=False)
    slot.run("reset", "--quiet", "--", "tests/test_cart.py")
    (slot.cwd / "tests/test_cart.py").unlink()

    _step("wtpool acquire --agent bob --task catalog")
    bob = acquire(repo, store, "bob", "catalog")
    render.show_acquire(bob)
    (Path(str(bob.path)) / "notes.txt").write_text("ideas, not committed yet\n", encoding="utf-8")
    render.console.print("[dim]  bob writes notes.txt and does not commit it[/]")

    for agent in ("carol", "dave"):
        _step(f"wtpool acquire --agent {agent}")
        render.show_acquire(acquire(repo, store, agent, None))

    _step("wtpool status")
    render.show_status(pool_status(repo, store))

    _step("wtpool release pool-wt-3", "carol is done; dave is waiting")
    render.show_release(release(repo, store, "pool-wt-3"))

    _step("wtpool scale down", "every slot is busy, so none can go")
    render.show_scale(scale_pool(repo, store, down=1))

    store.close()
    _step("wtpool cleanup", "end of session: unique work is saved before slots go")
    render.show_cleanup(cleanup(repo, force=False))

    _step("git branch --list 'wtpool/*'")
    render.console.print(git.out("branch", "--list", "wtpool/*"))

#!/usr/bin/env python3
"""Several machines on one control plane, simulated on this one: three clones of one bare
remote, three pools, one PostgreSQL schema (the server at WTPOOL_BENCH_POSTGRES, default
127.0.0.1:5432; a schema made and dropped per run). bench.py runs it for BENCHMARKS.md; alone,
it prints the section.

- **The race**: ten agents per host each run `wtpool spawn 1 independent` at the same moment,
  from one task graph of 30 ready, independent tasks: how many distinct tasks were claimed,
  how many twice, over repeated runs.
- **Against the original design**: ten agents claim ten items, by its push-as-lock protocol
  (pull, mark the first open item of a tracker file, commit, push; a rejected push is a
  collision: fetch and try again), and by wtpool's claim transaction (the first item no claim
  names, taken by `claims.take`). Collisions, retries and the time until all ten hold one.
- **Claims per second**: 30 agents, 10 per host, claiming 300 tasks through the control plane.

    python scripts/fleet_bench.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench_git import IDENTITY, git

from worktree_pool.errors import WtpoolError
from worktree_pool.git.repo import open_repository
from worktree_pool.pool.lifecycle import init_pool
from worktree_pool.store import claims
from worktree_pool.store.postgres import ControlPlane

SERVER = os.environ.get("WTPOOL_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
HOSTS = 3
AGENTS_PER_HOST = 10


def server_answers() -> bool:
    import psycopg

    try:
        psycopg.connect(SERVER, connect_timeout=3).close()
    except psycopg.Error:
        return False
    return True


@contextmanager
def schema() -> Iterator[str]:
    """A schema of the run's own on the server, dropped afterwards."""
    import psycopg

    name = f"wtpool_bench_{secrets.token_hex(4)}"
    try:
        yield name
    finally:
        with psycopg.connect(SERVER, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


# --- the race ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RaceResult:
    runs: int
    agents: int
    tasks: int
    distinct: list[int]  # tasks claimed, each run
    doubles: list[int]  # tasks claimed by more than one agent, each run
    seconds: list[float]  # until every agent had its answer, each run


def hosts_of(workdir: Path, tasks: int, plane: str) -> list[Path]:
    """Three clones of one bare remote with `tasks` independent tasks, each with a pool on
    the control plane in schema `plane`, whose merge queue lands on the remote; no
    databases."""
    origin = workdir / "origin"
    origin.mkdir(parents=True)
    git(origin, "init", "-q", "--initial-branch=main")
    lines = ["tasks:"]
    for n in range(1, tasks + 1):
        (origin / f"src/t{n:03}").mkdir(parents=True)
        (origin / f"src/t{n:03}/code.py").write_text(f"N = {n}\n")
        lines.append(f"  - {{id: t{n:03}, title: Task {n}, files: [src/t{n:03}/]}}")
    (origin / "tasks.yaml").write_text("\n".join(lines) + "\n")
    git(origin, "add", "-A")
    git(origin, "commit", "-qm", "tasks")
    git(workdir, "clone", "-q", "--bare", str(origin), str(workdir / "remote.git"))
    roots = []
    for n in range(1, HOSTS + 1):
        root = workdir / f"host{n}"
        git(workdir, "clone", "-q", str(workdir / "remote.git"), str(root))
        (root / "wtpool.yaml").write_text(
            f"pool:\n  min: 1\n  max: {AGENTS_PER_HOST}\ntasks:\n  source: yaml\n"
            f"database:\n  mode: none\nstate:\n  url: {SERVER}\n  schema: {plane}\n"
            "merge:\n  push: true\n  remote: origin\n"
        )
        init_pool(open_repository(root), 1, AGENTS_PER_HOST, None)
        roots.append(root)
    return roots


def race_once(workdir: Path, plane: str) -> tuple[int, int, float]:
    """Distinct tasks, doubly claimed tasks, and seconds, for one run of the race."""
    tasks = HOSTS * AGENTS_PER_HOST
    roots = hosts_of(workdir, tasks, plane)
    command = [sys.executable, "-m", "worktree_pool", "spawn", "1", "independent", "--json"]
    env = {**os.environ, **IDENTITY}
    start = time.perf_counter()
    agents = [
        subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        for root in roots
        for _ in range(AGENTS_PER_HOST)
    ]
    claimed: list[str] = []
    for agent in agents:
        out, err = agent.communicate()
        if agent.returncode != 0:
            raise SystemExit(f"an agent's spawn failed: {err.decode().strip()}")
        claimed += [slot["task"] for slot in json.loads(out)["spawned"]]
    seconds = time.perf_counter() - start
    for root in roots:
        subprocess.run(
            [sys.executable, "-m", "worktree_pool", "cleanup", "--force"],
            cwd=root,
            capture_output=True,
            check=True,
        )
    doubles = len(claimed) - len(set(claimed))
    return len(set(claimed)), doubles, seconds


def race(workdir: Path, runs: int) -> RaceResult:
    distinct, doubles, seconds = [], [], []
    for run in range(runs):
        with schema() as plane:
            place = workdir / f"race-{run}"
            found, twice, took = race_once(place, plane)
            shutil.rmtree(place, ignore_errors=True)
        distinct.append(found)
        doubles.append(twice)
        seconds.append(took)
        print(f"race {run + 1}/{runs}: {found} distinct, {twice} double, {took:.1f} s", flush=True)
    agents = HOSTS * AGENTS_PER_HOST
    return RaceResult(runs, agents, agents, distinct, doubles, seconds)


# --- landing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LandingResult:
    entries: int
    merged: int
    reachable: int  # landed commits the remote's base contains
    seconds: float


def landing(workdir: Path) -> LandingResult:
    """Each host spawns ten slots, each slot commits a change to its task's files, and the
    three hosts land all thirty at once through the shared queue onto the one remote."""
    with schema() as plane:
        roots = hosts_of(workdir, HOSTS * AGENTS_PER_HOST, plane)
        wtpool = [sys.executable, "-m", "worktree_pool"]
        env = {**os.environ, **IDENTITY}
        slots: dict[Path, list[dict]] = {}
        for root in roots:
            out = subprocess.run(
                [*wtpool, "spawn", str(AGENTS_PER_HOST), "independent", "--json"],
                cwd=root,
                capture_output=True,
                check=True,
                env=env,
            ).stdout
            slots[root] = json.loads(out)["spawned"]
        tips = []
        for spawned in slots.values():
            for slot in spawned:
                path = Path(slot["path"])
                (path / "src" / slot["task"] / "code.py").write_text(f"DONE = {slot['task']!r}\n")
                git(path, "commit", "-qam", f"finish {slot['task']}")
                tips.append(git(path, "rev-parse", "HEAD"))

        def land(root: Path) -> list[str]:
            states = []
            for slot in slots[root]:
                result = subprocess.run(
                    [*wtpool, "merge", slot["slot"], "--wait", "--json"],
                    cwd=root,
                    capture_output=True,
                    env=env,
                )
                states.append(json.loads(result.stdout)["entry"]["state"])
            return states

        start = time.perf_counter()
        with ThreadPoolExecutor(HOSTS) as executor:
            states = [state for landed in executor.map(land, roots) for state in landed]
        seconds = time.perf_counter() - start
        remote = workdir / "remote.git"
        reachable = sum(
            subprocess.run(
                ["git", "merge-base", "--is-ancestor", tip, "main"], cwd=remote
            ).returncode
            == 0
            for tip in tips
        )
        for root in roots:
            subprocess.run([*wtpool, "cleanup", "--force"], cwd=root, capture_output=True)
    return LandingResult(len(states), states.count("merged"), reachable, seconds)


# --- against the original design ---------------------------------------------------------


@dataclass(frozen=True)
class ClaimRun:
    protocol: str
    agents: int
    items: int
    claimed: int
    collisions: int  # attempts refused because another agent got there first
    retries: int  # attempts made again after a collision
    seconds: float


def push_as_lock(workdir: Path, agents: int) -> ClaimRun:
    """The original design: a tracker file in the repository; an agent pulls, marks the first
    open item as its own, commits and pushes; a rejected push means another agent pushed
    first: it fetches, resets to what was pushed, and tries again."""
    seed = workdir / "seed"
    seed.mkdir(parents=True)
    git(seed, "init", "-q", "--initial-branch=main")
    (seed / "TRACKER").write_text("".join(f"item-{n:02} open\n" for n in range(agents)))
    git(seed, "add", "TRACKER")
    git(seed, "commit", "-qm", "tracker")
    remote = workdir / "tracker.git"
    git(workdir, "clone", "-q", "--bare", str(seed), str(remote))
    clones = []
    for n in range(agents):
        clone = workdir / f"agent-{n}"
        git(workdir, "clone", "-q", str(remote), str(clone))
        clones.append(clone)
    start = threading.Barrier(agents)

    def agent(n: int) -> tuple[int, int]:
        clone, name, refused = clones[n], f"agent-{n}", 0
        start.wait()
        while True:
            git(clone, "fetch", "-q", "origin")
            git(clone, "reset", "-q", "--hard", "origin/main")
            lines = (clone / "TRACKER").read_text().splitlines()
            free = [i for i, line in enumerate(lines) if line.endswith(" open")]
            if not free:
                return 0, refused
            lines[free[0]] = lines[free[0]].replace(" open", f" {name}")
            (clone / "TRACKER").write_text("\n".join(lines) + "\n")
            git(clone, "commit", "-qam", f"{name} claims")
            pushed = subprocess.run(
                ["git", "push", "-q", "origin", "main"], cwd=clone, capture_output=True
            )
            if pushed.returncode == 0:
                return 1, refused
            refused += 1

    return at_once("push-as-lock (original design)", agents, agents, agent)


def control_plane_claims(plane: str, agents: int, items: int, label: str) -> ClaimRun:
    """wtpool's claim transaction: each agent, on its own connection, takes the first of
    `items` that no claim names, until none is left; a refusal (another agent took it first)
    is a collision, and the agent tries the next."""
    names = [f"item-{n:03}" for n in range(items)]
    start = threading.Barrier(agents)

    def agent(n: int) -> tuple[int, int]:
        won = refused = 0
        with ControlPlane(SERVER, plane, 30.0, None, 600.0) as store:
            with store.snapshot():  # connected, and the schema made, before the start
                pass
            start.wait()
            while True:
                try:
                    with store.transaction() as conn:
                        held = {claim.task for claim in claims.every_claim(conn)}
                        free = [name for name in names if name not in held]
                        if not free:
                            return won, refused
                        claims.take(conn, f"pool-{n}", free[0], "slot", f"agent-{n}", None, None)
                        won += 1
                except WtpoolError:
                    refused += 1

    return at_once(label, agents, items, agent)


def at_once(
    label: str, agents: int, items: int, agent: Callable[[int], tuple[int, int]]
) -> ClaimRun:
    """Run `agent(n)` for every agent at once, each in its own thread (they wait on git or
    the server): each says how many items it claimed and how many times it was refused."""
    began = time.perf_counter()
    with ThreadPoolExecutor(agents) as executor:
        outcomes = list(executor.map(agent, range(agents)))
    seconds = time.perf_counter() - began
    collisions = sum(refused for _, refused in outcomes)
    claimed = sum(won for won, _ in outcomes)
    return ClaimRun(label, agents, items, claimed, collisions, collisions, seconds)


def fleet_section(workdir: Path, runs: int) -> str:
    if not server_answers():
        print(f"fleet: no PostgreSQL at {SERVER} (set WTPOOL_BENCH_POSTGRES)", flush=True)
        return ""
    raced = race(workdir, runs)
    landed = landing(workdir / "landing")
    print(f"landing: {landed.merged} of {landed.entries} in {landed.seconds:.1f} s", flush=True)
    compared = [push_as_lock(workdir / "push-as-lock", AGENTS_PER_HOST)]
    with schema() as plane:
        compared.append(
            control_plane_claims(plane, AGENTS_PER_HOST, AGENTS_PER_HOST, "wtpool claims")
        )
    agents = HOSTS * AGENTS_PER_HOST
    with schema() as plane:
        throughput = control_plane_claims(plane, agents, 300, "wtpool claims, 300 tasks")
    for run in [*compared, throughput]:
        print(f"{run.protocol}: {run.collisions} collisions, {run.seconds:.2f} s", flush=True)
    return render(raced, landed, compared, throughput)


def render(
    raced: RaceResult, landed: LandingResult, compared: list[ClaimRun], throughput: ClaimRun
) -> str:
    median = statistics.median(raced.seconds)
    lines = [
        "",
        "## Several machines: one control plane",
        "",
        f"{HOSTS} clones of one bare remote, {HOSTS} pools, one PostgreSQL schema on the server"
        " at 127.0.0.1:5432 (scripts/fleet_bench.py).",
        "",
        f"**The race**: {AGENTS_PER_HOST} agents per host each run `wtpool spawn 1 independent`"
        f" at the same moment, from {raced.tasks} ready, independent tasks; {raced.runs} runs.",
        "",
        "| runs | agents | distinct tasks claimed (each run) | claimed twice"
        " | time per run, median |",
        "|---:|---:|---|---:|---:|",
        f"| {raced.runs} | {raced.agents} | {', '.join(map(str, sorted(set(raced.distinct))))}"
        f" | {sum(raced.doubles)} | {median:.1f} s ({raced.agents / median:.1f} slots/s) |",
        "",
        f"**Landing**: each host spawns {AGENTS_PER_HOST} slots, each commits a change, and the"
        " three hosts queue them at once (`wtpool merge SLOT --wait`, one after another on each"
        " host) in the one shared queue, where whichever host's processor is free lands them on"
        " the one remote, with a push with a lease.",
        "",
        "| entries | merged | commits the remote's base contains | time | landings/s |",
        "|---:|---:|---:|---:|---:|",
        f"| {landed.entries} | {landed.merged} | {landed.reachable} | {landed.seconds:.1f} s"
        f" | {landed.merged / landed.seconds:.1f} |",
        "",
        "**Against the original design**: the same number of agents claim one item each, at the"
        " same moment; a collision is an attempt refused because another agent got there first.",
        "",
        "| protocol | agents | items | claimed | collisions | retries | time |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.protocol} | {r.agents} | {r.items} | {r.claimed} | {r.collisions} | {r.retries}"
        f" | {r.seconds * 1000:.0f} ms |"
        for r in compared
    ]
    rate = throughput.claimed / throughput.seconds
    lines += [
        "",
        f"**Claims per second**: {throughput.agents} agents ({AGENTS_PER_HOST} per host, each on"
        f" its own connection) claim {throughput.items} tasks: {throughput.claimed} claimed,"
        f" {throughput.collisions} collisions, {rate:.0f} claims/s"
        f" ({throughput.seconds * 1000:.0f} ms).",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="runs of the race")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="wtpool-fleet-"))
    try:
        print(fleet_section(workdir, args.runs))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Each slot's own block of TCP ports, and whether someone else holds them.

Slot N gets the N-th block of `ports.per_slot` ports from `ports.range`, so its ports stay the
same across claims: a dev server an agent started keeps its URL, and a browser tab left open on
it still works after a recycle. `WTPOOL_PORT` is the block's first port, `WTPOOL_PORTS` all of
them.

A port is free when 127.0.0.1 can bind it (with SO_REUSEADDR, as servers bind: a connection in
TIME_WAIT does not hold it; a listener on 0.0.0.0 does). Only when one is not does wtpool ask
who holds it (psutil's connection table costs tens of milliseconds), and a holder that runs in
the slot itself is the slot using its own port, not a conflict.
"""

from __future__ import annotations

import contextlib
import errno
import socket
from dataclasses import dataclass
from pathlib import Path

from worktree_pool.config.settings import PortSettings
from worktree_pool.errors import WtpoolError
from worktree_pool.store.slots import slot_number


@dataclass(frozen=True)
class PortHolder:
    slot: str
    port: int
    pid: int | None  # None: the process is not ours to see (another user's)
    process: str | None

    def describe(self) -> str:
        who = f"process {self.pid} ({self.process})" if self.pid else "a process wtpool cannot see"
        return f"port {self.port} of {self.slot} is held by {who}"


def slot_ports(settings: PortSettings, slot: str) -> tuple[int, ...]:
    """The slot's block; () when slots get no ports."""
    number = slot_number(slot)
    if not settings.per_slot or number is None:
        return ()
    first, last = settings.bounds()
    start = first + (number - 1) * settings.per_slot
    if start + settings.per_slot - 1 > last:
        raise WtpoolError(
            f"ports.range {settings.range} has no block of {settings.per_slot} ports for {slot}",
            "widen ports.range or lower ports.per_slot in wtpool.yaml",
        )
    return tuple(range(start, start + settings.per_slot))


def port_variables(settings: PortSettings, slot: str) -> dict[str, str]:
    ports = slot_ports(settings, slot)
    if not ports:
        return {}
    return {"WTPOOL_PORT": str(ports[0]), "WTPOOL_PORTS": ",".join(map(str, ports))}


def busy_ports(ports: tuple[int, ...]) -> list[int]:
    """The ports 127.0.0.1 cannot bind now."""
    busy = []
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
                busy.append(port)
    return busy


def foreign_holders(settings: PortSettings, slots: dict[str, Path]) -> list[PortHolder]:
    """The slots' ports held by processes that do not run in the slot they belong to."""
    busy = {port: name for name in slots for port in busy_ports(slot_ports(settings, name))}
    if not busy:
        return []
    import psutil  # only when a port is taken: its connection table is slow to read

    holders: dict[int, PortHolder] = {}
    for connection in psutil.net_connections(kind="inet"):
        port = connection.laddr.port if connection.laddr else None
        if port not in busy or connection.status not in (psutil.CONN_LISTEN, psutil.CONN_NONE):
            continue
        name = busy[port]
        process, cwd = None, None
        with contextlib.suppress(psutil.Error):
            found = psutil.Process(connection.pid) if connection.pid else None
            process, cwd = (found.name(), Path(found.cwd())) if found else (None, None)
        if cwd is not None and (cwd == slots[name] or slots[name] in cwd.parents):
            busy[port] = ""  # the slot's own server
            continue
        holders.setdefault(port, PortHolder(name, port, connection.pid, process))
    # A port bound but not listed (a socket still closing) has no holder to name.
    unseen = [PortHolder(n, p, None, None) for p, n in busy.items() if n and p not in holders]
    return sorted([*holders.values(), *unseen], key=lambda holder: holder.port)

"""Each slot's own block of TCP ports, and whether someone else holds them.

Slot N gets the N-th block of `ports.per_slot` ports from `ports.range`, so its ports stay the
same across claims: a dev server an agent started keeps its URL, and a browser tab left open on
it still works after a recycle. `WTPOOL_PORT` is the block's first port, `WTPOOL_PORTS` all of
them.

A port is free when 127.0.0.1 can bind it, and ::1 too where the host has it (with
SO_REUSEADDR, as servers bind: a connection in TIME_WAIT does not hold it; a listener on 0.0.0.0
or :: does; and a dev server on "localhost" often listens on ::1 alone, where a browser's
localhost goes first). Only when one is not does wtpool ask who holds it (psutil's connection
table costs milliseconds to tens of them), and a holder that is the slot's own is the slot using
its port as intended, not a conflict: a process of the slot's agent (its group, see
agents/membership.py), or one whose working directory is in the slot.

A slot whose number has no block in the range (the pool's max was raised past what
`ports.range` was checked against) gets no ports: handing it out is the error, not checking it.
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from worktree_pool.agents.membership import AgentGroup, members_of
from worktree_pool.agents.process_table import ProcessTable
from worktree_pool.config.settings import PortSettings
from worktree_pool.errors import WtpoolError
from worktree_pool.store.slots import slot_number


@dataclass(frozen=True)
class PortHolder:
    slot: str
    port: int
    pid: int | None  # None: not ours to see (another user's), or a socket not listed
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


_LOOPBACKS = ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1"))
# No IPv6 (a kernel or container without it): ::1 cannot be bound by anyone, so it holds nothing.
_NO_ADDRESS = (errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL, errno.EPROTONOSUPPORT)


def busy_ports(ports: tuple[int, ...]) -> list[int]:
    """The ports that 127.0.0.1 or ::1 cannot bind now, in the order given."""
    return [
        port for port in ports if not all(_binds(family, host, port) for family, host in _LOOPBACKS)
    ]


def _binds(family: socket.AddressFamily, host: str, port: int) -> bool:
    try:
        probe = socket.socket(family, socket.SOCK_STREAM)
    except OSError as exc:
        if exc.errno in _NO_ADDRESS:
            return True
        raise WtpoolError(f"cannot open a socket to test port {port}: {exc.strerror}") from exc
    with probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:  # ::1 alone: 127.0.0.1 is the other probe's
            probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            if exc.errno in _NO_ADDRESS:
                return True
            raise WtpoolError(f"cannot test port {port} on {host}: {exc.strerror}") from exc
    return True


def foreign_holders(
    settings: PortSettings,
    slots: Mapping[str, Path],
    groups: Mapping[str, AgentGroup] | None = None,
) -> list[PortHolder]:
    """The slots' ports held by processes that are not the slot's own: neither of its agent
    (`groups`, by slot, for the slots that have one) nor working in its directory. Sorted by
    port; the connection table and the processes are read only when some port is busy."""
    busy = {port: name for name in slots for port in busy_ports(_block(settings, name))}
    if not busy:
        return []
    import psutil  # only when a port is taken: its connection table is slow to read

    # Who holds a port: its listener, else a connection that uses it as its local port (the
    # default range overlaps Linux's ephemeral ports, so an outgoing connection may hold one).
    candidates: dict[int, list[tuple[bool, bool, int | None]]] = {}
    for connection in psutil.net_connections(kind="tcp"):
        port = connection.laddr.port if connection.laddr else None
        if port in busy:
            listening = connection.status == psutil.CONN_LISTEN
            candidates.setdefault(port, []).append(
                (not listening, connection.pid is None, connection.pid)
            )
    own = _Own(slots, groups or {})
    holders = []
    for port, name in busy.items():
        pid = min(candidates[port])[2] if port in candidates else None
        if pid is not None and own(name, pid):
            continue  # the slot's own server
        # None: not ours to see (another user's), or a socket bound but not listed
        holders.append(PortHolder(name, port, pid, _name(pid)))
    return sorted(holders, key=lambda holder: holder.port)


def _block(settings: PortSettings, slot: str) -> tuple[int, ...]:
    """The slot's block, or () when its number has none (see the module's docstring)."""
    try:
        return slot_ports(settings, slot)
    except WtpoolError:
        return ()


def _name(pid: int | None) -> str | None:
    import psutil  # loaded by the caller already

    if pid is None:
        return None
    try:
        return psutil.Process(pid).name()
    except psutil.Error:  # gone since the listing
        return None


class _Own:
    """Whether a process is the slot's own; the process table is read once, when first needed."""

    def __init__(self, slots: Mapping[str, Path], groups: Mapping[str, AgentGroup]) -> None:
        self.roots = {name: os.path.realpath(path) for name, path in slots.items()}
        self.groups = groups
        self._members: dict[str, set[int]] | None = None

    def __call__(self, slot: str, pid: int) -> bool:
        return self._works_in(slot, pid) or pid in self._agent_processes().get(slot, set())

    def _works_in(self, slot: str, pid: int) -> bool:
        import psutil  # loaded by the caller already

        try:
            cwd = psutil.Process(pid).cwd().removesuffix(" (deleted)")
        except psutil.Error:  # gone, or another user's
            return False
        root = self.roots[slot]
        return cwd == root or cwd.startswith(root + os.sep)

    def _agent_processes(self) -> dict[str, set[int]]:
        if self._members is None:
            table = ProcessTable() if self.groups else None
            self._members = {
                slot: set(members_of(group, table)) for slot, group in self.groups.items()
            }
        return self._members

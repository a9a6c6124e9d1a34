"""The root command group that imports a command's module only when the command is used.

`wtpool` is called constantly by agents, and most calls run one small command: importing every
command module (and the library modules each needs) on every call would cost more than many
commands take to run. The root therefore knows each command only by its name and its module in
`cli/commands/`; looking a command up (to run it, to show its help, or to list it all for
`wtpool --help`) imports that module and turns its typer app into click commands. This is
click's documented "lazy loading of subcommands" pattern, done on the mapping of commands that
typer's group reads, so typer's own lookup, listing and "did you mean" suggestions keep
working unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any, ClassVar

import typer
from typer._click import Command
from typer.core import TyperGroup

COMMANDS_PACKAGE = "worktree_pool.cli.commands"


class _LazyCommands(MutableMapping[str, Command]):
    """Command name -> click command, made from its module on first lookup. Iterating gives the
    names alone, in the registry's order, and imports nothing."""

    def __init__(self, modules: Mapping[str, str]) -> None:
        self._modules = modules
        self._groups: dict[str, TyperGroup] = {}  # module -> its converted typer app
        self._added: dict[str, Command] = {}

    def __getitem__(self, name: str) -> Command:
        if name in self._added:
            return self._added[name]
        module = self._modules[name]  # KeyError: no such command, as a dict would say
        if module not in self._groups:
            # __import__ rather than importlib.import_module: it goes through the machinery of
            # the import statement, which `python -X importtime` (scripts/startup_imports.py)
            # times; a non-empty fromlist makes it return the module itself.
            app = __import__(f"{COMMANDS_PACKAGE}.{module}", fromlist=["app"]).app
            self._groups[module] = typer.main.get_group(app)
        group = self._groups[module]
        # A module whose app is named after the command is that command group (`wtpool mail`);
        # any other holds top-level commands (`wtpool init`, `status`, `scale`).
        return group if group.name == name else group.commands[name]

    def __setitem__(self, name: str, command: Command) -> None:
        self._added[name] = command

    def __delitem__(self, name: str) -> None:
        del self._added[name]

    def __iter__(self) -> Iterator[str]:
        yield from self._modules
        yield from (name for name in self._added if name not in self._modules)

    def __len__(self) -> int:
        return len(self._modules.keys() | self._added.keys())

    def __contains__(self, name: object) -> bool:
        return name in self._modules or name in self._added


class LazyGroup(TyperGroup):
    """A typer group whose commands are named in `modules` (command -> module of
    `cli/commands/`) and loaded on demand; subclass it with the registry set."""

    modules: ClassVar[Mapping[str, str]] = {}

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = _LazyCommands(self.modules)

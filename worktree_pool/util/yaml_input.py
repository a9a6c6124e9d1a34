"""YAML that someone else wrote (wtpool.yaml, a task file), parsed without expanding an alias
bomb. A module of its own so that what reads no YAML does not import PyYAML (about 25 ms).

Invariant: `load_yaml` and `compose_yaml` never build a document whose aliases would expand to
more than MAX_ALIASED_NODES nodes, nor one that refers to itself, and count that while
composing, so a bomb is refused before it expands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from worktree_pool.errors import WtpoolError, bad_input

# What aliases may add to a document, in nodes once expanded: generous for anchors that share
# a list between tasks, far below what makes a command slow (a bomb of 9 nested levels of 9
# aliases expands to 9**9 nodes).
MAX_ALIASED_NODES = 100_000


class BoundedLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader, counting while it composes what aliases would expand to.

    Each composed node's weight is the number of nodes it stands for once its aliases are
    expanded: 1, plus its children's weights. An alias adds its anchor's weight to the
    document's total, which may not pass MAX_ALIASED_NODES; an alias to a node that is still
    being composed (it refers to itself) is refused. The cost is linear in the text."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._weights: dict[yaml.Node, int] = {}
        self._aliased = 0

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            target = self.anchors.get(event.anchor)
            if target is not None:  # else PyYAML refuses the unknown alias itself
                self._count_alias(event, target)
            return super().compose_node(parent, index)
        node = super().compose_node(parent, index)
        self._weights[node] = 1 + sum(self._weights[child] for child in _children(node))
        return node

    def _count_alias(self, event: yaml.AliasEvent, target: yaml.Node) -> None:
        if target not in self._weights:
            raise yaml.composer.ComposerError(
                None, None, f"alias *{event.anchor} refers to itself", event.start_mark
            )
        self._aliased += self._weights[target]
        if self._aliased > MAX_ALIASED_NODES:
            raise yaml.composer.ComposerError(
                None,
                None,
                f"its aliases expand to more than {MAX_ALIASED_NODES:,} nodes "
                "(an alias bomb?); refused before expanding them",
                event.start_mark,
            )


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


class _UniqueKeys:
    """Refuses a key given twice in one mapping: YAML would quietly keep the last one."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[attr-defined]
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)  # type: ignore[misc]


class _UniqueKeysLoader(_UniqueKeys, BoundedLoader):
    pass


# libyaml's parser, for documents that cannot hold an alias (see load_yaml); None without it.
_FAST = getattr(yaml, "CSafeLoader", None)
_FAST_UNIQUE = type("_FastUniqueKeysLoader", (_UniqueKeys, _FAST), {}) if _FAST else None


def load_yaml(text: str, source: Path, *, unique_keys: bool = False) -> Any:
    """The data of a YAML document read from `source`; with `unique_keys`, a key given twice in
    a mapping is an error. YAML that cannot be read (a bomb included) is one `bad_input` error
    naming `source` and the line and column of the problem.

    A document without an anchor can have no alias to count, so libyaml reads it when it is
    there, about ten times faster (every command reads wtpool.yaml); its errors are reported as
    the counting loader reports them, by reading the text again."""
    fast = _FAST_UNIQUE if unique_keys else _FAST
    if fast is not None and "&" not in text:
        try:
            return yaml.load(text, Loader=fast)
        except Exception:  # libyaml also fails on text it cannot encode, not only bad YAML
            pass  # read again below, which says why as for any YAML error
    try:
        return yaml.load(text, Loader=_UniqueKeysLoader if unique_keys else BoundedLoader)
    except yaml.YAMLError as exc:
        raise yaml_error(source, exc) from exc


def compose_yaml(text: str) -> yaml.Node | None:
    """The node tree of a YAML document, bounded like `load_yaml`; raises yaml.YAMLError."""
    return yaml.compose(text, Loader=BoundedLoader)


def yaml_error(source: Path, exc: yaml.YAMLError) -> WtpoolError:
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(exc, "problem", None) or "syntax error"
    return bad_input(f"{source}: invalid YAML{where}: {problem}")

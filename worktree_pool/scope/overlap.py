"""Whether two scope patterns can match the same path, decided exactly.

Comparing pattern text misses real overlaps: `src/a/*.py` and `src/*/b.py` share `src/a/b.py`.
Instead each pattern becomes a small automaton over the characters of a path, and a breadth-first
search over pairs of states looks for a path both accept. The search returns the shortest such
path as a witness, which callers can show and tests can check against the real matcher.

Patterns follow patterns.py: gitignore syntax anchored at the root. A pattern also matches
everything under a directory it matches (`src/api` covers `src/api/x.py`). `?`, `*` and `[...]`
never match `/`; `**/`, `/**/` and `/**` span any number of directories. Only real paths count:
no empty segment (`a//b`), no leading or trailing `/`. Negated patterns (`!x`) only narrow a
scope; the overlap of two scopes is judged on their positive patterns, which can report an
overlap that negations would rule out, never miss one.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

# A character set: (negated, chars). (False, {"a"}) is "a"; (True, {"/"}) is any character but
# "/"; (True, set()) is any character at all.
CharSet = tuple[bool, frozenset[str]]
ANY: CharSet = (True, frozenset())
NOT_SLASH: CharSet = (True, frozenset("/"))
_SAMPLE = "abcdefghijklmnopqrstuvwxyz0123456789_-."


@dataclass
class _Automaton:
    edges: list[list[tuple[CharSet, int]]] = field(default_factory=list)
    empty: list[list[int]] = field(default_factory=list)  # epsilon moves
    accept: int = 0

    def state(self) -> int:
        self.edges.append([])
        self.empty.append([])
        return len(self.edges) - 1

    def closure(self, states: frozenset[int]) -> frozenset[int]:
        seen, todo = set(states), list(states)
        while todo:
            for nxt in self.empty[todo.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return frozenset(seen)


def _literal(char: str) -> CharSet:
    return (False, frozenset(char))


def _build(pattern: str) -> _Automaton:
    auto = _Automaton()
    current = auto.state()
    body = pattern.removesuffix("/")
    i = 0
    while i < len(body):
        if body.startswith("**/", i) and (i == 0 or body[i - 1] == "/"):
            # Zero or more whole directories.
            loop = auto.state()
            after = auto.state()
            auto.empty[current] += [after, loop]
            auto.edges[loop].append((ANY, loop))
            auto.edges[loop].append((_literal("/"), after))
            current, i = after, i + 3
            continue
        if body.startswith("**", i) and i + 2 == len(body) and (i == 0 or body[i - 1] == "/"):
            auto.edges[current].append((ANY, current))  # trailing /**: anything below
            i += 2
            continue
        char = body[i]
        nxt = auto.state()
        if char == "*":
            auto.edges[current].append((NOT_SLASH, current))
            auto.empty[current].append(nxt)
            while i < len(body) and body[i] == "*":  # a run of stars is one star
                i += 1
            current = nxt
            continue
        if char == "?":
            auto.edges[current].append((NOT_SLASH, nxt))
        elif char == "[" and "]" in body[i + 2 :]:
            end = body.index("]", i + 2)
            auto.edges[current].append((_char_class(body[i + 1 : end]), nxt))
            i = end
        elif char == "\\" and i + 1 < len(body):
            i += 1
            auto.edges[current].append((_literal(body[i]), nxt))
        else:
            auto.edges[current].append((_literal(char), nxt))
        current, i = nxt, i + 1
    # Directory semantics: whatever matches may be a directory, and then all below it matches.
    below = auto.state()
    auto.edges[current].append((_literal("/"), below))
    auto.edges[below].append((ANY, below))
    auto.accept = auto.state()
    if not pattern.endswith("/"):  # a trailing slash matches directories only, never a file
        auto.empty[current].append(auto.accept)
    auto.empty[below].append(auto.accept)
    return auto


def _char_class(spec: str) -> CharSet:
    negated = spec[:1] in ("!", "^")
    spec = spec[1:] if negated else spec
    chars: set[str] = set()
    i = 0
    while i < len(spec):
        if i + 2 < len(spec) and spec[i + 1] == "-":
            chars.update(chr(c) for c in range(ord(spec[i]), ord(spec[i + 2]) + 1))
            i += 3
        else:
            chars.add(spec[i])
            i += 1
    # A class never matches "/".
    return (True, frozenset(chars | {"/"})) if negated else (False, frozenset(chars - {"/"}))


def _meet(a: CharSet, b: CharSet) -> str | None:
    """A character both sets contain, or None."""
    (neg_a, set_a), (neg_b, set_b) = a, b
    if not neg_a and not neg_b:
        common = set_a & set_b
    elif not neg_a:
        common = set_a - set_b
    elif not neg_b:
        common = set_b - set_a
    else:
        return next((c for c in _SAMPLE if c not in set_a | set_b), None)
    return min(common) if common else None


def witness(first: str, second: str) -> str | None:
    """The shortest real path both patterns match, or None when they share none."""
    a, b = _build(first), _build(second)
    # A state: both automata's state sets, and whether the path so far is empty or ends in "/"
    # (where another "/" would make an empty segment).
    start = (a.closure(frozenset({0})), b.closure(frozenset({0})), True)
    parents: dict[tuple, tuple[tuple, str] | None] = {start: None}
    queue = deque([start])
    while queue:
        state = queue.popleft()
        states_a, states_b, at_boundary = state
        if not at_boundary and a.accept in states_a and b.accept in states_b:
            return _path_to(state, parents)
        moves: dict[str, tuple[set[int], set[int]]] = {}
        for sa in states_a:
            for label_a, to_a in a.edges[sa]:
                for sb in states_b:
                    for label_b, to_b in b.edges[sb]:
                        char = _meet(label_a, label_b)
                        if char is None or (char == "/" and at_boundary):
                            continue
                        targets = moves.setdefault(char, (set(), set()))
                        targets[0].add(to_a)
                        targets[1].add(to_b)
        for char, (to_a, to_b) in sorted(moves.items()):
            nxt = (a.closure(frozenset(to_a)), b.closure(frozenset(to_b)), char == "/")
            if nxt not in parents:
                parents[nxt] = (state, char)
                queue.append(nxt)
    return None


def _path_to(state: tuple, parents: dict[tuple, tuple[tuple, str] | None]) -> str:
    chars = []
    step = parents[state]
    while step is not None:
        state, char = step
        chars.append(char)
        step = parents[state]
    return "".join(reversed(chars))


def scopes_overlap(first: tuple[str, ...], second: tuple[str, ...]) -> str | None:
    """A path both scopes could touch, judged on their positive patterns; None if none."""
    for a in first:
        for b in second:
            if not a.startswith("!") and not b.startswith("!"):
                found = witness(a, b)
                if found is not None:
                    return found
    return None


def readable(witness: str, *scopes: tuple[str, ...]) -> str:
    """An overlap's witness as a person should read it. The witness is the shortest path both
    scopes could match, so where a pattern leaves a name open it invents one (`a` for `**`,
    `src/api/a` for `src/api/`), which reads as a file that does not exist. A last component
    that no pattern names is shown as the pattern `*` instead: `*`, `src/api/*`."""
    directory, _, name = witness.rpartition("/")
    named = {part for scope in scopes for pattern in scope for part in pattern.split("/")}
    if name in named:
        return witness
    return f"{directory}/*" if directory else "*"

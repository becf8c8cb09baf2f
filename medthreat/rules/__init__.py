"""The condition language of catalog threats: parsed once, compiled to Python predicates.

A condition is data, never code. Clauses are ``all``/``any``/``not`` over comparisons of
``namespace.attribute`` paths with literals. Compilation checks every path against a vocabulary
(the attributes each namespace has and their types) and every literal against the attribute's
type and known values, so a typo in a catalog is an error at load time, not a silent miss.

Each compiled node offers ``test(ctx)`` (fast: closures, no explanation) and ``explain(ctx)``
(the clauses that made it true, in words), which the engine calls only for matches.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import describe_type, describe_value

__all__ = [
    "ORDINALS",
    "AttrSpec",
    "Node",
    "RuleError",
    "Vocabulary",
    "compile_condition",
]

Context = Mapping[str, Mapping[str, Any]]
Predicate = Callable[[Context], bool]

#: Ordered attribute types and the rank of each value (comparisons use the rank).
ORDINALS: dict[str, dict[str, int]] = {
    "level": {"none": 0, "low": 1, "medium": 2, "high": 3},
    "trust": {"untrusted": 0, "semi_trusted": 1, "trusted": 2},
    "range": {"proximity": 0, "local": 1, "network": 2, "internet": 3},
}
OPERATORS = ("eq", "ne", "in", "not_in", "contains", "contains_any", "lt", "le", "gt", "ge")
_ORDER_OPS = {"lt", "le", "gt", "ge"}
_SYMBOL = {"eq": "=", "ne": "≠", "lt": "<", "le": "≤", "gt": ">", "ge": "≥", "in": "in",
           "not_in": "not in", "contains": "contains", "contains_any": "contains any of"}


@dataclass(frozen=True)
class AttrSpec:
    """Type of one attribute: bool, int, str, list (of str) or an ordinal (level, trust,
    range); ``values`` lists the allowed values of enumerated str/list attributes."""

    type: str
    values: frozenset[str] | None = None


#: scope ("element" or "flow") -> namespace -> attribute -> spec
Vocabulary = Mapping[str, Mapping[str, Mapping[str, AttrSpec]]]


class RuleError(Exception):
    """A condition that does not compile; ``path`` points into the condition."""

    def __init__(self, path: Sequence[str | int], message: str) -> None:
        super().__init__(message)
        self.path = tuple(path)
        self.message = message


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple | frozenset | set):
        items = sorted(value, key=str) if isinstance(value, frozenset | set) else value
        return "[" + ", ".join(_show(v) for v in items) + "]"
    if isinstance(value, str):
        return repr(value)
    return str(value)


class Node:
    """A compiled clause; ``paths`` (on the root) lists the ``(namespace, attribute)`` pairs
    the condition reads."""

    text: str
    test: Predicate
    paths: frozenset[tuple[str, str]] = frozenset()

    def explain(self, ctx: Context) -> list[str]:
        """Why the clause holds for ``ctx`` (call only when ``test(ctx)`` is true)."""
        raise NotImplementedError


class _Leaf(Node):
    def __init__(self, ns: str, attr: str, op: str, value: Any, spec: AttrSpec) -> None:
        self.ns, self.attr, self.op, self.value = ns, attr, op, value
        self.text = f"{ns}.{attr} {_SYMBOL[op]} {_show(value)}"
        self.test = _predicate(ns, attr, op, value, spec)

    def explain(self, ctx: Context) -> list[str]:
        actual = ctx[self.ns][self.attr]
        if self.op in {"eq", "in"} and not isinstance(actual, list | tuple | frozenset):
            return [f"{self.ns}.{self.attr} = {_show(actual)}"]
        return [f"{self.text} (is {_show(actual)})"]


def _predicate(ns: str, attr: str, op: str, value: Any, spec: AttrSpec) -> Predicate:
    # One small closure per operator keeps the hot path free of dispatch.
    if spec.type in ORDINALS and op in _ORDER_OPS:
        ranks = ORDINALS[spec.type]
        ref = ranks[value]
        if op == "lt":
            return lambda ctx: ranks.get(ctx[ns][attr], 0) < ref
        if op == "le":
            return lambda ctx: ranks.get(ctx[ns][attr], 0) <= ref
        if op == "gt":
            return lambda ctx: ranks.get(ctx[ns][attr], 0) > ref
        return lambda ctx: ranks.get(ctx[ns][attr], 0) >= ref
    if op == "eq":
        return lambda ctx: ctx[ns][attr] == value
    if op == "ne":
        return lambda ctx: ctx[ns][attr] != value
    if op == "in":
        members = frozenset(value)
        return lambda ctx: ctx[ns][attr] in members
    if op == "not_in":
        members = frozenset(value)
        return lambda ctx: ctx[ns][attr] not in members
    if op == "contains":
        return lambda ctx: value in ctx[ns][attr]
    if op == "contains_any":
        members = frozenset(value)
        return lambda ctx: not members.isdisjoint(ctx[ns][attr])
    if op == "lt":
        return lambda ctx: ctx[ns][attr] < value
    if op == "le":
        return lambda ctx: ctx[ns][attr] <= value
    if op == "gt":
        return lambda ctx: ctx[ns][attr] > value
    return lambda ctx: ctx[ns][attr] >= value


class _All(Node):
    def __init__(self, children: list[Node]) -> None:
        self.children = children
        self.text = "all of (" + "; ".join(c.text for c in children) + ")"
        tests = tuple(c.test for c in children)
        if len(tests) == 1:
            self.test = tests[0]
        elif len(tests) == 2:
            a, b = tests
            self.test = lambda ctx: a(ctx) and b(ctx)
        else:
            def test(ctx: Context) -> bool:
                for t in tests:  # noqa: SIM110 - a plain loop beats all() on this hot path
                    if not t(ctx):
                        return False
                return True
            self.test = test

    def explain(self, ctx: Context) -> list[str]:
        return [line for c in self.children for line in c.explain(ctx)]


class _Any(Node):
    def __init__(self, children: list[Node]) -> None:
        self.children = children
        self.text = "any of (" + "; ".join(c.text for c in children) + ")"
        tests = tuple(c.test for c in children)

        def test(ctx: Context) -> bool:
            for t in tests:  # noqa: SIM110 - a plain loop beats any() on this hot path
                if t(ctx):
                    return True
            return False

        self.test = test

    def explain(self, ctx: Context) -> list[str]:
        return [line for c in self.children if c.test(ctx) for line in c.explain(ctx)]


class _Not(Node):
    def __init__(self, child: Node) -> None:
        self.child = child
        self.text = f"not ({child.text})"
        inner = child.test
        self.test = lambda ctx: not inner(ctx)

    def explain(self, ctx: Context) -> list[str]:
        return [self.text]


class _Always(Node):
    text = "always"

    def __init__(self) -> None:
        self.test = lambda ctx: True

    def explain(self, ctx: Context) -> list[str]:
        return []


def _hint(value: str, candidates: Any) -> str:
    from ..model._check import did_you_mean  # the model package imports this one

    return did_you_mean(value, candidates)


class _Compiler:
    def __init__(self, scope: str, vocabulary: Vocabulary) -> None:
        if scope not in vocabulary:
            raise ValueError(f"unknown scope {scope!r}")
        self.scope = scope
        self.used: set[tuple[str, str]] = set()
        self.namespaces = vocabulary[scope]
        self.other = {ns for s, spaces in vocabulary.items() if s != scope for ns in spaces}

    def clause(self, raw: Any, path: tuple[str | int, ...]) -> Node:
        if not isinstance(raw, dict) or not raw:
            raise RuleError(path, f"expected a clause (a mapping such as {{all: [...]}} or "
                                  f"{{element.attribute: value}}), got {describe_value(raw)}")
        if len(raw) > 1:
            if any(k in {"all", "any", "not"} for k in raw):
                raise RuleError(path, "all/any/not must stand alone in their mapping; "
                                      "wrap several clauses in a list under all")
            return _All([self.clause({k: v}, (*path, k)) for k, v in raw.items()])
        (key, value), = raw.items()
        if not isinstance(key, str):
            raise RuleError(path, f"clause key {key!r} should be all, any, not or a "
                                  "namespace.attribute path")
        if key in {"all", "any"}:
            if not isinstance(value, list) or not value:
                raise RuleError((*path, key), f"{key} expects a non-empty list of clauses")
            children = [self.clause(c, (*path, key, i)) for i, c in enumerate(value)]
            return _All(children) if key == "all" else _Any(children)
        if key == "not":
            return _Not(self.clause(value, (*path, key)))
        return self.leaf(key, value, (*path, key))

    def leaf(self, key: str, raw: Any, path: tuple[str | int, ...]) -> Node:
        ns, _, attr = key.partition(".")
        if not attr:
            raise RuleError(path, f"{key!r} is neither all/any/not nor a namespace.attribute "
                                  f"path; namespaces here: {', '.join(sorted(self.namespaces))}")
        if ns not in self.namespaces:
            why = (f"namespace {ns!r} is not available in {self.scope} threats"
                   if ns in self.other else f"unknown namespace {ns!r}")
            expected = ", ".join(sorted(self.namespaces))
            raise RuleError(path, f"{why}; expected one of {expected}"
                                  f"{_hint(ns, self.namespaces)}")
        attrs = self.namespaces[ns]
        if attr not in attrs:
            raise RuleError(path, f"unknown attribute {attr!r} in namespace {ns!r}"
                                  f"{_hint(attr, attrs)}")
        spec = attrs[attr]
        if isinstance(raw, dict):
            if len(raw) != 1:
                raise RuleError(path, f"expected one operator ({', '.join(OPERATORS)}), got "
                                      f"{len(raw)} keys")
            (op, value), = raw.items()
            if op not in OPERATORS:
                raise RuleError(path, f"unknown operator {op!r}; expected one of "
                                      f"{', '.join(OPERATORS)}{_hint(str(op), OPERATORS)}")
        else:
            op, value = "eq", raw
        self.check_literal(key, spec, op, value, (*path, op) if isinstance(raw, dict) else path)
        if isinstance(value, list):
            value = tuple(value)
        self.used.add((ns, attr))
        return _Leaf(ns, attr, op, value, spec)

    def check_literal(self, key: str, spec: AttrSpec, op: str, value: Any,
                      path: tuple[str | int, ...]) -> None:
        def scalar(item: Any) -> None:
            kind = spec.type
            if kind == "bool":
                ok = isinstance(item, bool)
            elif kind == "int":
                ok = isinstance(item, int | float) and not isinstance(item, bool)
            else:
                ok = isinstance(item, str)
            if not ok:
                raise RuleError(path, f"{key} is {_article(kind)}, got {describe_value(item)} "
                                      f"{_show(item)}")
            allowed = ORDINALS.get(kind) or spec.values
            if allowed is not None and item not in allowed:
                raise RuleError(path, f"{_show(item)} is not a known value of {key}; expected "
                                      f"one of {', '.join(sorted(allowed))}{_hint(item, allowed)}")

        if spec.type == "list":
            if op in {"contains"}:
                return _item(spec, key, value, path)
            if op == "contains_any":
                if not isinstance(value, list) or not value:
                    raise RuleError(path, f"{op} expects a non-empty list")
                for item in value:
                    _item(spec, key, item, path)
                return None
            raise RuleError(path, f"{key} is a list; use contains or contains_any, not {op}")
        if op in {"contains", "contains_any"}:
            raise RuleError(path, f"{op} applies to list attributes; {key} is "
                                  f"{_article(spec.type)}")
        if op in _ORDER_OPS and spec.type not in {"int", *ORDINALS}:
            raise RuleError(path, f"{op} compares numbers or ordered values; {key} is "
                                  f"{_article(spec.type)}")
        if op in {"in", "not_in"}:
            if not isinstance(value, list) or not value:
                raise RuleError(path, f"{op} expects a non-empty list of values")
            for item in value:
                scalar(item)
            return None
        scalar(value)
        return None


def _item(spec: AttrSpec, key: str, item: Any, path: tuple[str | int, ...]) -> None:
    if not isinstance(item, str):
        raise RuleError(path, f"{key} holds text values, got {describe_value(item)} {_show(item)}")
    if spec.values is not None and item not in spec.values:
        raise RuleError(path, f"{_show(item)} is not a known value of {key}; expected one of "
                              f"{', '.join(sorted(spec.values))}{_hint(item, spec.values)}")


def _article(kind: str) -> str:
    names = {"list": "a list", "level": "a level (low, medium, high)",
             "trust": "a trust level (untrusted, semi_trusted, trusted)",
             "range": "a range (proximity, local, network, internet)"}
    return names.get(kind) or describe_type(kind)


def compile_condition(condition: Any, scope: str, vocabulary: Vocabulary) -> Node:
    """Compile a condition (``None`` = always true) for threats of ``scope``.

    Raises :class:`RuleError` with the path of the offending clause.
    """
    if condition is None:
        return _Always()
    compiler = _Compiler(scope, vocabulary)
    node = compiler.clause(condition, ())
    node.paths = frozenset(compiler.used)
    return node

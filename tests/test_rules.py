"""The condition language: every operator, every combinator, every kind of bad condition."""

from __future__ import annotations

import pytest

from medthreat.rules import AttrSpec, RuleError, compile_condition

VOCAB = {
    "element": {
        "element": {
            "has_debug_port": AttrSpec("bool"),
            "max_sessions": AttrSpec("int"),
            "category": AttrSpec("str", frozenset({"device", "cloud", "app"})),
            "name": AttrSpec("str"),
            "functions": AttrSpec("list", frozenset({"therapy_delivery", "alarming"})),
            "trust": AttrSpec("trust"),
        },
        "data": {"max_confidentiality": AttrSpec("level"), "kinds": AttrSpec("list")},
    },
    "flow": {"flow": {"encrypted": AttrSpec("bool"), "range": AttrSpec("range")}},
}

CTX = {
    "element": {
        "has_debug_port": True,
        "max_sessions": 50,
        "category": "device",
        "name": "Pump",
        "functions": frozenset({"therapy_delivery"}),
        "trust": "semi_trusted",
    },
    "data": {"max_confidentiality": "high", "kinds": frozenset({"phi", "telemetry"})},
}


def holds(condition: object) -> bool:
    return compile_condition(condition, "element", VOCAB).test(CTX)


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"element.has_debug_port": True}, True),
        ({"element.has_debug_port": False}, False),
        ({"element.category": {"eq": "device"}}, True),
        ({"element.category": {"ne": "device"}}, False),
        ({"element.category": {"in": ["cloud", "device"]}}, True),
        ({"element.category": {"not_in": ["cloud", "device"]}}, False),
        ({"element.functions": {"contains": "therapy_delivery"}}, True),
        ({"element.functions": {"contains": "alarming"}}, False),
        ({"element.functions": {"contains_any": ["alarming", "therapy_delivery"]}}, True),
        ({"element.functions": {"contains_any": ["alarming"]}}, False),
        ({"element.max_sessions": {"lt": 51}}, True),
        ({"element.max_sessions": {"lt": 50}}, False),
        ({"element.max_sessions": {"le": 50}}, True),
        ({"element.max_sessions": {"gt": 50}}, False),
        ({"element.max_sessions": {"ge": 50}}, True),
        ({"data.max_confidentiality": {"ge": "medium"}}, True),
        ({"data.max_confidentiality": {"lt": "high"}}, False),
        ({"element.trust": {"lt": "trusted"}}, True),
        ({"element.trust": {"gt": "semi_trusted"}}, False),
        ({"all": [{"element.has_debug_port": True}, {"element.category": "device"}]}, True),
        ({"all": [{"element.has_debug_port": True}, {"element.category": "cloud"}]}, False),
        ({"any": [{"element.category": "cloud"}, {"element.max_sessions": {"ge": 10}}]}, True),
        ({"any": [{"element.category": "cloud"}, {"element.max_sessions": {"ge": 99}}]}, False),
        ({"not": {"element.category": "cloud"}}, True),
        ({"not": {"element.category": "device"}}, False),
        ({"element.has_debug_port": True, "element.category": "cloud"}, False),
        ({"element.has_debug_port": True, "element.category": "device"}, True),
        (None, True),
    ],
)
def test_operators(condition: object, expected: bool) -> None:
    assert holds(condition) is expected


def test_explain_names_the_clauses_that_matched() -> None:
    node = compile_condition(
        {"all": [{"element.has_debug_port": True},
                 {"any": [{"element.category": "cloud"},
                          {"element.functions": {"contains": "therapy_delivery"}}]},
                 {"not": {"element.max_sessions": {"gt": 100}}}]},
        "element", VOCAB)
    assert node.test(CTX)
    assert node.explain(CTX) == [
        "element.has_debug_port = true",
        "element.functions contains 'therapy_delivery' (is ['therapy_delivery'])",
        "not (element.max_sessions > 100)",
    ]


@pytest.mark.parametrize(
    ("condition", "path", "message"),
    [
        ({"element.has_debug_prt": True}, ("element.has_debug_prt",),
         "unknown attribute 'has_debug_prt' in namespace 'element' — did you mean "
         "'has_debug_port'?"),
        ({"elemnt.has_debug_port": True}, ("elemnt.has_debug_port",),
         "unknown namespace 'elemnt'"),
        ({"flow.encrypted": True}, ("flow.encrypted",),
         "namespace 'flow' is not available in element threats"),
        ({"element.category": {"equals": "device"}}, ("element.category",),
         "unknown operator 'equals'"),
        ({"element.category": "devise"}, ("element.category",),
         "'devise' is not a known value of element.category; expected one of app, cloud, "
         "device — did you mean 'device'?"),
        ({"element.has_debug_port": "yes"}, ("element.has_debug_port",),
         "element.has_debug_port is a boolean (true/false), got text 'yes'"),
        ({"element.max_sessions": {"ge": "many"}}, ("element.max_sessions", "ge"),
         "element.max_sessions is a number, got text 'many'"),
        ({"element.name": {"gt": "a"}}, ("element.name", "gt"),
         "gt compares numbers or ordered values; element.name is text"),
        ({"element.functions": "alarming"}, ("element.functions",),
         "element.functions is a list; use contains or contains_any, not eq"),
        ({"element.category": {"contains": "device"}}, ("element.category", "contains"),
         "contains applies to list attributes"),
        ({"element.category": {"in": "device"}}, ("element.category", "in"),
         "in expects a non-empty list of values"),
        ({"data.max_confidentiality": {"ge": "extreme"}}, ("data.max_confidentiality", "ge"),
         "'extreme' is not a known value of data.max_confidentiality"),
        ({"all": []}, ("all",), "all expects a non-empty list of clauses"),
        ({"any": {"element.category": "device"}}, ("any",), "any expects a non-empty list"),
        ({"all": [{"element.category": "device"}, "oops"]}, ("all", 1), "expected a clause"),
        ({"not": None}, ("not",), "expected a clause"),
        ({"element": True}, ("element",), "is neither all/any/not nor a namespace.attribute"),
        ({"all": [{"element.category": "device"}], "element.name": "x"}, (),
         "all/any/not must stand alone"),
        ({"element.category": {"eq": "device", "ne": "cloud"}}, ("element.category",),
         "expected one operator"),
        ([{"element.category": "device"}], (), "expected a clause"),
    ],
)
def test_bad_conditions_name_the_clause(condition: object, path: tuple, message: str) -> None:
    with pytest.raises(RuleError) as info:
        compile_condition(condition, "element", VOCAB)
    assert info.value.path == path
    assert message in info.value.message


def test_unknown_scope_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown scope"):
        compile_condition({"flow.encrypted": True}, "actor", VOCAB)


def test_flow_scope_uses_ordered_range() -> None:
    node = compile_condition({"flow.range": {"ge": "network"}, "flow.encrypted": False}, "flow",
                             VOCAB)
    assert node.test({"flow": {"range": "internet", "encrypted": False}})
    assert not node.test({"flow": {"range": "proximity", "encrypted": False}})

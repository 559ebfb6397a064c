"""Result formatting: Go %v for scalars and maps, Go json.Marshal for lists (fields.go)."""

from __future__ import annotations

import math

import pytest

from nomadctl.errors import ExpressionError
from nomadctl.manifest.expr import RoleRef, go_format
from nomadctl.manifest.expr.gofmt import IntList, JsonError, go_json, go_quote, go_type_name


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("plain", "plain"),
        (True, "true"),
        (False, "false"),
        (42, "42"),
        (-7, "-7"),
        (5.0, "5"),
        (0.5, "0.5"),
        (-0.25, "-0.25"),
        (100000.0, "100000"),
        (1e6, "1e+06"),
        (1234567.0, "1.234567e+06"),
        (1e21, "1e+21"),
        (1e-05, "1e-05"),
        (0.0001, "0.0001"),
        (1.5e-7, "1.5e-07"),
        (0.1 + 0.2, "0.30000000000000004"),
        (0.0, "0"),
        (-0.0, "-0"),
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
        (math.nan, "NaN"),
        (None, "<nil>"),
        ({"b": 1, "a": "x"}, "map[a:x b:1]"),
        ({"k": [1, "a"], "n": None, "m": {"z": True}}, "map[k:[1 a] m:map[z:true] n:<nil>]"),
        ({}, "map[]"),
        (IntList([1, 2, 3]), "[1 2 3]"),
        (RoleRef("readout", "rdf.host-a.readout"), "&{readout rdf.host-a.readout}"),
        (len, "<func>"),
    ],
)
def test_go_value_formatting(value, text):
    assert go_format(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ([], "[]"),
        (["a", "b"], '["a","b"]'),
        ([1, 2.5, True, None], "[1,2.5,true,null]"),
        ([1e21, 1e-7, 1e20, 123456789.0], "[1e+21,1e-7,100000000000000000000,123456789]"),
        (["<b>&</b>"], '["\\u003cb\\u003e\\u0026\\u003c/b\\u003e"]'),
        (['q"uote', "back\\slash", "tab\t", "nl\n", "\x01", "\u2028"], None),
        ([{"b": 1, "a": [2]}], '[{"a":[2],"b":1}]'),
        ([RoleRef("n", "p"), None], '[{"Name":"n","Path":"p"},null]'),
        (["é", "日本"], '["é","日本"]'),
        ([IntList([1, 2])], "[[1,2]]"),
    ],
)
def test_lists_are_json_marshalled_like_go(value, text):
    if text is None:
        text = '["q\\"uote","back\\\\slash","tab\\t","nl\\n","\\u0001","\\u2028"]'
    assert go_format(value) == text


def test_json_marshal_refuses_what_go_refuses():
    with pytest.raises(JsonError, match="unsupported value: NaN"):
        go_json([math.nan])
    with pytest.raises(JsonError, match="unsupported type"):
        go_json([len])


def test_json_indent_matches_marshal_indent():
    assert go_json({"a": [1, 2], "b": {}}, indent="  ") == '{\n  "a": [\n    1,\n    2\n  ],\n  "b": {}\n}'


def test_a_list_result_that_go_cannot_encode_is_an_expression_error(render):
    with pytest.raises(ExpressionError, match="json: unsupported value"):
        render("{{ [0/0] }}")


@pytest.mark.parametrize(
    ("text", "quoted"),
    [("abc", '"abc"'), ('a"b', '"a\\"b"'), ("a\nb", '"a\\nb"'), ("\x00", '"\\x00"'), ("é", '"é"')],
)
def test_go_quote(text, quoted):
    assert go_quote(text) == quoted


@pytest.mark.parametrize(
    ("value", "name"),
    [
        ("", "string"),
        (1, "int"),
        (1.0, "float64"),
        (True, "bool"),
        (None, "<nil>"),
        ([], "[]interface {}"),
        (IntList(), "[]int"),
        ({}, "map[string]interface {}"),
        (RoleRef("a", "b"), "*workflow.wfNode"),
    ],
)
def test_go_type_names(value, name):
    assert go_type_name(value) == name


def test_render_formats_each_tag(render):
    assert render("{{ 7/2 }}|{{ 1e6 }}|{{ ['a'] }}|{{ {'k': 1} }}|{{ nil }}|{{ Parent() }}") == (
        '3.5|1e+06|["a"]|map[k:1]|<nil>|'
        "&{data-distribution readout-dataflow.host-alio2-cr1-flp001.data-distribution}"
    )


def test_map_keys_sort_like_fmt():
    assert go_format({10: "a", 9: "b", 1.5: "c"}) == "map[1.5:c 9:b 10:a]"


def test_maps_with_non_string_keys_are_not_json():
    with pytest.raises(JsonError, match="unsupported type"):
        go_json([{1: "a"}])

"""expr-lang builtins: results, predicates with ``#``, and their compile- and run-time errors."""

from __future__ import annotations

import pytest

from nomadctl.errors import ExpressionError
from nomadctl.manifest.expr import compile_expression

V = {"csv": "a,b,,c", "pad": "  x  ", "hosts": '["h1","h2","h3"]', "nums": "[3,1,2]", "m": '{"b":2,"a":1}'}


@pytest.fixture
def ev(make_ctx):
    def run(text: str):
        return compile_expression(text).evaluate(make_ctx(V))

    return run


@pytest.fixture
def fails(make_ctx):
    def run(text: str) -> ExpressionError:
        with pytest.raises(ExpressionError) as err:
            compile_expression(text).evaluate(make_ctx(V))
        return err.value

    return run


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("len('héllo')", 5),  # runes, as expr's builtin len
        ("len(csv)", 6),
        ("len([1, 2])", 2),
        ("len({a: 1})", 1),
        ("len(json.Unmarshal(hosts))", 3),
        ("split(csv, ',')", ["a", "b", "", "c"]),
        ("split(csv, ',', 2)", ["a", "b,,c"]),
        ("split('abc', '')", ["a", "b", "c"]),
        ("splitAfter('a,b', ',')", ["a,", "b"]),
        ("join(['a', 'b'], '-')", "a-b"),
        ("join(['a', 'b'])", "ab"),
        ("join(split(csv, ','), '+')", "a+b++c"),
        ("trim(pad)", "x"),
        ("trim('__x__', '_')", "x"),
        ("trimPrefix('HelloWorld', 'Hello')", "World"),
        ("trimSuffix('HelloWorld', 'World')", "Hello"),
        ("upper('abc')", "ABC"),
        ("lower('ABC')", "abc"),
        ("replace('aaa', 'a', 'b')", "bbb"),
        ("repeat('ab', 3)", "ababab"),
        ("indexOf('apple pie', 'pie')", 6),
        ("lastIndexOf('apple pie apple', 'apple')", 10),
        ("hasPrefix('abc', 'ab')", True),
        ("hasSuffix('abc', 'bc')", True),
        ("filter([1, 2, 3, 4], # % 2 == 0)", [2, 4]),
        ("filter(json.Unmarshal(hosts), {# != 'h2'})", ["h1", "h3"]),
        ("map([1, 2, 3], # * 10)", [10, 20, 30]),
        ("map(['a', 'b'], #index)", [0, 1]),
        ("all([2, 4], # % 2 == 0)", True),
        ("all([], false)", True),
        ("any([1, 2], # > 1)", True),
        ("none([1, 2], # > 5)", True),
        ("one([1, 2, 3], # > 2)", True),
        ("one([1, 2, 3], # > 1)", False),
        ("count([1, 2, 3], # > 1)", 2),
        ("count([true, false, true])", 2),
        ("sum([1, 2, 3])", 6),
        ("sum([1, 2], # * 1.5)", 4.5),
        ("find([1, 2, 3, 4], # > 2)", 3),
        ("find([1], # > 2)", None),
        ("findIndex([1, 2, 3, 4], # > 2)", 2),
        ("findLast([1, 2, 3, 4], # > 2)", 4),
        ("findLastIndex([1, 2, 3, 4], # > 2)", 3),
        ("reduce(1..4, #acc + #)", 10),
        ("reduce(1..4, #acc + #, 10)", 20),
        ("sortBy(['bb', 'a', 'ccc'], len(#))", ["a", "bb", "ccc"]),
        ("groupBy([1, 2, 3], # % 2)", {1: [1, 3], 0: [2]}),
        ("filter([{n: 1}, {n: 2}], .n > 1)", [{"n": 2}]),
        ("keys(json.Unmarshal(m))", ["a", "b"]),
        ("values(json.Unmarshal(m))", [1.0, 2.0]),
        ("first([1, 2])", 1),
        ("last([1, 2])", 2),
        ("first([])", None),
        ("int('42')", 42),
        ("int(3.9)", 3),
        ("int(-3.9)", -3),
        ("float('1.5')", 1.5),
        ("float(2)", 2.0),
        ("string(42)", "42"),
        ("string(1.5)", "1.5"),
        ("string([1, 'a'])", "[1 a]"),
        ("toJSON({b: [1], a: 'x'})", '{\n  "a": "x",\n  "b": [\n    1\n  ]\n}'),
        ("fromJSON('{\"a\": [1, 2]}')", {"a": [1.0, 2.0]}),
        ("abs(-3)", 3),
        ("abs(-2.5)", 2.5),
        ("max(1, 5, 3)", 5),
        ("min(1, 5, 3)", 1),
        ("max([1, 7], 3)", 7),
        ("min(2.5, 1)", 1),
        ("mean([1, 2, 3])", 2.0),
        ("median([3, 1, 2, 4])", 2.5),
        ("ceil(1.2)", 2.0),
        ("floor(1.8)", 1.0),
        ("round(2.5)", 3.0),
        ("round(-2.5)", -3.0),
        ("type(1)", "int"),
        ("type('a')", "string"),
        ("type(nil)", "nil"),
        ("type([1])", "array"),
        ("take([1, 2, 3], 2)", [1, 2]),
        ("reverse([1, 2, 3])", [3, 2, 1]),
        ("uniq([1, 2, 1, 1.0])", [1, 2, 1.0]),
        ("concat([1], [2, 3])", [1, 2, 3]),
        ("flatten([1, [2, [3]]])", [1, 2, 3]),
        ("sort([3, 1, 2])", [1, 2, 3]),
        ("sort(['b', 'a'], 'desc')", ["b", "a"]),
        ("get([1, 2], 5)", None),
        ("get({a: 1}, 'a')", 1),
        ("toBase64('hi')", "aGk="),
        ("fromBase64('aGk=')", "hi"),
        ("bitand(12, 10)", 8),
        ("bitor(12, 10)", 14),
        ("bitxor(12, 10)", 6),
        ("bitnot(0)", -1),
        ("bitshl(1, 4)", 16),
        ("bitshr(16, 4)", 1),
    ],
)
def test_builtin_results(ev, text, value):
    result = ev(text)
    assert result == value
    assert type(result) is type(value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("len(1)", "invalid argument for len (type int)"),
        ("len(nil)", "invalid argument for len (type <nil>)"),
        ("upper(1)", "cannot use int as argument (type string) to call upper"),
        ("split(csv)", "not enough arguments to call split"),
        ("abs('x')", "invalid argument for abs (type string)"),
        ("filter(csv, true)", "builtin filter takes only array (got string)"),
        ("all([1], # + 1)", "predicate should return boolean (got int)"),
        ("filter([1], #index > 0)", "unknown pointer #index"),
        ("keys(csv)", "cannot get keys from string"),
        ("first(1)", "cannot get first element from int"),
        ("int(true)", "invalid argument for int (type bool)"),
        ("now()", "builtin now is not supported by nomadctl"),
    ],
)
def test_builtin_compile_errors(fails, text, message):
    assert fails(text).message.startswith(message)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("int(csv)", "invalid operation: int(a,b,,c)"),
        ("float(csv)", "invalid operation: float(a,b,,c)"),
        ("fromJSON(csv)", "invalid character 'a' looking for beginning of value"),
        ("fromJSON('[1,')", "unexpected end of JSON input"),
        ("repeat('a', -1)", "invalid argument for repeat (expected positive integer, got -1)"),
        ("repeat('a', 2000000)", "memory budget exceeded"),
        ("join(json.Unmarshal('[1]'))", "interface conversion: interface {} is float64, not string"),
        ("1..2000000", "memory budget exceeded"),
        ("fromBase64('***')", "illegal base64 data at input byte 0"),
        ("bitshl(1, -1)", "invalid operation: negative shift count -1 (type int)"),
        ("all(json.Unmarshal(csv), true)", "builtin all takes only array (got <nil>)"),
    ],
)
def test_builtin_runtime_errors(fails, text, message):
    assert fails(text).message == message


def test_sort_of_mixed_kinds_fails(fails):
    assert fails("sort([1, 'a'])").message in (
        "invalid operation: int < string",
        "invalid operation: string < int",
    )


def test_builtin_name_defined_by_the_environment_is_called_instead(make_ctx):
    # expr parses ``name(...)`` as a call of the environment's ``name`` when it defines one
    ctx = make_ctx(V, extra={"upper": lambda s: f"<{s}>"})
    assert compile_expression("upper('a')").evaluate(ctx) == "<a>"
    ctx = make_ctx({**V, "len": "7"})
    with pytest.raises(ExpressionError, match="string is not callable"):
        compile_expression("len(csv)").evaluate(ctx)
    # without the override it is the builtin again
    assert compile_expression("upper('a')").evaluate(make_ctx(V)) == "A"

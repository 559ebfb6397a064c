"""Operators and literals with expr-lang/Go semantics, over the types that occur in manifests."""

from __future__ import annotations

import math

import pytest

from nomadctl.errors import ExpressionError
from nomadctl.manifest.expr import compile_expression

V = {"s": "abc", "t": "true", "f": "false", "n": "42", "e": "", "h": '["a","b"]', "m": '{"k":"v","n":1}'}


@pytest.fixture
def ev(make_ctx):
    def run(text: str, variables=None, **kwargs):
        return compile_expression(text).evaluate(make_ctx(V if variables is None else variables, **kwargs))

    return run


@pytest.fixture
def fails(make_ctx):
    def run(text: str, variables=None) -> ExpressionError:
        with pytest.raises(ExpressionError) as err:
            compile_expression(text).evaluate(make_ctx(V if variables is None else variables))
        return err.value

    return run


# ---------------------------------------------------------------- literals


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("42", 42),
        ("0x2A", 42),
        ("0X2a", 42),
        ("0o52", 42),
        ("0b101010", 42),
        ("1_000", 1000),
        ("0.5", 0.5),
        (".5", 0.5),
        ("1e3", 1000.0),
        ("1.5e-3", 0.0015),
        ("true", True),
        ("false", False),
        ("nil", None),
        ("'single'", "single"),
        ('"double"', "double"),
        ("`raw \\n ${x}`", "raw \\n ${x}"),
        ("`a``b`", "a`b"),
        (r'"tab\there"', "tab\there"),
        (r'"quote\"inside"', 'quote"inside'),
        (r"'quote\'inside'", "quote'inside"),
        (r'"\x41\101\u0041\U00000041\u{41}"', "AAAAA"),
        (r'"\u00e9"', "é"),
        ("[1, 'a', true]", [1, "a", True]),
        ("[1, 2,]", [1, 2]),
        ("[]", []),
        ("{a: 1, 'b': 2, 3: 'c'}", {"a": 1, "b": 2, "3": "c"}),
        ("{('k' + 'ey'): 1}", {"key": 1}),
        ("/* comment */ 1 // trailing", 1),
    ],
)
def test_literals(ev, text, value):
    assert ev(text) == value
    assert type(ev(text)) is type(value)


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ("'abc", "literal not terminated", 4),
        ('"a\\qb"', "invalid char escape", 3),
        ("12abc", 'bad number syntax: "12a"', 2),
        ("a @ b", "unrecognized character: U+0040 '@'", 2),
        ("a +", "unexpected token EOF", 2),
        ("(a", "unexpected token EOF", 1),
        ("a b", 'unexpected token Identifier("b")', 2),
        ("a ? b", "unexpected token EOF", 4),
        ("[1 2]", 'unexpected token Number("2")', 3),
        ("/* open", "unclosed comment", 7),
        (
            "a ?? b || c",
            "Operator (||) and coalesce expressions (??) cannot be mixed. Wrap either by parentheses.",
            7,
        ),
        ("a.1", 'unexpected token Number(".1")', 1),
        ("a.(b)", "expected name", 3),
        ("a not b", 'unexpected token Identifier("b")', 6),
        ("99999999999999999999", "invalid integer literal", 0),
    ],
)
def test_syntax_errors_and_carets(fails, text, message, column):
    err = fails(text)
    assert err.message.startswith(message)
    assert err.column == column
    assert err.expression == text
    assert (err.file, err.role_path, err.field) == (None, None, None)


def test_caret_is_drawn_under_the_column(fails):
    err = fails("s + + ")
    assert err.details()[1].index("^") - 7 == err.column


# ---------------------------------------------------------------- equality and comparison


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("s == 'abc'", True),
        ("s != 'abc'", False),
        ("t == 'true'", True),
        ("n == '42'", True),
        ("1 == 1.0", True),
        ("1 != 2", True),
        ("nil == nil", True),
        ("s == nil", False),
        ("[1, 'a'] == [1, 'a']", True),
        ("[1] == [1.0]", True),
        ("{a: 1} == {a: 1}", True),
        ("{a: 1} == {a: 1.0}", False),  # maps compare with reflect.DeepEqual
        ("true == true", True),
        ("'10' < '9'", True),  # string comparison, byte order
        ("'b' > 'a'", True),
        ("'a' <= 'a'", True),
        ("2 >= 2.5", False),
        ("1 < 2 < 3", True),  # chained comparisons
        ("3 > 2 > 2", False),
    ],
)
def test_equality_and_comparison(ev, text, value):
    assert ev(text) is value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # variables are strings: comparing one with a bool or a number does not even compile
        ("t == true", "invalid operation: == (mismatched types string and bool)"),
        ("n == 42", "invalid operation: == (mismatched types string and int)"),
        ("s == [s]", "invalid operation: == (mismatched types string and []interface {})"),
    ],
)
def test_equality_of_mismatched_static_types_is_a_compile_error(fails, text, message):
    assert fails(text).message == message


def test_equality_of_mismatched_types_at_run_time_is_false(ev):
    assert ev("json.Unmarshal('1') == '1'") is False
    assert ev("json.Unmarshal('true') == 1") is False


def test_comparison_of_mismatched_types_is_a_compile_error(fails):
    err = fails("n > 0")
    assert err.message == "invalid operation: > (mismatched types string and int)"
    assert err.column == 2


def test_compile_error_even_in_untaken_branch(fails):
    err = fails("false ? n > 0 : 'x'")
    assert err.message == "invalid operation: > (mismatched types string and int)"


def test_comparison_of_mismatched_types_at_run_time(fails):
    err = fails("json.Unmarshal(m) > 1")
    assert err.message == "invalid operation: map[string]interface {} > int"


# ---------------------------------------------------------------- logic


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("true && false", False),
        ("true and true", True),
        ("false || true", True),
        ("false or false", False),
        ("!true", False),
        ("not false", True),
        ("!(s == 'x')", True),
        ("t == 'true' && f == 'false'", True),
        ("true || nope_is_not_evaluated()", True),
    ],
)
def test_logic(ev, text, value, make_ctx):
    if "nope" in text:
        # an untyped callee is not checked, and || never evaluates it
        ctx = make_ctx({**V, "nope_is_not_evaluated": "x"}, extra={"nope_is_not_evaluated": lambda: 1 / 0})
        assert compile_expression(text).evaluate(ctx) is value
    else:
        assert ev(text) is value


def test_and_or_are_lazy_at_run_time(ev):
    assert ev("false && Up(9).Path == 'x'") is False
    assert ev("true || Up(9).Path == 'x'") is True


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("s && true", "invalid operation: && (mismatched types string and bool)"),
        ("true || s", "invalid operation: || (mismatched types bool and string)"),
        ("!s", "invalid operation: ! (mismatched type string)"),
        ("s ? 1 : 2", "non-bool expression (type string) used as condition"),
    ],
)
def test_logic_on_strings_is_a_compile_error(fails, text, message):
    assert fails(text).message == message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("json.Unmarshal(h) && true", "interface conversion: interface {} is []interface {}, not bool"),
        ("!json.Unmarshal(s)", "interface conversion: interface {} is nil, not bool"),
        ("json.Unmarshal('1') ? 1 : 2", "interface conversion: interface {} is float64, not bool"),
    ],
)
def test_logic_on_non_bools_at_run_time(fails, text, message):
    assert fails(text).message == message


def test_and_returns_the_right_operand_unchanged(ev):
    # expr asserts only the left operand; an untyped right operand passes through
    assert ev("true && json.Unmarshal('3')") == 3.0


# ---------------------------------------------------------------- arithmetic


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1 + 2", 3),
        ("1 + 2.5", 3.5),
        ("'a' + 'b'", "ab"),
        ("s + '-' + n", "abc-42"),
        ("7 - 10", -3),
        ("3 * 4", 12),
        ("7 / 2", 3.5),
        ("8 / 2", 4.0),
        ("7 % 3", 1),
        ("-7 % 3", -1),  # Go truncates toward zero
        ("2 ** 10", 1024.0),
        ("2 ^ 3 ^ 2", 512.0),  # right associative
        ("-2 ** 2", -4.0),
        ("-(1 + 2)", -3),
        ("+3", 3),
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("strings.Atoi(n) + 1", 43),
        ("9223372036854775807 + 1", -9223372036854775808),  # int64 wraps
    ],
)
def test_arithmetic(ev, text, value):
    result = ev(text)
    assert result == value
    assert type(result) is type(value)


def test_division_by_zero_is_infinite_as_in_go(ev):
    assert ev("1 / 0") == math.inf
    assert ev("-1 / 0") == -math.inf
    assert math.isnan(ev("0 / 0"))


def test_modulo_by_zero_fails(fails):
    assert fails("strings.Atoi(e) % strings.Atoi(e)").message == "runtime error: integer divide by zero"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("n + 1", "invalid operation: + (mismatched types string and int)"),
        ("s - s", "invalid operation: - (mismatched types string and string)"),
        ("s * 2", "invalid operation: * (mismatched types string and int)"),
        ("1.5 % 2", "invalid operation: % (mismatched types float64 and int)"),
        ("-s", "invalid operation: - (mismatched type string)"),
        ("nil + 'x'", "invalid operation: + (mismatched types unknown and string)"),
    ],
)
def test_arithmetic_type_errors_at_compile_time(fails, text, message):
    assert fails(text).message == message


def test_plus_with_nil_at_run_time_fails_as_in_aliecs(fails):
    # AliECS registers expr.Operator("+", "addNil"), but its parameters are *string and no
    # operand in an AliECS environment has that static type: the overload never applies.
    err = fails("json.Unmarshal(s) + 'x'")
    assert err.message == "invalid operation: <nil> + string"
    assert err.column == 18


# ---------------------------------------------------------------- membership and strings


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("'a' in ['a', 'b']", True),
        ("'c' in ['a', 'b']", False),
        ("1 in [1.0]", True),
        ("'a' in json.Unmarshal(h)", True),
        ("'a' not in json.Unmarshal(h)", False),
        ("'k' in json.Unmarshal(m)", True),
        ("'x' in json.Unmarshal(m)", False),
        ("'a' in json.Unmarshal('null')", False),
        ("'Path' in Parent()", True),
        ("'Other' in Parent()", False),
        ("s contains 'b'", True),
        ("s not contains 'b'", False),
        ("h contains 'a'", True),  # substring test on a JSON string (production: detectors contains 'ITS')
        ("s startsWith 'ab'", True),
        ("s endsWith 'bc'", True),
        ("s not endsWith 'bc'", False),
        ("s matches '^a.c$'", True),
        ("s matches 'x'", False),
        ("'A1' matches '\\\\d'", True),
        ("json.Unmarshal(s) contains 'x'", False),  # nil operand: false, not an error
    ],
)
def test_membership_and_string_operators(ev, text, value):
    assert ev(text) is value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("'a' in s", "invalid operation: in (mismatched types string and string)"),
        ("1 in ['a']", "cannot use int as type string in array"),
        ("1 in {a: 1}", "cannot use int as type string in map key"),
        ("s contains 1", "invalid operation: contains (mismatched types string and int)"),
        ("s matches '('", "error parsing regexp"),
        ("s matches '(?=x)'", "error parsing regexp: invalid or unsupported Perl syntax"),
    ],
)
def test_membership_type_errors(fails, text, message):
    assert fails(text).message.startswith(message)


def test_in_on_a_non_collection_at_run_time(fails):
    assert fails("'a' in json.Unmarshal('1')").message == 'operator "in" not defined on float64'


# ---------------------------------------------------------------- nil coalescing, ranges


def test_nil_coalescing(ev):
    assert ev("json.Unmarshal(s) ?? 'fallback'") == "fallback"
    assert ev("s ?? 'fallback'") == "abc"
    assert ev("nil ?? nil") is None


def test_range(ev, render):
    assert ev("1..3") == [1, 2, 3]
    assert ev("3..1") == []
    assert render("{{ 1..3 }}") == "[1 2 3]"  # a Go []int prints with %v


# ---------------------------------------------------------------- indexing, slicing, members


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("json.Unmarshal(h)[0]", "a"),
        ("json.Unmarshal(h)[-1]", "b"),
        ("json.Unmarshal(m).k", "v"),
        ("json.Unmarshal(m)['k']", "v"),
        ("json.Unmarshal(m).missing", None),  # a missing map key is the zero value, nil
        ("json.Unmarshal(m)?.k", "v"),
        ("json.Unmarshal(s)?.k", None),
        ("json.Unmarshal(s)?.k.deeper", None),  # the whole chain is nil
        ("json.Unmarshal(s)?.[0]", None),
        ("[1, 2, 3, 4][1:3]", [2, 3]),
        ("[1, 2, 3, 4][:2]", [1, 2]),
        ("[1, 2, 3, 4][2:]", [3, 4]),
        ("[1, 2, 3, 4][-2:]", [3, 4]),
        ("[1, 2, 3, 4][3:1]", []),
        ("[1, 2][5:9]", []),
        ("s[1:]", "bc"),
        ("s[:-1]", "ab"),
        ("json.Unmarshal(h)[1:]", ["b"]),
        ("testplugin.test", "test_data"),
        ("Parent().Name", "data-distribution"),
    ],
)
def test_indexing_slicing_members(ev, text, value):
    assert ev(text) == value


def test_string_index_is_a_byte_and_a_compile_error_on_string_variables(ev, fails):
    # expr's checker has no string indexing; an untyped string yields a Go byte
    assert fails("s[0]").message == "type string[int] is undefined"
    assert ev("json.Unmarshal('\"abc\"')[0]") == 97


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ("json.Unmarshal(h)[5]", "index out of range: 5 (array length is 2)", 17),
        ("json.Unmarshal(s).x", "cannot fetch x from <nil>", 18),
        ("Up(9).Path", "cannot fetch Path from <nil>", 6),
        ("json.Unmarshal(h).x", "invalid operation: int(string)", 18),
    ],
)
def test_runtime_member_errors_with_carets(fails, text, message, column):
    err = fails(text)
    assert err.message == message
    assert err.column == column


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("s.foo", "type string has no field foo"),
        ("s.foo()", "type string has no method foo"),
        ("Parent().Nope", "type workflow.wfNode has no field Nope"),
        ("[1][s]", "array elements can only be selected using an integer (got string)"),
        ("(1)[:2]", "cannot slice int"),
        ("[1][s:]", "non-integer slice index string"),
        ("s()", "string is not callable"),
    ],
)
def test_member_type_errors_at_compile_time(fails, text, message):
    assert fails(text).message == message


# ---------------------------------------------------------------- misc syntax


def test_let_sequence_and_if_else(ev):
    assert ev("let x = s + '!'; x + x") == "abc!abc!"
    assert ev("1; 2; 3") == 3
    assert ev("if t == 'true' { 'yes' } else { 'no' }") == "yes"
    assert ev("if false { 1 } else if true { 2 } else { 3 }") == 2


def test_let_cannot_redeclare_a_defined_name(fails):
    assert fails("let s = 1; s").message == "cannot redeclare s"


def test_pipe_operator(ev):
    assert ev("s | upper()") == "ABC"
    assert ev("'a,b' | split(',') | join('-')") == "a-b"


def test_nested_ternaries(ev):
    assert ev("t == 'x' ? 1 : f == 'false' ? 2 : 3") == 2


def test_elvis_form(ev):
    assert ev("t == 'true' ?: false") is True

"""Property tests: whatever the input, the engine answers with a value or an ExpressionError."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nomadctl.errors import ExpressionError
from nomadctl.manifest.expr import (
    EvalContext,
    FunctionLibrary,
    UidGenerator,
    compile_expression,
    compile_template,
)
from nomadctl.providers.file import FileKVProvider
from tests.manifest.expr.conftest import DD, HOST, KV_DATA, ROOT

VARS = {"s": "abc", "t": "true", "n": "42", "e": "", "j": '["a",1,{"k":null}]', "m": '{"a":[1,2]}'}
LIB = FunctionLibrary(FileKVProvider(KV_DATA), UidGenerator(seed=1))
CTX = EvalContext(VARS, LIB, (DD, HOST, ROOT), extra={"f": lambda *a: len(a)})

SETTINGS = settings(
    max_examples=400, deadline=500, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)

EXPR_ALPHABET = st.sampled_from(
    [*"abnst0123456789 .,:;?!&|=<>+-*/%^#()[]{}'\"`\\$_@~", "{{", "}}", "..", "??", "?.", "**", "\n", "é"]
)


def _outcome(fn) -> tuple[object, ExpressionError | None]:
    try:
        return fn(), None
    except ExpressionError as exc:
        return None, exc


def _check_error(exc: ExpressionError) -> None:
    assert not exc.message.startswith("internal error"), exc.message
    assert isinstance(exc.column, int)
    assert 0 <= exc.column <= len(exc.expression) + 1
    assert len(exc.details()) == 2


def _run_template(text: str) -> None:
    result, error = _outcome(lambda: compile_template(text).render(CTX))
    if error is not None:
        _check_error(error)
    else:
        assert isinstance(result, str)


@SETTINGS
@given(st.text(max_size=60))
def test_random_text_as_template(text):
    _run_template(text)


@SETTINGS
@given(st.lists(EXPR_ALPHABET, max_size=40).map("".join))
def test_random_symbols_as_expression(text):
    _run_template("{{" + text + "}}")


# -------------------------------------------------------------- well-formed expressions

ATOMS = st.sampled_from(
    [
        "s",
        "t",
        "n",
        "e",
        "j",
        "m",
        "nil",
        "true",
        "false",
        "0",
        "1",
        "-3",
        "2.5",
        "1e300",
        "'x'",
        '"a,b"',
        "[1, 'a']",
        "{k: 1}",
        "json.Unmarshal(j)",
        "json.Unmarshal(m)",
        "strings.Atoi(n)",
        "Parent()",
        "Up(4)",
        "Up(2).Path",
        "uid.New()",
        "testplugin.test",
        "f(1, 2)",
        "1..3",
    ]
)
UNARY = st.sampled_from(["!", "-", "not ", "+"])
BINARY = st.sampled_from(
    [
        "==",
        "!=",
        "<",
        ">=",
        "&&",
        "||",
        "and",
        "+",
        "-",
        "*",
        "/",
        "%",
        "**",
        "in",
        "not in",
        "contains",
        "startsWith",
        "matches",
        "??",
        "..",
    ]
)
CALLS = st.sampled_from(
    [
        "len",
        "string",
        "int",
        "float",
        "upper",
        "trim",
        "toJSON",
        "fromJSON",
        "first",
        "keys",
        "abs",
        "type",
        "strings.ToUpper",
        "strings.IsFalsy",
        "json.Marshal",
        "json.Sort",
        "util.SuffixInRange",
    ]
)


def _combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(UNARY, children).map(lambda p: f"{p[0]}({p[1]})"),
        st.tuples(children, BINARY, children).map(lambda p: f"({p[0]} {p[1]} {p[2]})"),
        st.tuples(children, children, children).map(lambda p: f"({p[0]} ? {p[1]} : {p[2]})"),
        st.tuples(CALLS, st.lists(children, max_size=3)).map(lambda p: f"{p[0]}({', '.join(p[1])})"),
        st.tuples(children, children).map(lambda p: f"{p[0]}[{p[1]}]"),
        st.tuples(children, st.sampled_from(["a", "k", "Path", "Name"])).map(lambda p: f"{p[0]}?.{p[1]}"),
        st.tuples(children, children).map(lambda p: f"filter({p[0]}, {p[1]})"),
        st.tuples(children, children).map(lambda p: f"map({p[0]}, # == {p[1]})"),
        st.lists(children, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
    )


WELL_FORMED = st.recursive(ATOMS, _combine, max_leaves=12)


@SETTINGS
@given(WELL_FORMED)
def test_well_formed_expressions_evaluate_or_fail_cleanly(text):
    expression, error = _outcome(lambda: compile_expression(text))
    if error is not None:
        _check_error(error)
        return
    assert expression is not None
    _value, error = _outcome(lambda: expression.evaluate(CTX))
    if error is not None:
        _check_error(error)
        assert error.expression == text
        return
    # whatever came out can be formatted (or is refused as Go's encoder would)
    rendered, error = _outcome(lambda: expression.render(CTX))
    if error is not None:
        assert "json: unsupported" in error.message or "nested too deeply" in error.message
    else:
        assert isinstance(rendered, str)

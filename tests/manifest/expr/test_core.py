"""The engine's contract in a few strokes: splitting, strictness, laziness, formatting, errors."""

from __future__ import annotations

import pytest

from nomadctl.errors import ExpressionError
from nomadctl.manifest.expr import compile_expression, compile_template


def test_static_text_is_returned_as_is(render):
    tpl = compile_template("plain text, no tags")
    assert tpl.is_static
    assert tpl.names == frozenset()
    assert render("plain text, no tags") == "plain text, no tags"


def test_two_tags_in_one_field(render):
    assert render("stfb-{{ it }}-{{ dd_enabled }}") == "stfb-alio2-cr1-flp001-true"


def test_names_are_the_free_identifiers():
    tpl = compile_template("{{ a == 'x' ? strings.ToUpper(b) : Up(2).Path }}-{{ c }}")
    assert tpl.names == frozenset({"a", "strings", "b", "Up", "c"})


def test_unknown_name_fails_even_in_untaken_branch(render):
    with pytest.raises(ExpressionError) as err:
        render("{{ true ? it : nope }}")
    assert err.value.message == "unknown name nope"
    assert err.value.expression == " true ? it : nope "
    assert err.value.column == len(" true ? it : ")


def test_ternary_is_lazy_at_run_time(render):
    # the untaken branch would fail at run time (nil.Path), but it is never run
    assert render("{{ true ? 'ok' : Up(9).Path }}") == "ok"


def test_cache_identity():
    assert compile_template("{{ a }}-{{ b }}") is compile_template("{{ a }}-{{ b }}")
    assert compile_expression("a == b") is compile_expression("a == b")


def test_unclosed_tag_is_an_error():
    with pytest.raises(ExpressionError, match="Cannot find end tag"):
        compile_template("x {{ it ")


@pytest.mark.parametrize(
    "text",
    [
        "{{" + "(" * 3000 + "1" + ")" * 3000 + "}}",
        "{{" + "-" * 3000 + "1}}",
        "{{" + "[" * 3000 + "]" * 3000 + "}}",
    ],
)
def test_absurd_nesting_is_an_expression_error(render, text):
    with pytest.raises(ExpressionError, match="nested too deeply"):
        render(text)


def test_deep_but_sane_nesting_works(render):
    assert render("{{" + "(" * 100 + "1" + ")" * 100 + "}}") == "1"


def test_an_error_is_raised_fresh_each_time():
    # callers fill in the location with locate(); a cached error must not carry an old one
    with pytest.raises(ExpressionError) as first:
        compile_template("{{ a + }}")
    first.value.locate(file="a.yaml", role_path="root.x", field="enabled")
    with pytest.raises(ExpressionError) as second:
        compile_template("{{ a + }}")
    assert second.value.file is None
    assert second.value.role_path is None
    assert str(first.value) == "a.yaml: root.x: enabled: unexpected token EOF"


def test_expression_render_formats_like_a_tag(make_ctx):
    ctx = make_ctx()
    assert compile_expression("[1, 2]").render(ctx) == "[1,2]"
    assert compile_expression("1..2").render(ctx) == "[1 2]"
    assert compile_expression("[1, 2]").evaluate(ctx) == [1, 2]

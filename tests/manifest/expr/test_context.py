"""Name resolution: strictness, the object stack, resolution order, typed function calls."""

from __future__ import annotations

import pytest

from nomadctl.errors import ExpressionError
from nomadctl.manifest.expr import (
    FunctionLibrary,
    RoleRef,
    UidGenerator,
    compile_expression,
    compile_template,
)
from tests.manifest.expr.conftest import DD, HOST, ROOT

V = {"it": "alio2-cr1-flp001", "s": "x"}


def ev(make_ctx, text, variables=None, **kwargs):
    return compile_expression(text).evaluate(make_ctx(V if variables is None else variables, **kwargs))


def err(make_ctx, text, variables=None, **kwargs) -> ExpressionError:
    with pytest.raises(ExpressionError) as exc:
        ev(make_ctx, text, variables, **kwargs)
    return exc.value


# ---------------------------------------------------------------- strict names


@pytest.mark.parametrize(
    ("text", "column"),
    [
        ("nope", 0),
        ("s == 'x' || nope == 'y'", 12),
        ("false && nope", 9),
        ("true ? s : nope", 11),
        ("[s, nope][0]", 4),
        ("len(nope)", 4),
        ("Atoi(nope)", 5),  # a typed top-level function checks its arguments
        ("filter([1], nope)", 12),
    ],
)
def test_unknown_names_fail_wherever_the_checker_looks(make_ctx, text, column):
    e = err(make_ctx, text)
    assert e.message == "unknown name nope"
    assert e.column == column


@pytest.mark.parametrize(
    ("text", "value"),
    [
        # expr does not type-check the arguments of an untyped callee (a map member function):
        # an undefined name there is nil, and a Go string parameter receives "" for nil
        ("strings.IsFalsy(nope)", True),
        ("strings.ToUpper(nope)", ""),
        ("util.PrefixedOverride('x', nope)", ""),
        ("json.Unmarshal(nope)", None),
    ],
)
def test_undefined_names_in_untyped_calls_are_nil_as_in_aliecs(make_ctx, text, value):
    assert ev(make_ctx, text) == value


def test_same_expression_checked_per_context(make_ctx):
    expr = compile_expression("a == 'x'")
    assert expr.evaluate(make_ctx({"a": "x"})) is True
    with pytest.raises(ExpressionError, match="unknown name a"):
        expr.evaluate(make_ctx({}))
    with pytest.raises(ExpressionError, match=r"mismatched types \[\]interface \{\} and string"):
        expr.evaluate(make_ctx({}, extra={"a": [1]}))
    assert expr.evaluate(make_ctx({"a": "y"})) is False


# ---------------------------------------------------------------- object stack


def test_parent_and_up_walk_the_chain(make_ctx):
    assert ev(make_ctx, "Parent()") == DD
    assert ev(make_ctx, "Parent().Path") == DD.path
    assert ev(make_ctx, "Up(1).Name") == DD.name
    assert ev(make_ctx, "Up(2).Path") == HOST.path
    assert ev(make_ctx, "Up(3).Path") == ROOT.path


@pytest.mark.parametrize("levels", [0, -1, 4, 100])
def test_up_outside_the_chain_is_nil(make_ctx, levels):
    assert ev(make_ctx, f"Up({levels})") is None
    assert ev(make_ctx, f"Up({levels}) == nil") is True
    e = err(make_ctx, f"Up({levels}).Path")
    assert e.message == "cannot fetch Path from <nil>"


def test_parent_of_the_root_is_nil(make_ctx, render):
    assert ev(make_ctx, "Parent()", chain=()) is None
    assert render("{{ Parent() }}", chain=()) == "<nil>"
    assert err(make_ctx, "Parent().Path", chain=()).message == "cannot fetch Path from <nil>"


def test_no_object_stack_in_task_templates(make_ctx):
    for name in ("Parent()", "Up(1)", "This()"):
        e = err(make_ctx, name, chain=None)
        assert e.message == f"unknown name {name.split('(')[0]}"


def test_this_exists_only_when_set(make_ctx):
    assert err(make_ctx, "This().Path").message == "unknown name This"
    me = RoleRef("stfb", "rdf.host.stfb")
    assert ev(make_ctx, "This().Path", this=me) == "rdf.host.stfb"


def test_up_takes_an_int(make_ctx):
    assert err(make_ctx, "Up('2')").message == "cannot use string as argument (type int) to call Up"
    assert err(make_ctx, "Up()").message == "not enough arguments to call Up"


def test_role_refs_compare_by_value(make_ctx):
    assert ev(make_ctx, "Parent() == Up(1)") is True
    assert ev(make_ctx, "Parent() == Up(2)") is False


# ---------------------------------------------------------------- resolution order


def test_library_objects_override_variables(make_ctx):
    # a variable cannot shadow ``strings``: the util map is added after the variables
    assert ev(make_ctx, "strings.ToUpper('a')", {"strings": "shadow"}) == "A"


def test_extra_overrides_everything(make_ctx):
    assert ev(make_ctx, "s", extra={"s": "from-extra"}) == "from-extra"
    assert ev(make_ctx, "strings", extra={"strings": "replaced"}) == "replaced"


def test_extra_maps_merge_into_library_maps(make_ctx):
    extra = {"odc": {"Configure": lambda: "configured"}}
    assert ev(make_ctx, "odc.Configure()", extra=extra) == "configured"
    assert ev(make_ctx, "odc.GenerateEPNTopologyFullname()", extra=extra) == ""


def test_plugins_argument_adds_and_merges(kv, make_ctx):
    lib = FunctionLibrary(
        kv, UidGenerator(seed=1), plugins={"dcs": {"Ping": lambda: "pong"}, "odc": {"X": lambda: 1}}
    )
    assert ev(make_ctx, "dcs.Ping()", lib=lib) == "pong"
    assert ev(make_ctx, "odc.X()", lib=lib) == 1
    assert ev(make_ctx, "odc.GenerateEPNTopologyFullname()", lib=lib) == ""
    assert err(make_ctx, "dcs.Ping()").message == "unknown name dcs"


def test_unknown_member_of_a_map_is_nil_and_calling_it_fails(make_ctx):
    assert ev(make_ctx, "odc.Nothing") is None
    e = err(make_ctx, "odc.Nothing()")
    assert e.message == "invalid operation: cannot call nil"
    assert e.column == 4


def test_env_variable_denotes_the_whole_environment(make_ctx):
    assert ev(make_ctx, "'it' in $env") is True
    assert ev(make_ctx, "'nope' in $env") is False
    assert ev(make_ctx, "$env['it']") == "alio2-cr1-flp001"
    assert ev(make_ctx, "$env.strings.ToUpper('a')") == "A"


def test_dpl_exists_only_with_a_resolver(make_ctx):
    assert err(make_ctx, "dpl.Generate('x')").message == "unknown name dpl"


# ---------------------------------------------------------------- typed functions


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Atoi(1)", "cannot use int as argument (type string) to call Atoi"),
        ("Itoa('1')", "cannot use string as argument (type int) to call Itoa"),
        ("ToUpper('a', 'b')", "too many arguments to call ToUpper"),
        ("IsFalsy(nil)", "cannot use nil as argument (type string) to call IsFalsy"),
        ("Nullable(s)", "cannot use string as argument (type *string) to call Nullable"),
        ("GetConfig()", "not enough arguments to call GetConfig"),
    ],
)
def test_top_level_functions_are_type_checked(make_ctx, text, message):
    assert err(make_ctx, text).message == message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("strings.Itoa('1')", "reflect: Call using string as type int"),
        ("strings.ToUpper()", "reflect: Call with too few input arguments"),
        ("strings.ToUpper('a', 'b')", "reflect: Call with too many input arguments"),
        ("util.Nullable(s)", "reflect: Call using string as type *string"),
    ],
)
def test_map_member_functions_fail_at_call_time(make_ctx, text, message):
    e = err(make_ctx, text)
    assert e.message == message


def test_nil_arguments_become_zero_values(make_ctx):
    assert ev(make_ctx, "strings.Itoa(nil)") == "0"
    assert ev(make_ctx, "Nullable(nil)") == ""
    assert ev(make_ctx, "util.Nullable(nil)") == ""


def test_plain_python_callables_are_untyped(make_ctx):
    extra = {"f": lambda *a: "-".join(map(str, a)), "boom": lambda: 1 / 0}
    assert ev(make_ctx, "f(1, 'a')", extra=extra) == "1-a"
    assert err(make_ctx, "boom()", extra=extra).message == "ZeroDivisionError: division by zero"


def test_template_names_and_probe(make_ctx):
    tpl = compile_template("{{ let x = s; x + it }}")
    assert tpl.names == frozenset({"s", "it"})
    assert tpl.render(make_ctx(V)) == "xalio2-cr1-flp001"

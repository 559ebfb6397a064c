"""The ``{{ }}`` expression language of AliECS manifests: expr-lang v1.17.7 with Go semantics.

Fields of workflow and task templates are texts with ``{{ expression }}`` tags. AliECS evaluates
each tag with github.com/expr-lang/expr against an environment of string variables and functions
(reference §3); this package reproduces that: strict names, Go typing and ``%v`` formatting, the
AliECS function library with its Consul-KV lookups, and ``config.Get`` payloads rendered with
Jinja2 (pongo2 semantics). Expressions compile once to Python closures; nothing reaches ``eval``.

    tpl = compile_template("stfb-{{ it }}-{{ uid.New() }}")
    ctx = EvalContext(variables={"it": "flp001"}, library=FunctionLibrary(kv, UidGenerator(seed=1)))
    tpl.render(ctx)

Every failure is an ``ExpressionError`` carrying the tag body and the 0-based column of the fault;
callers add the file, role path and field with ``.locate()``.

Fidelity notes (where behaviour follows the Go source rather than a simpler reading of it):

* Type errors are compile errors, as in expr: ``n > 0`` with a string ``n`` fails even in a branch
  that never runs. Undefined names are errors wherever expr's checker looks, but expr does not
  look inside the arguments of an untyped callee (every map member function, e.g.
  ``strings.IsFalsy(x)``): there an undefined name is nil, and a Go ``string`` parameter gets
  ``""`` - exactly what AliECS does.
* ``expr.Operator("+", "addNil")`` in AliECS never applies: its parameters are ``*string`` and no
  operand in an AliECS environment has that static type. ``nil + "x"`` is therefore a compile
  error and an untyped nil operand a run-time error, as in AliECS.
* ``.Path`` on a nil role (``Up(n)`` beyond the root) fails with ``cannot fetch Path from <nil>``;
  Go's own text there is a reflect panic (``reflect: call of reflect.Value.Field on zero Value``).
* Go prints pointers and functions nested in values as addresses; the engine prints a ``RoleRef``
  as ``&{name path}`` and a function as ``<func>`` everywhere, so output is reproducible.
* ``matches`` uses Python's ``re`` on the RE2 subset both share; patterns only one of them accepts,
  and nested repetitions (exponential for a backtracking engine), are rejected with a clear error.
  The date/time builtins (``now``, ``date``, ``duration``, ``timezone``) are rejected.
* Map iteration is sorted where Go's is random (``keys``, ``values``, CRU cards, ``%v`` of maps).
* ``config.Get`` payloads render with Jinja2 in a sandbox, not pongo2: syntax and filters are
  Jinja2's, an include with a leading ``/`` is absolute (AliECS's loader would reject the slash),
  and error payload texts are Jinja2's.
* ``runtime.Set`` refuses keys outside ``o2/runtime/``; ``util.Dump`` is off unless allowed and then
  writes only inside the configured directory.
"""

from nomadctl.manifest.expr.context import DplResolver, EvalContext, RoleRef
from nomadctl.manifest.expr.functions import FunctionLibrary, KVStore
from nomadctl.manifest.expr.gofmt import go_format
from nomadctl.manifest.expr.template import Expression, Template, compile_expression, compile_template
from nomadctl.manifest.expr.uid import UidGenerator

__all__ = [
    "DplResolver",
    "EvalContext",
    "Expression",
    "FunctionLibrary",
    "KVStore",
    "RoleRef",
    "Template",
    "UidGenerator",
    "compile_expression",
    "compile_template",
    "go_format",
]

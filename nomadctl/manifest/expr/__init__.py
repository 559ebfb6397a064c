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

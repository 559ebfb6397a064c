"""Parser for expr-lang v1.17.7 (``parser/parser.go``): same grammar, precedences and messages.

``overrides`` are builtin names that the environment defines: expr then parses ``name(...)`` as a
call of the environment's value instead of the builtin (``conf.IsOverridden``).
"""

from __future__ import annotations

from nomadctl.manifest.expr import nodes as n
from nomadctl.manifest.expr.lexer import (
    BRACKET,
    EOF,
    IDENT,
    NUMBER,
    OPERATOR,
    STRING,
    ExprSyntaxError,
    Token,
    tokenize,
)

__all__ = ["BUILTINS", "MAX_NODES", "PREDICATE_BUILTINS", "parse"]

MAX_NODES = 10_000

_EXPR = 1
_PREDICATE = 2
_OPTIONAL = 128

PREDICATE_BUILTINS: dict[str, tuple[int, ...]] = {
    "all": (_EXPR, _PREDICATE),
    "none": (_EXPR, _PREDICATE),
    "any": (_EXPR, _PREDICATE),
    "one": (_EXPR, _PREDICATE),
    "filter": (_EXPR, _PREDICATE),
    "map": (_EXPR, _PREDICATE),
    "count": (_EXPR, _PREDICATE | _OPTIONAL),
    "sum": (_EXPR, _PREDICATE | _OPTIONAL),
    "find": (_EXPR, _PREDICATE),
    "findIndex": (_EXPR, _PREDICATE),
    "findLast": (_EXPR, _PREDICATE),
    "findLastIndex": (_EXPR, _PREDICATE),
    "groupBy": (_EXPR, _PREDICATE),
    "sortBy": (_EXPR, _PREDICATE, _EXPR | _OPTIONAL),
    "reduce": (_EXPR, _PREDICATE, _EXPR | _OPTIONAL),
}

# Every name in expr's builtin.Index (v1.17.7); calling one of them parses as a builtin.
BUILTINS: frozenset[str] = frozenset(PREDICATE_BUILTINS) | frozenset(
    [
        "len",
        "type",
        "abs",
        "ceil",
        "floor",
        "round",
        "int",
        "float",
        "string",
        "trim",
        "trimPrefix",
        "trimSuffix",
        "upper",
        "lower",
        "split",
        "splitAfter",
        "replace",
        "repeat",
        "join",
        "indexOf",
        "lastIndexOf",
        "hasPrefix",
        "hasSuffix",
        "max",
        "min",
        "mean",
        "median",
        "toJSON",
        "fromJSON",
        "toBase64",
        "fromBase64",
        "now",
        "duration",
        "date",
        "timezone",
        "first",
        "last",
        "get",
        "take",
        "keys",
        "values",
        "toPairs",
        "fromPairs",
        "reverse",
        "uniq",
        "concat",
        "flatten",
        "sort",
        "bitand",
        "bitor",
        "bitxor",
        "bitnand",
        "bitshl",
        "bitshr",
        "bitushr",
        "bitnot",
    ]
)

_UNARY = {"not": 50, "!": 50, "-": 90, "+": 90}
# operator -> (precedence, right associative)
_BINARY: dict[str, tuple[int, bool]] = {
    "|": (0, False),
    "or": (10, False),
    "||": (10, False),
    "and": (15, False),
    "&&": (15, False),
    "==": (20, False),
    "!=": (20, False),
    "<": (20, False),
    ">": (20, False),
    ">=": (20, False),
    "<=": (20, False),
    "in": (20, False),
    "matches": (20, False),
    "contains": (20, False),
    "startsWith": (20, False),
    "endsWith": (20, False),
    "..": (25, False),
    "+": (30, False),
    "-": (30, False),
    "*": (60, False),
    "/": (60, False),
    "%": (60, False),
    "**": (100, True),
    "^": (100, True),
    "??": (500, False),
}
_COMPARISON = frozenset({"<", ">", ">=", "<="})
_NEGATABLE = frozenset({"contains", "matches", "startsWith", "endsWith", "in"})
_MAX_INT = 2**63 - 1


def _is_valid_identifier(text: str) -> bool:
    if not text:
        return False
    first = text[0]
    if not (first in {"_", "$"} or first.isalpha()):
        return False
    return all(c in {"_", "$"} or c.isalpha() or c.isdecimal() for c in text[1:])


def _parse_go_int(text: str, base: int) -> int:
    return int(text, base)


class _Parser:
    __slots__ = ("count", "current", "depth", "overrides", "pos", "stash", "tokens")

    def __init__(self, tokens: list[Token], overrides: frozenset[str]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.current = tokens[0]
        self.stash: Token | None = None
        self.depth = 0
        self.count = 0
        self.overrides = overrides

    # -- token plumbing
    def error(self, message: str, token: Token | None = None) -> ExprSyntaxError:
        return ExprSyntaxError(message, (token or self.current).pos)

    def unexpected(self, token: Token | None = None) -> ExprSyntaxError:
        tok = token or self.current
        return ExprSyntaxError(f"unexpected token {tok.describe()}", tok.pos)

    def next(self) -> None:
        if self.stash is not None:
            self.current = self.stash
            self.stash = None
            return
        if self.current.kind == EOF:
            raise self.error("unexpected end of expression")
        self.pos += 1
        self.current = self.tokens[self.pos]

    def expect(self, kind: str, value: str | None = None) -> None:
        cur = self.current
        if cur.kind == kind and (value is None or cur.value == value):
            self.next()
            return
        raise self.unexpected()

    def node(self, node: n.Node) -> n.Node:
        self.count += 1
        if self.count > MAX_NODES:
            raise self.error("compilation failed: expression exceeds maximum allowed nodes")
        return node

    # -- grammar
    def parse(self) -> n.Node:
        node = self.parse_sequence()
        if self.current.kind != EOF:
            raise self.unexpected()
        return node

    def parse_sequence(self) -> n.Node:
        nodes = [self.parse_expression(0)]
        while self.current.is_op(";"):
            self.next()
            if self.current.kind == EOF:
                break
            nodes.append(self.parse_expression(0))
        if len(nodes) == 1:
            return nodes[0]
        return self.node(n.Sequence(nodes[0].pos, nodes))

    def parse_expression(self, precedence: int) -> n.Node:
        if precedence == 0 and self.current.is_op("let"):
            return self.parse_let()
        if precedence == 0 and self.current.is_op("if"):
            return self.parse_if()
        left = self.parse_primary()
        prev_op = ""
        op_token = self.current
        while op_token.kind == OPERATOR:
            negate = op_token.value == "not"
            not_token: Token | None = None
            if negate:
                backup = self.current
                self.next()
                if self.current.value in _NEGATABLE:
                    if _BINARY[self.current.value][0] >= precedence:
                        not_token = self.current
                        op_token = self.current
                    else:
                        self.stash = self.current
                        self.current = backup
                        break
                else:
                    raise self.unexpected()
            info = _BINARY.get(op_token.value)
            if info is None or info[0] < precedence:
                break
            op_prec, right_assoc = info
            self.next()
            if op_token.value == "|":
                ident = self.current
                self.expect(IDENT)
                left = self.parse_call(ident, [left], check_overrides=True)
            elif prev_op == "??" and op_token.value != "??":
                raise self.error(
                    f"Operator ({op_token.value}) and coalesce expressions (??) cannot be mixed. "
                    "Wrap either by parentheses.",
                    op_token,
                )
            elif op_token.value in _COMPARISON:
                left = self.parse_comparison(left, op_token, op_prec)
            else:
                right = self.parse_expression(op_prec if right_assoc else op_prec + 1)
                left = self.node(n.Binary(op_token.pos, op_token.value, left, right))
                if negate:
                    assert not_token is not None
                    left = self.node(n.Unary(not_token.pos, "not", left))
            prev_op = op_token.value
            op_token = self.current
        if precedence == 0:
            left = self.parse_conditional(left)
        return left

    def parse_let(self) -> n.Node:
        self.expect(OPERATOR, "let")
        name = self.current
        self.expect(IDENT)
        self.expect(OPERATOR, "=")
        value = self.parse_expression(0)
        self.expect(OPERATOR, ";")
        body = self.parse_sequence()
        return self.node(n.VarDecl(name.pos, name.value, value, body))

    def parse_if(self) -> n.Node:
        token = self.current
        self.next()
        cond = self.parse_expression(0)
        self.expect(BRACKET, "{")
        then = self.parse_sequence()
        self.expect(BRACKET, "}")
        self.expect(OPERATOR, "else")
        if self.current.is_op("if"):
            otherwise = self.parse_if()
        else:
            self.expect(BRACKET, "{")
            otherwise = self.parse_sequence()
            self.expect(BRACKET, "}")
        return self.node(n.Conditional(token.pos, cond, then, otherwise))

    def parse_conditional(self, node: n.Node) -> n.Node:
        while self.current.is_op("?"):
            question = self.current
            self.next()
            if not self.current.is_op(":"):
                then = self.parse_expression(0)
                self.expect(OPERATOR, ":")
                otherwise = self.parse_expression(0)
            else:
                self.next()
                then = node
                otherwise = self.parse_expression(0)
            node = self.node(n.Conditional(question.pos, node, then, otherwise))
        return node

    def parse_primary(self) -> n.Node:
        token = self.current
        if token.kind == OPERATOR and token.value in _UNARY:
            self.next()
            operand = self.parse_expression(_UNARY[token.value])
            return self.parse_postfix(self.node(n.Unary(token.pos, token.value, operand)))
        if token.is_bracket("("):
            self.next()
            inner = self.parse_sequence()
            self.expect(BRACKET, ")")
            return self.parse_postfix(inner)
        if self.depth > 0 and token.kind == OPERATOR and token.value in ("#", "."):
            name = ""
            if token.value == "#":
                self.next()
                if self.current.kind == IDENT:
                    name = self.current.value
                    self.next()
            return self.parse_postfix(self.node(n.Pointer(token.pos, name)))
        if token.is_op("::"):
            self.next()
            ident = self.current
            self.expect(IDENT)
            return self.parse_postfix(self.parse_call(ident, [], check_overrides=False))
        return self.parse_secondary()

    def parse_secondary(self) -> n.Node:
        token = self.current
        node: n.Node
        if token.kind == IDENT:
            self.next()
            if token.value == "true":
                return self.node(n.Bool(token.pos, True))
            if token.value == "false":
                return self.node(n.Bool(token.pos, False))
            if token.value == "nil":
                return self.node(n.Nil(token.pos))
            if self.current.is_bracket("("):
                node = self.parse_call(token, [], check_overrides=True)
            else:
                node = self.node(n.Ident(token.pos, token.value))
        elif token.kind == NUMBER:
            self.next()
            node = self.parse_number(token)
            return node
        elif token.kind == STRING:
            self.next()
            node = self.node(n.Str(token.pos, token.value))
        elif token.is_bracket("["):
            node = self.parse_array(token)
        elif token.is_bracket("{"):
            node = self.parse_map(token)
        else:
            raise self.unexpected(token)
        return self.parse_postfix(node)

    def parse_number(self, token: Token) -> n.Node:
        value = token.value.replace("_", "")
        lower = value.lower()
        try:
            if lower.startswith("0x"):
                number = _parse_go_int(value[2:], 16)
                kind = "hex"
            elif "." in lower or "e" in lower:
                parsed = float(value)
                if parsed == float("inf"):
                    raise self.error(
                        f'invalid float literal: strconv.ParseFloat: parsing "{value}": value out of range',
                        token,
                    )
                return self.node(n.Float(token.pos, parsed))
            elif lower.startswith("0b"):
                number = _parse_go_int(value[2:], 2)
                kind = "binary"
            elif lower.startswith("0o"):
                number = _parse_go_int(value[2:], 8)
                kind = "octal"
            else:
                number = int(value, 10)
                kind = "integer"
        except ValueError:
            raise self.error(f'invalid number literal: "{value}"', token) from None
        if number > _MAX_INT:
            raise self.error(
                f'invalid {kind} literal: strconv.ParseInt: parsing "{value}": value out of range', token
            )
        return self.node(n.Int(token.pos, number))

    def parse_call(self, token: Token, args: list[n.Node], *, check_overrides: bool) -> n.Node:
        name = token.value
        overridden = check_overrides and name in self.overrides
        spec = PREDICATE_BUILTINS.get(name)
        if spec is not None and not overridden:
            self.expect(BRACKET, "(")
            for i, arg in enumerate(spec[len(args) :]):
                if arg & _OPTIONAL:
                    if self.current.is_bracket(")"):
                        break
                elif self.current.is_bracket(")"):
                    raise self.error(f"expected at least {len(spec) - len(args)} arguments")
                if i > 0:
                    self.expect(OPERATOR, ",")
                if arg & _PREDICATE:
                    args.append(self.parse_predicate())
                else:
                    args.append(self.parse_expression(0))
            if self.current.is_op(","):
                self.next()
            self.expect(BRACKET, ")")
            return self.node(n.Builtin(token.pos, name, args))
        if name in BUILTINS and not overridden:
            return self.node(n.Builtin(token.pos, name, self.parse_arguments(args)))
        callee = self.node(n.Ident(token.pos, name))
        return self.node(n.Call(token.pos, callee, self.parse_arguments(args)))

    def parse_arguments(self, args: list[n.Node]) -> list[n.Node]:
        offset = len(args)
        self.expect(BRACKET, "(")
        while not self.current.is_bracket(")"):
            if len(args) > offset:
                self.expect(OPERATOR, ",")
            if self.current.is_bracket(")"):
                break
            args.append(self.parse_expression(0))
        self.expect(BRACKET, ")")
        return args

    def parse_predicate(self) -> n.Node:
        start = self.current
        braces = start.is_bracket("{")
        if braces:
            self.next()
        self.depth += 1
        if braces:
            body = self.parse_sequence()
        else:
            body = self.parse_expression(0)
            if self.current.is_op(";"):
                raise self.error("wrap predicate with brackets { and }")
        self.depth -= 1
        if braces:
            self.expect(BRACKET, "}")
        return self.node(n.Predicate(start.pos, body))

    def parse_array(self, token: Token) -> n.Node:
        items: list[n.Node] = []
        self.expect(BRACKET, "[")
        while not self.current.is_bracket("]"):
            if items:
                self.expect(OPERATOR, ",")
                if self.current.is_bracket("]"):
                    break
            items.append(self.parse_expression(0))
        self.expect(BRACKET, "]")
        return self.node(n.Array(token.pos, items))

    def parse_map(self, token: Token) -> n.Node:
        self.expect(BRACKET, "{")
        pairs: list[tuple[n.Node, n.Node]] = []
        while not self.current.is_bracket("}"):
            if pairs:
                self.expect(OPERATOR, ",")
                if self.current.is_bracket("}"):
                    break
                if self.current.is_op(","):
                    raise self.unexpected()
            cur = self.current
            key: n.Node
            if cur.kind in (NUMBER, STRING, IDENT):
                key = self.node(n.Str(cur.pos, cur.value))
                self.next()
            elif cur.is_bracket("("):
                key = self.parse_expression(0)
            else:
                raise self.error(
                    "a map key must be a quoted string, a number, a identifier, or an expression "
                    f"enclosed in parentheses (unexpected token {cur.describe()})"
                )
            self.expect(OPERATOR, ":")
            pairs.append((key, self.parse_expression(0)))
        self.expect(BRACKET, "}")
        return self.node(n.MapLit(token.pos, pairs))

    def parse_postfix(self, node: n.Node) -> n.Node:
        tok = self.current
        while tok.kind in (OPERATOR, BRACKET):
            optional = tok.value == "?."
            if tok.value in (".", "?."):
                self.next()
                prop = self.current
                if optional and prop.is_bracket("["):
                    node = self.parse_index(node, prop, optional=True)
                    tok = self.current
                    continue
                self.next()
                if prop.kind != IDENT and (prop.kind != OPERATOR or not _is_valid_identifier(prop.value)):
                    raise self.error("expected name")
                in_chain = isinstance(node, n.Chain)
                base = node.node if isinstance(node, n.Chain) else node
                member = n.Member(prop.pos, base, self.node(n.Str(prop.pos, prop.value)), optional)
                self.node(member)
                if self.current.is_bracket("("):
                    member.method = True
                    node = self.node(n.Call(prop.pos, member, self.parse_arguments([])))
                else:
                    node = member
                if in_chain or optional:
                    node = self.node(n.Chain(prop.pos, node))
            elif tok.value == "[":
                node = self.parse_index(node, tok, optional=False)
            else:
                break
            tok = self.current
        return node

    def parse_index(self, node: n.Node, bracket: Token, *, optional: bool) -> n.Node:
        self.next()
        if self.current.is_op(":"):
            self.next()
            stop = None if self.current.is_bracket("]") else self.parse_expression(0)
            self.expect(BRACKET, "]")
            return self.node(n.SliceExpr(bracket.pos, node, None, stop))
        start = self.parse_expression(0)
        if self.current.is_op(":"):
            self.next()
            stop = None if self.current.is_bracket("]") else self.parse_expression(0)
            self.expect(BRACKET, "]")
            return self.node(n.SliceExpr(bracket.pos, node, start, stop))
        result: n.Node = self.node(n.Member(bracket.pos, node, start, optional))
        if optional:
            result = self.node(n.Chain(bracket.pos, result))
        self.expect(BRACKET, "]")
        return result

    def parse_comparison(self, left: n.Node, token: Token, precedence: int) -> n.Node:
        root: n.Node | None = None
        while True:
            right = self.parse_expression(precedence + 1)
            cmp = self.node(n.Binary(token.pos, token.value, left, right))
            root = cmp if root is None else self.node(n.Binary(token.pos, "&&", root, cmp))
            left = right
            token = self.current
            if not (token.kind == OPERATOR and token.value in _COMPARISON):
                break
            self.next()
        return root


def parse(text: str, overrides: frozenset[str] = frozenset()) -> n.Node:
    """Parse one expression (a ``{{ }}`` tag body); raises ``ExprSyntaxError``."""
    return _Parser(tokenize(text), overrides).parse()

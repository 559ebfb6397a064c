"""Tokenizer for expr-lang v1.17.7 (``parser/lexer`` in github.com/expr-lang/expr).

Positions are rune offsets, which are Python string indices. Error messages and the positions they
point at follow expr-lang's lexer, so a caret lands where AliECS's would.
"""

from __future__ import annotations

from dataclasses import dataclass

from nomadctl.manifest.expr.gofmt import go_quote

__all__ = ["BRACKET", "EOF", "IDENT", "NUMBER", "OPERATOR", "STRING", "ExprSyntaxError", "Token", "tokenize"]

IDENT = "Identifier"
NUMBER = "Number"
STRING = "String"
OPERATOR = "Operator"
BRACKET = "Bracket"
EOF = "EOF"

_WORD_OPERATORS = frozenset(
    {"in", "or", "and", "matches", "contains", "startsWith", "endsWith", "let", "if", "else"}
)
_NEGATABLE = frozenset({"in", "matches", "contains", "startsWith", "endsWith"})


class ExprSyntaxError(Exception):
    """A lexing or parsing error at a rune offset of the expression."""

    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    value: str
    pos: int

    def describe(self) -> str:
        """The token as expr-lang prints it in ``unexpected token ...`` (``Kind("value")``)."""
        if self.value == "":
            return self.kind
        return f"{self.kind}({go_quote(self.value)})"

    def is_op(self, *values: str) -> bool:
        return self.kind == OPERATOR and (not values or self.value in values)

    def is_bracket(self, value: str) -> bool:
        return self.kind == BRACKET and self.value == value


def _is_alpha(ch: str) -> bool:
    return ch in {"_", "$"} or ch.isalpha()


def _is_alnum(ch: str) -> bool:
    # Go's unicode.IsDigit is the Nd category, which str.isdecimal matches.
    return ch in {"_", "$"} or ch.isalpha() or ch.isdecimal()


# Go's unicode.IsSpace (Python's str.isspace also counts \x1c-\x1f)
_SPACES = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)


def _is_space(ch: str) -> bool:
    return ch in _SPACES


_HEX = "0123456789abcdefABCDEF"
_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
    "`": "`",
    "?": "?",
}


def _rune(code: int) -> str:
    # Go's utf8.EncodeRune writes U+FFFD for surrogate halves.
    if 0xD800 <= code <= 0xDFFF:
        return "\ufffd"
    return chr(code)


class _Lexer:
    __slots__ = ("deferred", "end", "src", "start", "tokens")

    def __init__(self, src: str) -> None:
        self.src = src
        self.start = 0
        self.end = 0
        self.tokens: list[Token] = []
        # expr validates escapes twice: the scanner fails at the bad escape, the unescaper (run on
        # the whole literal) fails at the closing quote; this holds the unescaper's first failure.
        self.deferred: str | None = None

    # -- helpers mirroring expr's lexer: errors point at the last consumed rune (or one past the end)
    def error(self, message: str, *, at_eof: bool = False) -> ExprSyntaxError:
        end = self.end + (1 if at_eof else 0)
        return ExprSyntaxError(message, max(0, end - 1))

    def peek(self) -> str:
        return self.src[self.end] if self.end < len(self.src) else ""

    def next(self) -> str:
        if self.end >= len(self.src):
            return ""
        ch = self.src[self.end]
        self.end += 1
        return ch

    def accept(self, valid: str) -> bool:
        ch = self.peek()
        if ch and ch in valid:
            self.end += 1
            return True
        return False

    def accept_run(self, valid: str) -> None:
        while self.accept(valid):
            pass

    def emit(self, kind: str, value: str | None = None) -> None:
        self.tokens.append(
            Token(kind, self.src[self.start : self.end] if value is None else value, self.start)
        )
        self.start = self.end

    # -- states
    def run(self) -> list[Token]:
        src = self.src
        n = len(src)
        while True:
            self.start = self.end
            if self.end >= n:
                self.tokens.append(Token(EOF, "", max(0, n - 1)))
                return self.tokens
            ch = src[self.end]
            self.end += 1
            if _is_space(ch):
                continue
            if ch in "'\"":
                self.emit(STRING, self.scan_string(ch))
            elif ch == "`":
                self.emit(STRING, self.scan_raw_string())
            elif "0" <= ch <= "9":
                self.end -= 1
                self.scan_number()
            elif ch == "?":
                self.accept(".?")
                self.emit(OPERATOR)
            elif ch == "/":
                if self.accept("/"):
                    while self.end < n and src[self.end] != "\n":
                        self.end += 1
                elif self.accept("*"):
                    close = src.find("*/", self.end)
                    if close < 0:
                        self.end = n
                        raise self.error("unclosed comment", at_eof=True)
                    self.end = close + 2
                else:
                    self.emit(OPERATOR)
            elif ch == "#":
                self.accept("#")
                self.emit(OPERATOR)
                while self.end < n and _is_alnum(src[self.end]):
                    self.end += 1
                if self.end > self.start:
                    self.emit(IDENT)
            elif ch == "|":
                self.accept("|")
                self.emit(OPERATOR)
            elif ch == ":":
                self.accept(":")
                self.emit(OPERATOR)
            elif ch in "([{)]}":
                self.emit(BRACKET)
            elif ch in ",;%+-^":
                self.emit(OPERATOR)
            elif ch in "&!=*<>":
                self.accept("&=*")
                self.emit(OPERATOR)
            elif ch == ".":
                if self.peek() in "0123456789" and self.peek():
                    self.end -= 1
                    self.scan_number()
                else:
                    self.accept(".")
                    self.emit(OPERATOR)
            elif _is_alnum(ch):
                self.scan_identifier()
            else:
                raise self.error(f"unrecognized character: {_go_unicode(ch)}")

    def scan_identifier(self) -> None:
        src = self.src
        while self.end < len(src) and _is_alnum(src[self.end]):
            self.end += 1
        word = src[self.start : self.end]
        if word == "not":
            self.emit(OPERATOR)
            while self.end < len(src) and src[self.end] == " ":
                self.end += 1
            self.start = self.end
            mark = self.end
            while self.end < len(src) and _is_alnum(src[self.end]):
                self.end += 1
            if src[self.start : self.end] in _NEGATABLE:
                self.emit(OPERATOR)
            else:
                self.end = mark
        elif word in _WORD_OPERATORS:
            self.emit(OPERATOR)
        else:
            self.emit(IDENT)

    def scan_number(self) -> None:
        digits = "0123456789_"
        if self.accept("0"):
            if self.accept("xX"):
                digits = "0123456789abcdefABCDEF_"
            elif self.accept("oO"):
                digits = "01234567_"
            elif self.accept("bB"):
                digits = "01_"
        self.accept_run(digits)
        mark = self.end
        if self.accept("."):
            if self.peek() == ".":
                # ``1..2`` is the range operator after the integer 1
                self.end = mark
                self.emit(NUMBER)
                return
            self.accept_run(digits)
        if self.accept("eE"):
            self.accept("+-")
            self.accept_run(digits)
        nxt = self.peek()
        if nxt and _is_alnum(nxt):
            self.end += 1
            raise self.error(f"bad number syntax: {go_quote(self.src[self.start : self.end])}")
        self.emit(NUMBER)

    def scan_string(self, quote: str) -> str:
        """Scan a quoted string (the opening quote is consumed) and return its unescaped value."""
        src = self.src
        n = len(src)
        out: list[str] = []
        self.deferred = None
        while True:
            if self.end >= n:
                raise self.error("literal not terminated", at_eof=True)
            ch = src[self.end]
            self.end += 1
            if ch == quote:
                if self.deferred is not None:
                    raise self.error(self.deferred)
                return "".join(out)
            if ch == "\n":
                raise self.error("literal not terminated")
            if ch == "\r":
                # expr normalises newlines inside strings to \n
                if self.end < n and src[self.end] == "\n":
                    self.end += 1
                out.append("\n")
                continue
            if ch != "\\":
                out.append(ch)
                continue
            out.append(self.scan_escape(quote))

    def scan_escape(self, quote: str) -> str:
        src = self.src
        n = len(src)
        if self.end >= n:
            raise self.error("literal not terminated", at_eof=True)
        ch = src[self.end]
        self.end += 1
        if ch in "abfnrtv\\" or ch == quote:
            return _SIMPLE_ESCAPES[ch]
        if ch in "01234567":
            # the lexer wants three octal digits; the unescaper wants \[0-3][0-7][0-7]
            text = src[self.end - 1 : self.end + 2]
            if len(text) < 3 or any(c not in "01234567" for c in text):
                self._consume_digits(8, 3, first=True)
                raise self.error("invalid char escape")
            self.end += 2
            if text[0] > "3":
                self.deferred = self.deferred or "unable to unescape octal sequence in string"
                return ""
            return _rune(int(text, 8))
        if ch in "xuU":
            if ch == "u" and self.peek() == "{":
                self.end += 1
                start = self.end
                while self.end < n and src[self.end] != "}":
                    if src[self.end] not in _HEX or self.end - start >= 6:
                        raise self.error("invalid char escape")
                    self.end += 1
                if self.end >= n or self.end == start:
                    raise self.error("invalid char escape", at_eof=self.end >= n)
                code = int(src[start : self.end], 16)
                self.end += 1
                if code > 0x10FFFF:
                    self.deferred = self.deferred or "unable to unescape string"
                    return ""
                return _rune(code)
            width = {"x": 2, "u": 4, "U": 8}[ch]
            text = src[self.end : self.end + width]
            if len(text) < width or any(c not in _HEX for c in text):
                self._consume_digits(16, width, first=False)
                raise self.error("invalid char escape")
            self.end += width
            code = int(text, 16)
            if code > 0x10FFFF:
                self.deferred = self.deferred or "unable to unescape string"
                return ""
            return _rune(code)
        raise self.error("invalid char escape")

    def _consume_digits(self, base: int, count: int, *, first: bool) -> None:
        # Reproduce where expr's scanDigits stops, so the caret of "invalid char escape" matches.
        valid = "01234567" if base == 8 else _HEX
        if first:
            count -= 1
        while count > 0 and self.end < len(self.src) and self.src[self.end] in valid:
            self.end += 1
            count -= 1
        if self.end < len(self.src):
            self.end += 1

    def scan_raw_string(self) -> str:
        src = self.src
        out: list[str] = []
        while True:
            if self.end >= len(src):
                raise self.error("literal not terminated", at_eof=True)
            ch = src[self.end]
            self.end += 1
            if ch == "`":
                if self.end < len(src) and src[self.end] == "`":
                    # a doubled backquote stands for one backquote
                    self.end += 1
                    out.append("`")
                    continue
                return "".join(out)
            out.append(ch)


def _go_unicode(ch: str) -> str:
    """Go's ``%#U`` of a rune: ``U+0040 '@'``."""
    code = ord(ch)
    text = f"U+{code:04X}"
    if ch.isprintable():
        text += f" '{ch}'"
    return text


def tokenize(text: str) -> list[Token]:
    """Split an expression into tokens, ending with an ``EOF`` token; raises ``ExprSyntaxError``."""
    return _Lexer(text).run()

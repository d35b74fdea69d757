"""The ``fail_if`` expression language: a small, safe grammar compiled to closures (no eval).

Grammar (lowest precedence first)::

    expr     := and_expr ("or" and_expr)*
    and_expr := not_expr ("and" not_expr)*
    not_expr := "not" not_expr | compare
    compare  := sum (("<" | "<=" | ">" | ">=" | "==" | "!=") sum)?
    sum      := unary (("+" | "-") unary)*
    unary    := "-" unary | atom
    atom     := NUMBER | METRIC | "(" expr ")"

An expression must be a condition (true/false): a bare metric or sum is an error, and so is
comparing conditions or adding them. Chained comparisons (``a < b < c``) are rejected rather
than guessed at.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from gate.errors import PolicyError, Problem
from gate.model import Condition, Number
from gate.policy import metrics as catalogue

MAX_LENGTH = 2000
MAX_DEPTH = 40
MAX_HEIGHT = 100  # operations in one chain; keeps compiling and evaluating off deep recursion

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>[0-9]+(?:\.[0-9]+)?(?![A-Za-z_.0-9]))
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)
  | (?P<op><=|>=|==|!=|<|>|\+|-|\(|\))
    """,
    re.VERBOSE,
)

_COMPARE: dict[str, Callable[[Number, Number], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
_KEYWORDS = {"and", "or", "not"}
_MALFORMED_NUMBER = re.compile(r"[0-9][A-Za-z0-9_.]*")
_CHAR_HINTS = {
    "&": " (use 'and', 'or', 'not')",
    "|": " (use 'and', 'or', 'not')",
    "!": " (use 'and', 'or', 'not'; '!=' compares)",
    "=": " (use '==' to compare)",
}


class ExpressionError(PolicyError):
    """A ``fail_if`` expression is malformed; ``offset`` is the 0-based position in it."""

    def __init__(self, message: str, source: str, offset: int) -> None:
        self.reason = message
        self.source = source
        self.offset = offset
        # One line, one column per character, so the caret stays under the culprit.
        self.display = re.sub(r"\s", " ", source)
        caret = " " * offset + "^"
        detail = f"{message}\n      {self.display}\n      {caret}"
        super().__init__([Problem("fail_if", 1, offset + 1, detail)])


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "number", "name", "op", "kw", "end"
    text: str
    offset: int


def _tokenize(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(source):
        match = _TOKEN.match(source, pos)
        if match is None:
            word = _MALFORMED_NUMBER.match(source, pos)
            if word is not None:
                raise ExpressionError(
                    f"malformed number {word.group()!r}: write digits with at most one "
                    "decimal point (e.g. 5 or 2.5)",
                    source,
                    pos,
                )
            char = source[pos]
            raise ExpressionError(
                f"unexpected character {char!r}{_CHAR_HINTS.get(char, '')}", source, pos
            )
        kind = match.lastgroup or ""
        text = match.group()
        if kind == "name" and text in _KEYWORDS:
            kind = "kw"
        if kind != "ws":
            tokens.append(_Token(kind, text, pos))
        pos = match.end()
    tokens.append(_Token("end", "", len(source)))
    return tokens


# --- syntax tree -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Node:
    kind: str  # num, metric, neg, add, sub, cmp, and, or, not
    text: str  # the source text of this node
    is_bool: bool
    value: Number = 0
    name: str = ""
    op: str = ""
    children: tuple[_Node, ...] = ()
    height: int = 1


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = _tokenize(source)
        self.pos = 0
        self.depth = 0

    @property
    def tok(self) -> _Token:
        return self.tokens[self.pos]

    def error(self, message: str, token: _Token | None = None) -> ExpressionError:
        return ExpressionError(message, self.source, (token or self.tok).offset)

    def grow(
        self,
        kind: str,
        start: _Token,
        is_bool: bool,
        children: tuple[_Node, ...],
        at: _Token,
        op: str = "",
    ) -> _Node:
        """A node over ``children``; refuses trees too tall to compile and evaluate safely."""
        height = 1 + max(child.height for child in children)
        if height > MAX_HEIGHT:
            raise self.error(
                f"expression chains more than {MAX_HEIGHT} operations; split it into several rules",
                at,
            )
        return _Node(kind, self.span(start), is_bool, op=op, children=children, height=height)

    def advance(self) -> _Token:
        token = self.tok
        self.pos += 1
        return token

    def span(self, start: _Token) -> str:
        end = self.tokens[self.pos - 1]
        return self.source[start.offset : end.offset + len(end.text)]

    def parse(self) -> _Node:
        if self.tok.kind == "end":
            raise self.error("empty expression: write a condition such as 'imageVulAsap > 0'")
        node = self.parse_or()
        if self.tok.kind != "end":
            raise self.error(f"unexpected {self.describe(self.tok)} after a complete condition")
        if not node.is_bool:
            raise ExpressionError(
                f"'{node.text}' is a number, not a condition: compare it, e.g. '{node.text} > 0'",
                self.source,
                self.tokens[0].offset,
            )
        return node

    @staticmethod
    def describe(token: _Token) -> str:
        return "end of expression" if token.kind == "end" else repr(token.text)

    def need_bool(self, node: _Node, start: _Token, word: str) -> None:
        if not node.is_bool:
            raise ExpressionError(
                f"'{word}' needs conditions on both sides, but '{node.text}' is a number "
                f"(compare it, e.g. '{node.text} > 0')",
                self.source,
                start.offset,
            )

    def parse_or(self) -> _Node:
        start = self.tok
        left = self.parse_and()
        while self.tok.kind == "kw" and self.tok.text == "or":
            self.need_bool(left, start, "or")
            op_token = self.advance()
            right_start = self.tok
            right = self.parse_and()
            self.need_bool(right, right_start, "or")
            left = self.grow("or", start, True, (left, right), op_token)
        return left

    def parse_and(self) -> _Node:
        start = self.tok
        left = self.parse_not()
        while self.tok.kind == "kw" and self.tok.text == "and":
            self.need_bool(left, start, "and")
            op_token = self.advance()
            right_start = self.tok
            right = self.parse_not()
            self.need_bool(right, right_start, "and")
            left = self.grow("and", start, True, (left, right), op_token)
        return left

    def parse_not(self) -> _Node:
        start = self.tok
        if start.kind == "kw" and start.text == "not":
            self.advance()
            operand_start = self.tok
            operand = self.nested(self.parse_not)
            if not operand.is_bool:
                raise self.error(
                    f"'not' needs a condition, but '{operand.text}' is a number", operand_start
                )
            return self.grow("not", start, True, (operand,), start)
        return self.parse_compare()

    def parse_compare(self) -> _Node:
        start = self.tok
        left = self.parse_sum()
        if self.tok.kind == "op" and self.tok.text in _COMPARE:
            op_token = self.advance()
            if left.is_bool:
                raise self.error(
                    f"cannot compare the condition '{left.text}' with '{op_token.text}'", op_token
                )
            right = self.parse_sum()
            if right.is_bool:
                raise self.error("the right side of a comparison must be a number", op_token)
            if self.tok.kind == "op" and self.tok.text in _COMPARE:
                raise self.error(
                    "chained comparisons are ambiguous: join them with 'and', "
                    "e.g. 'a > 1 and a < 5'"
                )
            return self.grow("cmp", start, True, (left, right), op_token, op=op_token.text)
        return left

    def parse_sum(self) -> _Node:
        start = self.tok
        left = self.parse_unary()
        while self.tok.kind == "op" and self.tok.text in ("+", "-"):
            op_token = self.advance()
            if left.is_bool:
                raise self.error(f"cannot use '{op_token.text}' on a condition", op_token)
            right_start = self.tok
            right = self.parse_unary()
            if right.is_bool:
                raise self.error(f"cannot use '{op_token.text}' on a condition", right_start)
            kind = "add" if op_token.text == "+" else "sub"
            left = self.grow(kind, start, False, (left, right), op_token)
        return left

    def parse_unary(self) -> _Node:
        start = self.tok
        if start.kind == "op" and start.text == "-":
            self.advance()
            operand = self.nested(self.parse_unary)
            if operand.is_bool:
                raise self.error("cannot negate a condition (use 'not')", start)
            return self.grow("neg", start, False, (operand,), start)
        return self.parse_atom()

    def nested(self, parse: Callable[[], _Node]) -> _Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"expression nests deeper than {MAX_DEPTH} levels")
        try:
            return parse()
        finally:
            self.depth -= 1

    def parse_atom(self) -> _Node:
        token = self.tok
        if token.kind == "number":
            self.advance()
            value: Number = float(token.text) if "." in token.text else int(token.text)
            if abs(value) > catalogue.MAX_MAGNITUDE:
                raise self.error(
                    f"number {token.text} is too large (at most {catalogue.MAX_MAGNITUDE:.0e})",
                    token,
                )
            return _Node("num", token.text, False, value=value)
        if token.kind == "name":
            self.advance()
            if not catalogue.is_metric(token.text):
                close = catalogue.suggest(token.text)
                hint = f" (did you mean '{close}'?)" if close else ""
                raise self.error(
                    f"unknown metric '{token.text}'{hint}; 'gate metrics' lists them", token
                )
            return _Node("metric", token.text, False, name=token.text)
        if token.kind == "op" and token.text == "(":
            self.advance()
            inner = self.nested(self.parse_or)
            if self.tok.kind != "op" or self.tok.text != ")":
                raise self.error(f"expected ')' but found {self.describe(self.tok)}")
            self.advance()
            return _Node(
                inner.kind,
                self.span(token),
                inner.is_bool,
                inner.value,
                inner.name,
                inner.op,
                inner.children,
                inner.height,
            )
        if token.kind == "end":
            raise self.error("the expression ends too early: a number or metric is missing")
        raise self.error(f"expected a number, metric or '(' but found {self.describe(token)}")


# --- compilation -------------------------------------------------------------------------

_Values = Mapping[str, Number]


def _compile_num(node: _Node) -> Callable[[_Values], Number]:
    kind = node.kind
    if kind == "num":
        constant = node.value
        return lambda values: constant
    if kind == "metric":
        name = node.name
        return lambda values: values[name]
    if kind == "neg":
        inner = _compile_num(node.children[0])
        return lambda values: -inner(values)
    left, right = (_compile_num(child) for child in node.children)
    if kind == "add":
        return lambda values: left(values) + right(values)
    return lambda values: left(values) - right(values)


_METRIC_VS_NUMBER: dict[str, Callable[[str, Number], Callable[[_Values], bool]]] = {
    ">": lambda name, number: lambda values: values[name] > number,
    ">=": lambda name, number: lambda values: values[name] >= number,
    "<": lambda name, number: lambda values: values[name] < number,
    "<=": lambda name, number: lambda values: values[name] <= number,
    "==": lambda name, number: lambda values: values[name] == number,
    "!=": lambda name, number: lambda values: values[name] != number,
}


def _compile_bool(node: _Node) -> Callable[[_Values], bool]:
    kind = node.kind
    if kind == "cmp":
        compare = _COMPARE[node.op]
        lhs, rhs = node.children
        if lhs.kind == "metric" and rhs.kind == "num":  # the common shape: one call per image
            return _METRIC_VS_NUMBER[node.op](lhs.name, rhs.value)
        left_num, right_num = _compile_num(lhs), _compile_num(rhs)
        return lambda values: compare(left_num(values), right_num(values))
    if kind == "not":
        inner = _compile_bool(node.children[0])
        return lambda values: not inner(values)
    left, right = (_compile_bool(child) for child in node.children)
    if kind == "and":
        return lambda values: left(values) and right(values)
    return lambda values: left(values) or right(values)


def format_number(value: Number) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _compile_explain(node: _Node) -> Callable[[_Values], str]:
    """A function rendering the condition with the actual values, e.g. ``imageVulAsap = 3 > 0``.

    Compiled once with the condition: a large ranking explains thousands of failures.
    """
    if node.kind == "cmp":
        lhs, rhs = node.children
        op, left_num, right_num = node.op, _compile_num(lhs), _compile_num(rhs)

        def explain_cmp(values: _Values) -> str:
            left, right = lhs.text, rhs.text
            if lhs.kind != "num":
                left += f" = {format_number(left_num(values))}"
            if rhs.kind != "num":
                right += f" (= {format_number(right_num(values))})"
            return f"{left} {op} {right}"

        return explain_cmp
    if node.kind == "not":
        inner = _compile_explain(node.children[0])
        return lambda values: f"not ({inner(values)})"
    if node.kind == "or":
        alternatives = [(_compile_bool(c), _compile_explain(c)) for c in _flatten(node, "or")]

        def explain_or(values: _Values) -> str:
            chosen = [e for holds, e in alternatives if holds(values)]
            return " or ".join(e(values) for e in chosen or [e for _, e in alternatives])

        return explain_or
    parts = [_compile_explain(c) for c in _flatten(node, "and")]
    return lambda values: " and ".join(e(values) for e in parts)


def _flatten(node: _Node, kind: str) -> list[_Node]:
    if node.kind != kind:
        return [node]
    return [leaf for child in node.children for leaf in _flatten(child, kind)]


def _metrics_of(node: _Node, found: dict[str, None]) -> None:
    if node.kind == "metric":
        found[node.name] = None
    for child in node.children:
        _metrics_of(child, found)


def compile_condition(source: str) -> Condition:
    """Parse and compile a ``fail_if`` expression, or raise :class:`ExpressionError`."""
    if not isinstance(source, str):
        raise ExpressionError("fail_if must be a string expression", str(source), 0)
    if len(source) > MAX_LENGTH:
        raise ExpressionError(f"expression is longer than {MAX_LENGTH} characters", "", 0)
    tree = _Parser(source).parse()
    found: dict[str, None] = {}
    _metrics_of(tree, found)
    return Condition(
        source=source.strip(),
        metrics=tuple(found),
        evaluate=_compile_bool(tree),
        explain=_compile_explain(tree),
    )

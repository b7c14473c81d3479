"""A small, safe audience-rule language evaluated column-wise over a pandas DataFrame (never ``eval``).

Grammar (case-sensitive keywords ``and or not in is null true false``)::

    expr     := or
    or       := and ("or" and)*
    and      := not ("and" not)*
    not      := "not" not | cmp
    cmp      := sum (("==" | "!=" | "<" | "<=" | ">" | ">=") sum)?
              | sum "not"? "in" "[" literal ("," literal)* "]"
              | sum "is" "not"? "null"
    sum      := product (("+" | "-") product)*
    product  := unary (("*" | "/") unary)*
    unary    := "-" unary | atom
    atom     := NUMBER | STRING | "true" | "false" | "null" | IDENT | FUNC "(" expr ("," expr)* ")" | "(" expr ")"

Identifiers name DataFrame columns (letters, digits and ``_``, not starting with ``_``); functions are a
fixed whitelist (``coalesce``, ``abs``, ``min``, ``max``). Anything else — attribute access, indexing,
dunder names, unknown functions, ``;``, backticks, lambdas — is rejected by the tokenizer or the parser.
A column missing from the frame evaluates to null (comparisons with null are false), so rules tolerate
scores that a deployment does not compute.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd


class RuleError(ValueError):
    """A rule that does not parse, with the position of the problem."""


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<num>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
      | (?P<str>"[^"\\]*"|'[^'\\]*')
      | (?P<op>==|!=|<=|>=|<|>|\+|-|\*|/|\(|\)|\[|\]|,)
      | (?P<ident>[A-Za-z][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)
KEYWORDS = {"and", "or", "not", "in", "is", "null", "true", "false"}
FUNCTIONS = {"coalesce", "abs", "min", "max"}
MAX_LENGTH = 2000
MAX_DEPTH = 32  # nesting of parentheses, not, unary minus and call arguments


@dataclass(frozen=True)
class Tok:
    kind: str  # num str op ident kw end
    value: str
    pos: int


def tokenize(text: str) -> list[Tok]:
    """Split ``text`` into tokens; any character outside the language is an error."""
    if len(text) > MAX_LENGTH:
        raise RuleError(f"rule longer than {MAX_LENGTH} characters")
    toks: list[Tok] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            bad = text[pos:].lstrip()[:1]
            at = pos + len(text[pos:]) - len(text[pos:].lstrip())
            raise RuleError(f"unexpected character {bad!r} at position {at}")
        kind = m.lastgroup or ""
        value = m.group(kind)
        start = m.start(kind)
        if kind == "ident" and value in KEYWORDS:
            kind = "kw"
        toks.append(Tok(kind, value, start))
        pos = m.end()
    toks.append(Tok("end", "", len(text)))
    return toks


# AST nodes are tuples: ("lit", v) ("col", name) ("bin", op, a, b) ("not", a) ("and"/"or", a, b)
# ("in", a, values, negate) ("isnull", a, negate) ("neg", a) ("call", name, args)
Node = tuple


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = tokenize(text)
        self.i = 0
        self.depth = 0

    def nested(self, parse: Any) -> Node:
        """Parse a nested construct, refusing nesting deeper than :data:`MAX_DEPTH`."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise RuleError(f"rule nested deeper than {MAX_DEPTH} levels at position {self.peek().pos}")
        try:
            return parse()
        finally:
            self.depth -= 1

    def peek(self) -> Tok:
        return self.toks[self.i]

    def take(self) -> Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def accept(self, kind: str, value: str | None = None) -> Tok | None:
        tok = self.peek()
        if tok.kind == kind and (value is None or tok.value == value):
            self.i += 1
            return tok
        return None

    def expect(self, kind: str, value: str | None = None) -> Tok:
        tok = self.accept(kind, value)
        if tok is None:
            got = self.peek()
            want = value or kind
            raise RuleError(f"expected {want!r} at position {got.pos}, got {got.value or 'end of rule'!r}")
        return tok

    def parse(self) -> Node:
        node = self.or_()
        if self.peek().kind != "end":
            tok = self.peek()
            raise RuleError(f"unexpected {tok.value!r} at position {tok.pos}")
        return node

    def or_(self) -> Node:
        node = self.and_()
        while self.accept("kw", "or"):
            node = ("or", node, self.and_())
        return node

    def and_(self) -> Node:
        node = self.not_()
        while self.accept("kw", "and"):
            node = ("and", node, self.not_())
        return node

    def not_(self) -> Node:
        if self.accept("kw", "not"):
            return ("not", self.nested(self.not_))
        return self.cmp()

    def cmp(self) -> Node:
        left = self.sum_()
        tok = self.peek()
        if tok.kind == "op" and tok.value in {"==", "!=", "<", "<=", ">", ">="}:
            self.take()
            return ("bin", tok.value, left, self.sum_())
        if tok.kind == "kw" and tok.value == "is":
            self.take()
            negate = bool(self.accept("kw", "not"))
            self.expect("kw", "null")
            return ("isnull", left, negate)
        negate = False
        if tok.kind == "kw" and tok.value == "not" and self.toks[self.i + 1].value == "in":
            self.take()
            negate = True
        if self.accept("kw", "in"):
            self.expect("op", "[")
            values = [self.literal()]
            while self.accept("op", ","):
                values.append(self.literal())
            self.expect("op", "]")
            return ("in", left, tuple(values), negate)
        return left

    def literal(self) -> Any:
        node = self.unary()
        if node[0] != "lit":
            raise RuleError(f"list items must be literals (position {self.peek().pos})")
        return node[1]

    def sum_(self) -> Node:
        node = self.product()
        while self.peek().kind == "op" and self.peek().value in {"+", "-"}:
            op = self.take().value
            node = ("bin", op, node, self.product())
        return node

    def product(self) -> Node:
        node = self.unary()
        while self.peek().kind == "op" and self.peek().value in {"*", "/"}:
            op = self.take().value
            node = ("bin", op, node, self.unary())
        return node

    def unary(self) -> Node:
        if self.accept("op", "-"):
            inner = self.nested(self.unary)
            if inner[0] == "lit" and isinstance(inner[1], (int, float)):
                return ("lit", -inner[1])
            return ("neg", inner)
        return self.atom()

    def atom(self) -> Node:
        tok = self.take()
        if tok.kind == "num":
            return ("lit", float(tok.value) if any(c in tok.value for c in ".eE") else int(tok.value))
        if tok.kind == "str":
            return ("lit", tok.value[1:-1])
        if tok.kind == "kw" and tok.value in {"true", "false"}:
            return ("lit", tok.value == "true")
        if tok.kind == "kw" and tok.value == "null":
            return ("lit", None)
        if tok.kind == "op" and tok.value == "(":
            node = self.nested(self.or_)
            self.expect("op", ")")
            return node
        if tok.kind == "ident":
            if self.peek().kind == "op" and self.peek().value == "(":
                if tok.value not in FUNCTIONS:
                    raise RuleError(f"unknown function {tok.value!r} at position {tok.pos}")
                self.take()
                args = [self.nested(self.or_)]
                while self.accept("op", ","):
                    args.append(self.nested(self.or_))
                self.expect("op", ")")
                if tok.value == "abs" and len(args) != 1:
                    raise RuleError("abs() takes one argument")
                return ("call", tok.value, tuple(args))
            return ("col", tok.value)
        raise RuleError(f"unexpected {tok.value or 'end of rule'!r} at position {tok.pos}")


@dataclass(frozen=True)
class Rule:
    """A parsed rule; :meth:`evaluate` returns a boolean mask aligned to the frame."""

    text: str
    tree: Node

    @property
    def columns(self) -> set[str]:
        """Column names the rule reads."""
        out: set[str] = set()

        def walk(node: Any) -> None:
            if isinstance(node, tuple) and node:
                if node[0] == "col":
                    out.add(node[1])
                    return
                for child in node[1:] if isinstance(node[0], str) else node:
                    walk(child)

        walk(self.tree)
        return out

    def evaluate(self, frame: pd.DataFrame) -> np.ndarray:
        """Boolean numpy mask: rows of ``frame`` matching the rule (null comparisons are false)."""
        try:
            return _as_bool(_eval(self.tree, frame), len(frame))
        except RuleError:
            raise
        except Exception as exc:  # a rule that parses but cannot be evaluated on this data
            raise RuleError(f"rule cannot be evaluated: {type(exc).__name__}: {exc}"[:500]) from exc


def parse_rule(text: str) -> Rule:
    """Parse ``text`` into a :class:`Rule` or raise :class:`RuleError`."""
    if not isinstance(text, str) or not text.strip():
        raise RuleError("rule is empty")
    return Rule(text=text, tree=_Parser(text).parse())


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    if name in frame.columns:
        return frame[name]
    return pd.Series(np.nan, index=frame.index, dtype="float64")


def _as_bool(value: Any, n: int) -> np.ndarray:
    if isinstance(value, pd.Series):
        return value.fillna(False).astype(bool).to_numpy()
    if isinstance(value, np.ndarray):
        return value.astype(bool)
    return np.full(n, bool(value) if value is not None else False)


def _notnull(value: Any) -> Any:
    if isinstance(value, pd.Series):
        return value.notna()
    return value is not None


def _eval(node: Node, frame: pd.DataFrame) -> Any:
    tag = node[0]
    n = len(frame)
    if tag == "lit":
        return node[1]
    if tag == "col":
        return _column(frame, node[1])
    if tag == "and":
        return _as_bool(_eval(node[1], frame), n) & _as_bool(_eval(node[2], frame), n)
    if tag == "or":
        return _as_bool(_eval(node[1], frame), n) | _as_bool(_eval(node[2], frame), n)
    if tag == "not":
        return ~_as_bool(_eval(node[1], frame), n)
    if tag == "neg":
        return -_eval(node[1], frame)
    if tag == "isnull":
        value = _eval(node[1], frame)
        isnull = ~_as_bool(_notnull(value), n) if isinstance(value, pd.Series) else np.full(n, value is None)
        return ~isnull if node[2] else isnull
    if tag == "in":
        value = _eval(node[1], frame)
        if isinstance(value, pd.Series):
            mask = value.isin(list(node[2])).to_numpy() & value.notna().to_numpy()
        else:
            mask = np.full(n, value in node[2])
        return ~mask & _as_bool(_notnull(value), n) if node[3] else mask
    if tag == "call":
        args = [_eval(a, frame) for a in node[2]]
        name = node[1]
        if name == "abs":
            return abs(args[0]) if args[0] is not None else None
        if name == "coalesce":
            out = args[0]
            for arg in args[1:]:
                if isinstance(out, pd.Series):
                    out = out.where(out.notna(), arg)
                elif out is None:
                    out = arg
            return out
        series = [a if isinstance(a, pd.Series) else pd.Series(a, index=frame.index) for a in args]
        stacked = pd.concat(series, axis=1)
        return stacked.min(axis=1) if name == "min" else stacked.max(axis=1)
    if tag == "bin":
        op, a, b = node[1], _eval(node[2], frame), _eval(node[3], frame)
        if a is None or b is None:
            return np.zeros(n, dtype=bool) if op in {"==", "!=", "<", "<=", ">", ">="} else None
        try:
            if op == "+":
                return a + b
            if op == "-":
                return a - b
            if op == "*":
                return a * b
            if op == "/":
                if isinstance(b, pd.Series):
                    return a / b.where(b != 0)
                return a / b if b != 0 else None
            result = {
                "==": lambda: a == b, "!=": lambda: a != b, "<": lambda: a < b,
                "<=": lambda: a <= b, ">": lambda: a > b, ">=": lambda: a >= b,
            }[op]()
        except TypeError as exc:
            raise RuleError(f"type mismatch in {op!r}: {exc}") from exc
        # comparisons involving a null side are false (SQL-like), also for "!="
        for side in (a, b):
            if isinstance(side, pd.Series):
                result = result & side.notna()
        return result
    raise RuleError(f"unknown node {tag!r}")  # pragma: no cover

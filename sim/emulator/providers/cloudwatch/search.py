"""CloudWatch search expressions: the string inside ``SEARCH('...', 'Stat', Period)``.

Follows https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/search-expression-syntax.html
and search-expression-examples.html:

- an optional metric schema ``{Namespace, DimName1, DimName2}`` (names with blanks or other
  non-alphanumerics in double quotes): only metrics of that namespace whose dimension names are
  exactly those;
- search terms, ANDed when side by side, with ``AND``, ``OR``, ``NOT`` and parentheses;
  a bare term matches partially (whole tokens of the metric name, namespace, a dimension name or
  value, tokens split at non-alphanumerics and at lower->upper case changes, case-insensitive),
  a double-quoted term exactly (a whole name or value); ``MetricName=``, ``Namespace=`` or
  ``<DimensionName>=`` restrict a term to that property.

:func:`parse` -> :class:`Query` or :class:`SearchError` (the message says what is wrong);
``Query.matches(namespace, metric_name, dims)`` -> bool; :func:`label` -> the label CloudWatch
gives a metric a search found (its dimension values, then its metric name).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

MAX_RESULTS = 500  # "It can return up to 500 time series" (SEARCH in the CDK/API docs)
_TOKEN = re.compile(r"\s*(\"(?:[^\"\\]|\\.)*\"|[(){},]|=|[^\s(){},=\"]+)")
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


class SearchError(Exception):
    """A search expression CloudWatch refuses."""


@dataclass(frozen=True)
class Term:
    text: str
    exact: bool
    key: str | None  # MetricName, Namespace, a dimension name, or None (any property)


@dataclass(frozen=True)
class Op:
    name: str  # AND, OR, NOT
    args: tuple[Node, ...]


Node = Term | Op


@dataclass(frozen=True)
class Query:
    namespace: str | None
    dimensions: frozenset[str] | None
    terms: Node | None

    def matches(self, namespace: str, name: str, dims: Sequence[tuple[str, str]]) -> bool:
        if self.namespace is not None:
            if namespace != self.namespace or frozenset(k for k, _ in dims) != self.dimensions:
                return False
        return self.terms is None or _match(self.terms, namespace, name, dims)


def _tokens(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def _partial(term: str, value: str) -> bool:
    want, have = _tokens(term), _tokens(value)
    if not want:
        return term.lower() in value.lower()
    n = len(want)
    return any(have[i : i + n] == want for i in range(len(have) - n + 1))


def _match(node: Node, namespace: str, name: str, dims: Sequence[tuple[str, str]]) -> bool:
    if isinstance(node, Op):
        if node.name == "NOT":
            return not _match(node.args[0], namespace, name, dims)
        results = (_match(a, namespace, name, dims) for a in node.args)
        return all(results) if node.name == "AND" else any(results)
    if node.key == "MetricName":
        values = [name]
    elif node.key == "Namespace":
        values = [namespace]
    elif node.key is not None:
        values = [v for k, v in dims if k == node.key]
    else:
        values = [namespace, name, *(k for k, _ in dims), *(v for _, v in dims)]
    if node.exact:
        return node.text in values
    return any(_partial(node.text, v) for v in values)


def parse(text: str) -> Query:
    """The search expression ``text`` (without SEARCH's quotes)."""
    toks = _lex(text)
    pos = 0
    namespace: str | None = None
    dims: frozenset[str] | None = None
    if toks and toks[0] == "{":
        close = toks.index("}") if "}" in toks else -1
        if close < 0:
            raise SearchError("the metric schema has no closing '}'")
        names = [t for t in toks[1:close] if t != ","]
        if not names:
            raise SearchError("a metric schema must name a namespace")
        names = [_unquote(n) for n in names]
        namespace, dims = names[0], frozenset(names[1:])
        pos = close + 1
    parser = _Parser(toks[pos:])
    terms = parser.expr() if parser.toks else None
    if parser.i < len(parser.toks):
        raise SearchError(f"unexpected {parser.toks[parser.i]!r}")
    if namespace is None and terms is None:
        raise SearchError("a search needs a metric schema, a search term or both")
    return Query(namespace, dims, terms)


def label(name: str, dims: Sequence[tuple[str, str]], schema: frozenset[str] | None) -> str:
    """A found metric's label: its dimension values (the schema's dimensions first, by name),
    then the metric name."""
    ordered = sorted(dims, key=lambda kv: (schema is None or kv[0] not in schema, kv[0]))
    return " ".join([*(v for _, v in ordered), name])


def _lex(text: str) -> list[str]:
    out, i = [], 0
    text = text.strip()
    while i < len(text):
        m = _TOKEN.match(text, i)
        if not m or not m.group(1):
            raise SearchError(f"cannot read the search at character {i}")
        out.append(m.group(1))
        i = m.end()
    return out


def _unquote(tok: str) -> str:
    if tok.startswith('"'):
        return tok[1:-1].replace('\\"', '"')
    return tok


class _Parser:
    """or := and ('OR' and)*; and := not (['AND'] not)*; not := 'NOT' not | atom"""

    def __init__(self, toks: list[str]) -> None:
        self.toks, self.i = toks, 0

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def expr(self) -> Node:
        args = [self.conj()]
        while self.peek() == "OR":
            self.i += 1
            args.append(self.conj())
        return args[0] if len(args) == 1 else Op("OR", tuple(args))

    def conj(self) -> Node:
        args = [self.neg()]
        while self.peek() not in (None, ")", "OR"):
            if self.peek() == "AND":
                self.i += 1
            args.append(self.neg())
        return args[0] if len(args) == 1 else Op("AND", tuple(args))

    def neg(self) -> Node:
        if self.peek() == "NOT":
            self.i += 1
            return Op("NOT", (self.neg(),))
        return self.atom()

    def atom(self) -> Node:
        tok = self.peek()
        if tok is None:
            raise SearchError("the search ends where a term is expected")
        self.i += 1
        if tok == "(":
            node = self.expr()
            if self.peek() != ")":
                raise SearchError("a '(' is not closed")
            self.i += 1
            return node
        if tok in (")", "{", "}", ",", "=", "AND", "OR"):
            raise SearchError(f"unexpected {tok!r}")
        if self.peek() == "=":
            self.i += 1
            value = self.peek()
            if value is None or value in ("(", ")", "{", "}", ",", "="):
                raise SearchError(f"{tok}= has no value")
            self.i += 1
            return Term(_unquote(value), value.startswith('"'), _unquote(tok))
        return Term(_unquote(tok), tok.startswith('"'), None)

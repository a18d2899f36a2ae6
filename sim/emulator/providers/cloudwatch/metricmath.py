"""CloudWatch metric math: a parser and evaluator for GetMetricData / alarm expressions.

Follows the CloudWatch user guide, "Use metric math"
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html), sections
"Metric math syntax and functions", "Comparison and logical operators" and "Using IF
expressions". Pure Python: no HTTP, no storage; the CloudWatch provider fetches the metric data
and hands it in.

Shapes and units
- A time series is a list of ``(timestamp, value)`` pairs, timestamps in epoch seconds (the
  start of each period), sorted by time, no duplicates. A missing datapoint is simply absent.
- ``series`` maps query Ids (``"m1"``, ``"errors"``) to such lists. Ids of results of other
  expressions may be in it too; pass ``metric_ids`` to say which Ids are metrics (``METRICS()``
  returns metrics only, never expressions).
- ``period`` is the query period in seconds; ``start``/``end`` (epoch seconds, end exclusive) bound
  the query range that FILL, TIME_SERIES and MINUTE/HOUR/... fill densely. Without them the range
  spans the input series.

Entry points
- ``evaluate(expr, series, period, ...) -> list[Series]``: every time series the expression
  returns (one for ``m1*2``, several for ``FILL(METRICS(), 0)``).
- ``evaluate_expression(expr, series, period, ...) -> list[(ts, value)]``: the single series an
  alarm or a single-line query needs; MetricMathError when the result is not exactly one series.
- ``evaluate_queries(expressions, series, period, ...)``: a whole MetricDataQueries set where
  expressions refer to each other (dependency order, cycles rejected).
- ``parse(expr)``: syntax check only (PutMetricAlarm validation).

Errors
- ``MetricMathError(message)`` with AWS's "Error in expression '<id>': ..." style; ``code`` is
  ``ValidationError`` as GetMetricData/PutMetricAlarm answer it.
- ``NeedsSearch(search, expression)``: the expression calls ``SEARCH('...')``; the provider
  resolves the search string to metrics, puts them into ``series`` and evaluates again with
  ``search_results={search: [ids...]}``.
- Functions AWS has but bdlab does not model (ANOMALY_DETECTION_BAND, INSIGHT_RULE_METRIC,
  SERVICE_QUOTA, LAMBDA, DB_PERF_INSIGHTS) raise MetricMathError naming the function.

Semantics decided from the guide's wording (see the module's tests for the guide's examples):
arithmetic and comparisons between two time series use the union of their timestamps with a
missing value treated as 0 ("Missing values in a time series are treated as 0"; the comparison
table shows it); a datapoint whose computation divides by zero or yields NaN/infinity is dropped.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

Points = list[tuple[float, float]]

__all__ = [
    "MetricMathError",
    "NeedsSearch",
    "Series",
    "evaluate",
    "evaluate_expression",
    "evaluate_queries",
    "parse",
    "referenced_ids",
    "uses_metrics_function",
]


class MetricMathError(Exception):
    """A metric math expression AWS would reject (GetMetricData / PutMetricAlarm ValidationError)."""

    code = "ValidationError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NeedsSearch(Exception):  # noqa: N818 - a signal to the provider, not an error
    """The expression contains ``SEARCH(search)``; the provider must resolve it.

    ``search`` is the search string exactly as written (without the quotes), ``expression`` the
    whole expression. Evaluate again with ``search_results={search: [ids]}`` once the matching
    metrics' series are in ``series``.
    """

    def __init__(
        self, search: str, expression: str, stat: str | None = None, period: int | None = None
    ) -> None:
        super().__init__(f"SEARCH({search!r}) must be resolved by the provider")
        self.search = search
        self.expression = expression
        self.stat = stat  # SEARCH's second argument ('Average', 'p99', ...), None if absent
        self.period = period  # its third, in seconds, None if absent (the query's Period)


@dataclass(frozen=True)
class Series:
    """One time series of a result: ``id`` of the metric it came from (None when the expression
    combined several), ``label`` (the metric's label, "" for a computed series: the caller applies
    the query's Label) and ``points`` sorted by time."""

    id: str | None
    label: str
    points: Points = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# Lexer


_UNSUPPORTED = {
    "ANOMALY_DETECTION_BAND": "anomaly detection models",
    "INSIGHT_RULE_METRIC": "Contributor Insights rules",
    "SERVICE_QUOTA": "Service Quotas",
    "LAMBDA": "Lambda-backed metric math",
    "DB_PERF_INSIGHTS": "Performance Insights",
}

_QUOTES = {'"': '"', "'": "'", "\u201c": "\u201d", "\u2018": "\u2019"}


@dataclass(frozen=True)
class _Tok:
    kind: str  # num, id, name, str, op, end
    text: str
    pos: int


def _tokenize(src: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c.isspace():
            i += 1
            continue
        if c.isdigit() or (c == "." and i + 1 < n and src[i + 1].isdigit()):
            j = i
            while j < n and (src[j].isdigit() or src[j] == "."):
                j += 1
            if j < n and src[j] in "eE":
                k = j + 1
                if k < n and src[k] in "+-":
                    k += 1
                if k < n and src[k].isdigit():
                    j = k
                    while j < n and src[j].isdigit():
                        j += 1
            text = src[i:j]
            try:
                float(text)
            except ValueError:
                raise _SyntaxError(f"Invalid number '{text}'", i) from None
            toks.append(_Tok("num", text, i))
            i = j
            continue
        if c.isalpha() or c == "_":
            j = i
            while j < n and (src[j].isalnum() or src[j] == "_"):
                j += 1
            word = src[i:j]
            if word in ("AND", "OR"):
                toks.append(_Tok("op", word, i))
            elif word[0].islower():
                toks.append(_Tok("id", word, i))
            else:
                toks.append(_Tok("name", word, i))
            i = j
            continue
        if c in _QUOTES:
            close = _QUOTES[c]
            j = src.find(close, i + 1)
            if j < 0:
                raise _SyntaxError("Unterminated string", i)
            toks.append(_Tok("str", src[i + 1 : j], i))
            i = j + 1
            continue
        two = src[i : i + 2]
        if two in ("==", "!=", "<=", ">=", "&&", "||"):
            toks.append(_Tok("op", {"&&": "AND", "||": "OR"}.get(two, two), i))
            i += 2
            continue
        if c in "+-*/^<>(),[]":
            toks.append(_Tok("op", c, i))
            i += 1
            continue
        raise _SyntaxError(f"Unsupported character '{c}'", i)
    toks.append(_Tok("end", "", n))
    return toks


class _SyntaxError(Exception):
    def __init__(self, detail: str, pos: int) -> None:
        super().__init__(detail)
        self.detail = detail
        self.pos = pos


# --------------------------------------------------------------------------------------------
# AST and parser (recursive descent)


@dataclass(frozen=True)
class Num:
    value: float


@dataclass(frozen=True)
class Ref:
    id: str


@dataclass(frozen=True)
class Str:
    value: str


@dataclass(frozen=True)
class Keyword:
    name: str  # REPEAT, LINEAR, ASC, DESC, and AVG/MIN/MAX/SUM used as SORT's function


@dataclass(frozen=True)
class ArrayLit:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Unary:
    op: str
    operand: Node


@dataclass(frozen=True)
class Binary:
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Node, ...]
    pos: int


Node = Num | Ref | Str | Keyword | ArrayLit | Unary | Binary | Call

_COMPARISONS = ("==", "!=", "<=", ">=", "<", ">")


class _Parser:
    # Precedence, loosest first: OR, AND, comparison, + -, * /, unary -, ^ (right-associative).
    def __init__(self, src: str) -> None:
        self.src = src
        self.toks = _tokenize(src)
        self.i = 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def expect(self, text: str) -> _Tok:
        tok = self.peek()
        if tok.kind != "op" or tok.text != text:
            raise _SyntaxError(f"Expected '{text}'", tok.pos)
        return self.take()

    def parse(self) -> Node:
        if self.peek().kind == "end":
            raise _SyntaxError("Empty expression", 0)
        node = self.or_expr()
        tok = self.peek()
        if tok.kind != "end":
            raise _SyntaxError(f"Unexpected token '{tok.text}'", tok.pos)
        return node

    def or_expr(self) -> Node:
        node = self.and_expr()
        while self.peek().kind == "op" and self.peek().text == "OR":
            self.take()
            node = Binary("OR", node, self.and_expr())
        return node

    def and_expr(self) -> Node:
        node = self.comparison()
        while self.peek().kind == "op" and self.peek().text == "AND":
            self.take()
            node = Binary("AND", node, self.comparison())
        return node

    def comparison(self) -> Node:
        node = self.additive()
        while self.peek().kind == "op" and self.peek().text in _COMPARISONS:
            op = self.take().text
            node = Binary(op, node, self.additive())
        return node

    def additive(self) -> Node:
        node = self.term()
        while self.peek().kind == "op" and self.peek().text in "+-":
            op = self.take().text
            node = Binary(op, node, self.term())
        return node

    def term(self) -> Node:
        node = self.unary()
        while self.peek().kind == "op" and self.peek().text in "*/":
            op = self.take().text
            node = Binary(op, node, self.unary())
        return node

    def unary(self) -> Node:
        tok = self.peek()
        if tok.kind == "op" and tok.text in "+-":
            self.take()
            operand = self.unary()
            return operand if tok.text == "+" else Unary("-", operand)
        return self.power()

    def power(self) -> Node:
        base = self.atom()
        if self.peek().kind == "op" and self.peek().text == "^":
            self.take()
            return Binary("^", base, self.unary())
        return base

    def atom(self) -> Node:
        tok = self.take()
        if tok.kind == "num":
            return Num(float(tok.text))
        if tok.kind == "str":
            return Str(tok.text)
        if tok.kind == "id":
            return Ref(tok.text)
        if tok.kind == "op" and tok.text == "(":
            node = self.or_expr()
            self.expect(")")
            return node
        if tok.kind == "op" and tok.text == "[":
            items: list[Node] = []
            if not (self.peek().kind == "op" and self.peek().text == "]"):
                items.append(self.or_expr())
                while self.peek().kind == "op" and self.peek().text == ",":
                    self.take()
                    items.append(self.or_expr())
            self.expect("]")
            return ArrayLit(tuple(items))
        if tok.kind == "name":
            if self.peek().kind == "op" and self.peek().text == "(":
                return self.call(tok)
            if tok.text in _KEYWORDS:
                return Keyword(tok.text)
            if tok.text in _FUNCTIONS or tok.text in _UNSUPPORTED:
                raise _SyntaxError(f"Expected '(' after {tok.text}", self.peek().pos)
            raise _SyntaxError(f"Unrecognized identifier '{tok.text}'", tok.pos)
        if tok.kind == "end":
            raise _SyntaxError("Unexpected end of expression", tok.pos)
        raise _SyntaxError(f"Unexpected token '{tok.text}'", tok.pos)

    def call(self, name_tok: _Tok) -> Node:
        self.expect("(")
        args: list[Node] = []
        if not (self.peek().kind == "op" and self.peek().text == ")"):
            args.append(self.or_expr())
            while self.peek().kind == "op" and self.peek().text == ",":
                self.take()
                args.append(self.or_expr())
        self.expect(")")
        return Call(name_tok.text, tuple(args), name_tok.pos)


_KEYWORDS = {"REPEAT", "LINEAR", "ASC", "DESC", "AVG", "MIN", "MAX", "SUM"}


def parse(expr: str, query_id: str = "e1") -> Node:
    """Parse ``expr`` into an AST; MetricMathError on a syntax error or an unknown function.

    Does not check that referenced Ids exist (use ``referenced_ids`` for that)."""
    try:
        node = _Parser(expr).parse()
    except _SyntaxError as exc:
        raise MetricMathError(
            f"Error in expression '{query_id}': Syntax error at char {exc.pos}: {exc.detail}"
        ) from None
    _check_functions(node, query_id)
    return node


def _check_functions(node: Node, query_id: str) -> None:
    for sub in _walk(node):
        if isinstance(sub, Call) and sub.name not in _FUNCTIONS and sub.name not in _UNSUPPORTED:
            if sub.name == "SEARCH":
                continue
            raise MetricMathError(
                f"Error in expression '{query_id}': Function '{sub.name}' not found"
            )


def _walk(node: Node):  # type: ignore[no-untyped-def]
    yield node
    if isinstance(node, Unary):
        yield from _walk(node.operand)
    elif isinstance(node, Binary):
        yield from _walk(node.left)
        yield from _walk(node.right)
    elif isinstance(node, Call | ArrayLit):
        children = node.args if isinstance(node, Call) else node.items
        for child in children:
            yield from _walk(child)


def referenced_ids(expr: str | Node) -> set[str]:
    """The query Ids an expression refers to directly (``METRICS()`` not expanded)."""
    node = parse(expr) if isinstance(expr, str) else expr
    return {sub.id for sub in _walk(node) if isinstance(sub, Ref)}


def uses_metrics_function(expr: str | Node) -> bool:
    """True when the expression calls METRICS() (it then depends on every metric query)."""
    node = parse(expr) if isinstance(expr, str) else expr
    return any(isinstance(sub, Call) and sub.name == "METRICS" for sub in _walk(node))


# --------------------------------------------------------------------------------------------
# Values during evaluation

# A time series inside the evaluator: timestamp -> value, plus where it came from.


@dataclass
class _TS:
    data: dict[float, float]
    id: str | None = None
    label: str = ""

    def sorted_items(self) -> Points:
        return sorted(self.data.items())


@dataclass
class _Arr:
    items: list[_TS]


Value = float | _TS | _Arr | str | Keyword


def _clean(v: float) -> float | None:
    # CloudWatch drops datapoints whose computation divides by zero; NaN and infinity are
    # never stored, so they are dropped the same way.
    if math.isnan(v) or math.isinf(v):
        return None
    return v


@dataclass
class _Ctx:
    series: Mapping[str, Sequence[tuple[float, float]]]
    period: int
    metric_ids: list[str]
    labels: Mapping[str, str]
    search_results: Mapping[str, Sequence[str]]
    start: float | None
    end: float | None
    query_id: str
    expr: str
    cache: dict[str, _TS] = field(default_factory=dict)

    def err(self, detail: str) -> MetricMathError:
        return MetricMathError(f"Error in expression '{self.query_id}': {detail}")

    def ref(self, ident: str) -> _TS:
        if ident not in self.cache:
            if ident not in self.series:
                raise self.err(f"Unknown metric or expression id '{ident}'")
            ts = _TS({float(t): float(v) for t, v in self.series[ident]})
            ts.id = ident
            ts.label = self.labels.get(ident, ident)
            self.cache[ident] = ts
        src = self.cache[ident]
        return _TS(dict(src.data), src.id, src.label)

    def grid(self) -> list[float]:
        """Period starts of the query range: [start, end) when known, else spanning all the
        input series (the data the provider fetched for this query range)."""
        p = float(self.period)
        if self.start is not None and self.end is not None:
            first, last_excl = self.start, self.end
        else:
            stamps = [float(t) for pts in self.series.values() for t, _ in pts]
            if not stamps:
                return []
            first, last_excl = min(stamps), max(stamps) + p
        out: list[float] = []
        t = first
        while t < last_excl - 1e-9:
            out.append(t)
            t += p
        return out


# --------------------------------------------------------------------------------------------
# Evaluation


def _binary_scalar(op: str, a: float, b: float) -> float | None:
    r = _binary_raw(op, a, b)
    return None if r is None else _clean(r)


def _binary_raw(op: str, a: float, b: float) -> float | None:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        return None if b == 0 else a / b
    if op == "^":
        try:
            r = a**b
        except (OverflowError, ZeroDivisionError):
            return None
        return None if isinstance(r, complex) else _clean(float(r))
    if op == "==":
        return 1.0 if a == b else 0.0
    if op == "!=":
        return 1.0 if a != b else 0.0
    if op == "<":
        return 1.0 if a < b else 0.0
    if op == ">":
        return 1.0 if a > b else 0.0
    if op == "<=":
        return 1.0 if a <= b else 0.0
    if op == ">=":
        return 1.0 if a >= b else 0.0
    if op == "AND":
        return 1.0 if (a != 0 and b != 0) else 0.0
    if op == "OR":
        return 1.0 if (a != 0 or b != 0) else 0.0
    raise AssertionError(op)


def _combine(op: str, left: Value, right: Value, ctx: _Ctx) -> Value:
    if isinstance(left, _Arr) or isinstance(right, _Arr):
        if isinstance(left, _Arr) and isinstance(right, _Arr):
            raise ctx.err(f"Operator '{op}' cannot combine two arrays of time series")
        if isinstance(left, _Arr):
            return _Arr([_as_ts(_combine(op, ts, right, ctx)) for ts in left.items])
        assert isinstance(right, _Arr)
        return _Arr([_as_ts(_combine(op, left, ts, ctx)) for ts in right.items])
    if isinstance(left, float) and isinstance(right, float):
        # A scalar that cannot be computed (division by zero, AVG of an empty series) is
        # absent: NaN here, and every datapoint combined with it is dropped later.
        r = _binary_scalar(op, left, right)
        return float("nan") if r is None else r
    if isinstance(left, _TS) and isinstance(right, float):
        out = {
            t: r for t, v in left.data.items() if (r := _binary_scalar(op, v, right)) is not None
        }
        return _TS(out, left.id, left.label)
    if isinstance(left, float) and isinstance(right, _TS):
        out = {
            t: r for t, v in right.data.items() if (r := _binary_scalar(op, left, v)) is not None
        }
        return _TS(out, right.id, right.label)
    if isinstance(left, _TS) and isinstance(right, _TS):
        # Union of timestamps, a missing side counting as 0 (user guide: "Missing values in a
        # time series are treated as 0"; the comparison example shows the same).
        out = {}
        for t in sorted(set(left.data) | set(right.data)):
            r = _binary_scalar(op, left.data.get(t, 0.0), right.data.get(t, 0.0))
            if r is not None:
                out[t] = r
        return _TS(out)
    raise ctx.err(f"Operator '{op}' is not valid for these arguments")


def _as_ts(v: Value) -> _TS:
    assert isinstance(v, _TS)
    return v


def _eval(node: Node, ctx: _Ctx) -> Value:
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Str):
        return node.value
    if isinstance(node, Keyword):
        return node
    if isinstance(node, Ref):
        return ctx.ref(node.id)
    if isinstance(node, ArrayLit):
        items: list[_TS] = []
        for child in node.items:
            v = _eval(child, ctx)
            if isinstance(v, _TS):
                items.append(v)
            elif isinstance(v, _Arr):
                items.extend(v.items)
            else:
                raise ctx.err("An array may contain only time series")
        return _Arr(items)
    if isinstance(node, Unary):
        v = _eval(node.operand, ctx)
        return _combine("*", v, -1.0, ctx) if not isinstance(v, float) else -v
    if isinstance(node, Binary):
        left = _eval(node.left, ctx)
        right = _eval(node.right, ctx)
        for side in (left, right):
            if isinstance(side, str | Keyword):
                raise ctx.err(f"Operator '{node.op}' is not valid for these arguments")
        return _combine(node.op, left, right, ctx)
    if isinstance(node, Call):
        return _call(node, ctx)
    raise AssertionError(node)


# --- function helpers


def _arity(ctx: _Ctx, call: Call, lo: int, hi: int | None = None) -> None:
    n = len(call.args)
    hi = lo if hi is None else hi
    if n < lo or n > hi:
        want = str(lo) if lo == hi else f"{lo} to {hi}"
        raise ctx.err(f"Function '{call.name}' expects {want} argument(s) but got {n}")


def _bad_args(ctx: _Ctx, call: Call) -> MetricMathError:
    return ctx.err(f"Invalid arguments for function '{call.name}'")


def _map_points(v: Value, fn: Callable[[float], float | None], ctx: _Ctx, call: Call) -> Value:
    def one(ts: _TS) -> _TS:
        out = {}
        for t, x in ts.data.items():
            r = fn(x)
            if r is not None and (r := _clean(r)) is not None:
                out[t] = r
        return _TS(out, ts.id, ts.label)

    if isinstance(v, _TS):
        return one(v)
    if isinstance(v, _Arr):
        return _Arr([one(ts) for ts in v.items])
    if isinstance(v, float):
        r = fn(v)
        if r is None or _clean(r) is None:
            raise _bad_args(ctx, call)
        return r
    raise _bad_args(ctx, call)


def _map_series(v: Value, fn: Callable[[_TS], _TS], ctx: _Ctx, call: Call) -> Value:
    if isinstance(v, _TS):
        return fn(v)
    if isinstance(v, _Arr):
        return _Arr([fn(ts) for ts in v.items])
    raise _bad_args(ctx, call)


def _safe_log(base: float | None) -> Callable[[float], float | None]:
    def f(x: float) -> float | None:
        if x <= 0:
            return None
        return math.log(x) if base is None else math.log10(x)

    return f


def _reduce_values(name: str, values: list[float]) -> float | None:
    if not values:
        return None
    if name == "SUM":
        return math.fsum(values)
    if name == "AVG":
        return math.fsum(values) / len(values)
    if name == "MIN":
        return min(values)
    if name == "MAX":
        return max(values)
    if name == "STDDEV":
        # Population standard deviation: the guide does not say which; a single datapoint gives 0.
        return statistics.pstdev(values)
    raise AssertionError(name)


def _aggregate(name: str, v: Value, ctx: _Ctx, call: Call) -> Value:
    if isinstance(v, _TS):
        r = _reduce_values(name, list(v.data.values()))
        # An empty series has no scalar; NaN would poison the expression, so the scalar is
        # absent and any series combined with it loses its datapoints.
        return float("nan") if r is None else r
    if isinstance(v, _Arr):
        stamps = sorted({t for ts in v.items for t in ts.data})
        out: dict[float, float] = {}
        for t in stamps:
            if name == "AVG":
                # The guide: "The AVG of an array of time series ... Missing values are treated as 0."
                vals = [ts.data.get(t, 0.0) for ts in v.items]
            else:
                vals = [ts.data[t] for ts in v.items if t in ts.data]
            r = _reduce_values(name, vals)
            if r is not None:
                out[t] = r
        return _TS(out)
    raise _bad_args(ctx, call)


def _diff_like(kind: str) -> Callable[[_TS], _TS]:
    def fn(ts: _TS) -> _TS:
        items = ts.sorted_items()
        out: dict[float, float] = {}
        for (t0, v0), (t1, v1) in zip(items, items[1:], strict=False):
            if kind == "DIFF":
                out[t1] = v1 - v0
            elif kind == "DIFF_TIME":
                out[t1] = t1 - t0
            elif kind == "RATE":
                out[t1] = (v1 - v0) / (t1 - t0)
        return _TS(out, ts.id, ts.label)

    return fn


def _running_sum(ts: _TS) -> _TS:
    total = 0.0
    out = {}
    for t, v in ts.sorted_items():
        total += v
        out[t] = total
    return _TS(out, ts.id, ts.label)


def _fill(ts: _TS, filler: Value, ctx: _Ctx, call: Call) -> _TS:
    grid = ctx.grid()
    data = dict(ts.data)
    missing = [t for t in grid if t not in data]
    if isinstance(filler, float):
        for t in missing:
            data[t] = filler
    elif isinstance(filler, _TS):
        for t in missing:
            if t in filler.data:
                data[t] = filler.data[t]
    elif isinstance(filler, Keyword) and filler.name == "REPEAT":
        # Most recent actual value before the gap; a gap at the very start has nothing to repeat.
        last: float | None = None
        for t in grid:
            if t in ts.data:
                last = ts.data[t]
            elif last is not None:
                data[t] = last
    elif isinstance(filler, Keyword) and filler.name == "LINEAR":
        # Linear interpolation between the values at both ends of a gap; gaps open at either
        # end of the range have no second end and stay missing.
        known = ts.sorted_items()
        for t in missing:
            before = [(tt, v) for tt, v in known if tt < t]
            after = [(tt, v) for tt, v in known if tt > t]
            if before and after:
                (t0, v0), (t1, v1) = before[-1], after[0]
                data[t] = v0 + (v1 - v0) * (t - t0) / (t1 - t0)
    else:
        raise _bad_args(ctx, call)
    return _TS(data, ts.id, ts.label)


def _if(args: list[Value], ctx: _Ctx, call: Call) -> Value:
    cond = args[0]
    true_v = args[1]
    false_v = args[2] if len(args) > 2 else None
    if not isinstance(true_v, float | _TS):
        raise _bad_args(ctx, call)
    if false_v is not None and not isinstance(false_v, float | _TS):
        raise _bad_args(ctx, call)
    if isinstance(cond, float):
        # IF(scalar, metric2, metric3): the whole series of one branch; an omitted branch is an
        # empty time series.
        chosen = true_v if cond != 0 else false_v
        if chosen is None:
            return _TS({})
        if isinstance(chosen, float):
            raise ctx.err("IF with a scalar condition needs time series branches")
        return chosen
    if not isinstance(cond, _TS):
        raise _bad_args(ctx, call)
    out: dict[float, float] = {}
    for t, c in cond.data.items():
        if c != 0:
            if isinstance(true_v, float):
                out[t] = true_v
            else:
                # The guide: TRUE and no datapoint in metric2 -> 0.
                out[t] = true_v.data.get(t, 0.0)
        else:
            if false_v is None:
                continue
            if isinstance(false_v, float):
                out[t] = false_v
            elif t in false_v.data:
                out[t] = false_v.data[t]
    return _TS(out)


def _time_fn(name: str, ts: _TS, ctx: _Ctx) -> _TS:
    out: dict[float, float] = {}
    for t in ctx.grid():
        d = datetime.fromtimestamp(t, UTC)
        out[t] = float(
            {
                "MINUTE": d.minute,
                "HOUR": d.hour,
                "DAY": d.isoweekday(),  # 1 = Monday ... 7 = Sunday, per the guide's examples
                "DATE": d.day,
                "MONTH": d.month,
                "YEAR": d.year,
                "EPOCH": int(t),
            }[name]
        )
    return _TS(out)


def _sort_key(fn: str, ts: _TS) -> float:
    r = _reduce_values(fn, list(ts.data.values()))
    return -math.inf if r is None else r


def _int_arg(v: Value, ctx: _Ctx, call: Call) -> int:
    if not isinstance(v, float) or v != int(v):
        raise _bad_args(ctx, call)
    return int(v)


_ELEMENTWISE: dict[str, Callable[[float], float | None]] = {
    "ABS": abs,
    "CEIL": lambda x: float(math.ceil(x)),
    "FLOOR": lambda x: float(math.floor(x)),
    "LOG": _safe_log(None),
    "LOG10": _safe_log(10.0),
}

_FUNCTIONS = {
    *_ELEMENTWISE,
    "AVG",
    "MAX",
    "MIN",
    "SUM",
    "STDDEV",
    "DATAPOINT_COUNT",
    "DIFF",
    "DIFF_TIME",
    "RATE",
    "RUNNING_SUM",
    "FILL",
    "FIRST",
    "LAST",
    "IF",
    "METRICS",
    "METRIC_COUNT",
    "PERIOD",
    "REMOVE_EMPTY",
    "SLICE",
    "SORT",
    "TIME_SERIES",
    "MINUTE",
    "HOUR",
    "DAY",
    "DATE",
    "MONTH",
    "YEAR",
    "EPOCH",
}


def _call(call: Call, ctx: _Ctx) -> Value:
    name = call.name
    if name in _UNSUPPORTED:
        raise ctx.err(
            f"Function '{name}' is not supported by bdlab's CloudWatch (it needs {_UNSUPPORTED[name]})"
        )
    if name == "SEARCH":
        # SEARCH('search', 'Stat'[, Period]) (search-expression-syntax.html)
        _arity(ctx, call, 1, 3)
        arg = call.args[0]
        stat = call.args[1] if len(call.args) > 1 else None
        period = call.args[2] if len(call.args) > 2 else None
        if (
            not isinstance(arg, Str)
            or (stat is not None and not isinstance(stat, Str))
            or (period is not None and not isinstance(period, Num))
        ):
            raise _bad_args(ctx, call)
        if arg.value not in ctx.search_results:
            raise NeedsSearch(
                arg.value,
                ctx.expr,
                stat.value if isinstance(stat, Str) else None,
                int(period.value) if isinstance(period, Num) else None,
            )
        return _Arr([ctx.ref(i) for i in ctx.search_results[arg.value]])
    if name == "METRICS":
        _arity(ctx, call, 0, 1)
        needle = ""
        if call.args:
            if not isinstance(call.args[0], Str):
                raise _bad_args(ctx, call)
            needle = call.args[0].value
        return _Arr([ctx.ref(i) for i in ctx.metric_ids if needle in i])
    if name == "PERIOD":
        _arity(ctx, call, 1)
        if not isinstance(call.args[0], Ref):
            # The guide: "Valid input is metrics, not the results of other expressions."
            raise _bad_args(ctx, call)
        ctx.ref(call.args[0].id)
        return float(ctx.period)
    if name == "TIME_SERIES":
        _arity(ctx, call, 1)
        v = _eval(call.args[0], ctx)
        if not isinstance(v, float):
            raise _bad_args(ctx, call)
        if math.isnan(v):
            return _TS({})
        return _TS(dict.fromkeys(ctx.grid(), v))

    args = [_eval(a, ctx) for a in call.args]
    if name in _ELEMENTWISE:
        _arity(ctx, call, 1)
        return _map_points(args[0], _ELEMENTWISE[name], ctx, call)
    if name in ("AVG", "MAX", "MIN", "SUM", "STDDEV"):
        _arity(ctx, call, 1)
        return _aggregate(name, args[0], ctx, call)
    if name == "DATAPOINT_COUNT":
        _arity(ctx, call, 1)
        v = args[0]
        if isinstance(v, _TS):
            return float(len(v.data))
        if isinstance(v, _Arr):
            stamps = sorted({t for ts in v.items for t in ts.data})
            return _TS({t: float(sum(1 for ts in v.items if t in ts.data)) for t in stamps})
        raise _bad_args(ctx, call)
    if name in ("DIFF", "DIFF_TIME", "RATE"):
        _arity(ctx, call, 1)
        return _map_series(args[0], _diff_like(name), ctx, call)
    if name == "RUNNING_SUM":
        _arity(ctx, call, 1)
        return _map_series(args[0], _running_sum, ctx, call)
    if name == "FILL":
        _arity(ctx, call, 2)
        target, filler = args
        if isinstance(filler, Keyword) and filler.name not in ("REPEAT", "LINEAR"):
            raise _bad_args(ctx, call)
        if isinstance(filler, _Arr | str):
            raise _bad_args(ctx, call)
        return _map_series(target, lambda ts: _fill(ts, filler, ctx, call), ctx, call)
    if name in ("FIRST", "LAST"):
        _arity(ctx, call, 1)
        v = args[0]
        if isinstance(v, _TS):
            return v
        if not isinstance(v, _Arr):
            raise _bad_args(ctx, call)
        if not v.items:
            return _TS({})
        return v.items[0] if name == "FIRST" else v.items[-1]
    if name == "IF":
        _arity(ctx, call, 2, 3)
        return _if(args, ctx, call)
    if name == "METRIC_COUNT":
        _arity(ctx, call, 1)
        v = args[0]
        if isinstance(v, _Arr):
            return float(len(v.items))
        if isinstance(v, _TS):
            return 1.0
        raise _bad_args(ctx, call)
    if name == "REMOVE_EMPTY":
        _arity(ctx, call, 1)
        v = args[0]
        if isinstance(v, _TS):
            v = _Arr([v])
        if not isinstance(v, _Arr):
            raise _bad_args(ctx, call)
        return _Arr([ts for ts in v.items if ts.data])
    if name == "SLICE":
        _arity(ctx, call, 2, 3)
        arr = args[0]
        if not isinstance(arr, _Arr):
            raise _bad_args(ctx, call)
        lo = _int_arg(args[1], ctx, call)
        hi = _int_arg(args[2], ctx, call) if len(args) > 2 else len(arr.items)
        return _Arr(arr.items[lo:hi])
    if name == "SORT":
        _arity(ctx, call, 3, 4)
        arr, fn, order = args[0], args[1], args[2]
        if isinstance(arr, _TS):
            arr = _Arr([arr])
        if not isinstance(arr, _Arr):
            raise _bad_args(ctx, call)
        if not (isinstance(fn, Keyword) and fn.name in ("AVG", "MIN", "MAX", "SUM")):
            raise _bad_args(ctx, call)
        if not (isinstance(order, Keyword) and order.name in ("ASC", "DESC")):
            raise _bad_args(ctx, call)
        ordered = sorted(
            arr.items, key=lambda ts: _sort_key(fn.name, ts), reverse=order.name == "DESC"
        )
        if len(args) > 3:
            ordered = ordered[: _int_arg(args[3], ctx, call)]
        return _Arr(ordered)
    if name in ("MINUTE", "HOUR", "DAY", "DATE", "MONTH", "YEAR", "EPOCH"):
        _arity(ctx, call, 1)
        v = args[0]
        if not isinstance(v, _TS):
            raise _bad_args(ctx, call)
        return _time_fn(name, v, ctx)
    raise ctx.err(f"Function '{name}' not found")


# --------------------------------------------------------------------------------------------
# Public API


def evaluate(
    expr: str,
    series: Mapping[str, Sequence[tuple[float, float]]],
    period: int,
    *,
    query_id: str = "e1",
    metric_ids: Collection[str] | None = None,
    labels: Mapping[str, str] | None = None,
    start: float | None = None,
    end: float | None = None,
    search_results: Mapping[str, Sequence[str]] | None = None,
) -> list[Series]:
    """Evaluate ``expr`` and return every time series it produces.

    ``series``: Id -> [(epoch seconds, value)] sorted by time. ``period``: seconds.
    ``query_id``: the Id of this expression (used in error messages, as AWS does).
    ``metric_ids``: the Ids that are metrics (METRICS() returns these, in this order; default: all
    of ``series`` in insertion order). ``labels``: Id -> label for multi-series results (default: the
    Id). ``start``/``end``: the query range for FILL/TIME_SERIES/MINUTE...; ``search_results``:
    resolved SEARCH strings -> Ids in ``series``.

    A single-series result has ``id=None`` and ``label=""`` unless it is a metric passed through.
    Raises MetricMathError (syntax, unknown Id or function, wrong arguments, scalar result) or
    NeedsSearch.
    """
    node = parse(expr, query_id)
    ctx = _Ctx(
        series=series,
        period=period,
        metric_ids=list(metric_ids) if metric_ids is not None else list(series),
        labels=labels or {},
        search_results=search_results or {},
        start=start,
        end=end,
        query_id=query_id,
        expr=expr,
    )
    value = _eval(node, ctx)
    if isinstance(value, _TS):
        return [Series(value.id, value.label if value.id else "", value.sorted_items())]
    if isinstance(value, _Arr):
        return [Series(ts.id, ts.label, ts.sorted_items()) for ts in value.items]
    raise ctx.err(
        "The expression returns a scalar; the final result must be a time series "
        "or an array of time series"
    )


def evaluate_expression(
    expr: str,
    series: dict[str, list[tuple[float, float]]],
    period: int,
    **kwargs: object,
) -> list[tuple[float, float]]:
    """Evaluate an expression that must return exactly one time series; return its points.

    Same arguments as ``evaluate``. MetricMathError when the result is zero or several series
    (an alarm "can watch only one time series", AlarmThatSendsEmail.html, math expressions).
    """
    result = evaluate(expr, series, period, **kwargs)  # type: ignore[arg-type]
    if len(result) != 1:
        qid = kwargs.get("query_id", "e1")
        raise MetricMathError(
            f"Error in expression '{qid}': the expression returns {len(result)} time series; "
            "exactly one is required"
        )
    return result[0].points


def evaluate_queries(
    expressions: Mapping[str, str],
    series: Mapping[str, Sequence[tuple[float, float]]],
    period: int,
    *,
    labels: Mapping[str, str] | None = None,
    start: float | None = None,
    end: float | None = None,
    search_results: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, list[Series]]:
    """Evaluate a set of expressions that may refer to each other and to the metrics in ``series``.

    ``expressions``: Id -> expression text. Evaluated in dependency order; an expression used by
    another must return exactly one series. MetricMathError for an unknown Id or a cycle
    ("Error in expression 'e1': Circular dependency ...").
    """
    nodes = {qid: parse(text, qid) for qid, text in expressions.items()}
    metric_ids = [i for i in series if i not in expressions]
    known = set(series) | set(expressions)
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(qid: str, chain: list[str]) -> None:
        if state.get(qid) == 2:
            return
        if state.get(qid) == 1:
            cycle = " -> ".join([*chain[chain.index(qid) :], qid])
            raise MetricMathError(f"Error in expression '{qid}': Circular dependency ({cycle})")
        state[qid] = 1
        for dep in sorted(referenced_ids(nodes[qid])):
            if dep not in known:
                raise MetricMathError(
                    f"Error in expression '{qid}': Unknown metric or expression id '{dep}'"
                )
            if dep in nodes:
                visit(dep, [*chain, qid])
        state[qid] = 2
        order.append(qid)

    for qid in nodes:
        visit(qid, [])

    data: dict[str, Sequence[tuple[float, float]]] = dict(series)
    out: dict[str, list[Series]] = {}
    for qid in order:
        result = evaluate(
            expressions[qid],
            data,
            period,
            query_id=qid,
            metric_ids=metric_ids,
            labels=labels,
            start=start,
            end=end,
            search_results=search_results,
        )
        out[qid] = result
        if len(result) == 1:
            data[qid] = result[0].points
    return out

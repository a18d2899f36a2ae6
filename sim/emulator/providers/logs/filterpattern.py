"""CloudWatch Logs filter patterns: parse once, then match and extract from many messages.

Follows "Filter pattern syntax for metric filters, subscription filters, filter log events, and
Live Tail" of the CloudWatch Logs user guide
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html) and its
pages on unstructured, JSON and space-delimited log events and on regular expressions. Pure
Python, no I/O: the Logs provider (api.py) and tests use it directly.

Pattern kinds (decided by the first character of the stripped pattern):

- empty (or only a quoted blank, ``" "``): every event matches.
- terms: ``ERROR Exception`` (all, case-sensitive substrings), ``?ERROR ?WARN`` (any),
  ``ERROR -DEBUG`` (exclusion), ``"quoted phrases"``. Unquoted terms hold only letters, digits
  and ``_``; anything else must be quoted (AWS: "Invalid character(s) in term '...'").
- ``%regex%``: AWS's regex subset (letters, digits, ``:_#=@/;,-`` and the operators
  ``^$?[]{}|\\*+.``; no parentheses, no multibyte characters), run with Python's ``re``.
- ``{ JSON expression }``: selectors ``$.a.b[0]``, ``= != < > <= >=``, ``&&`` over ``||`` with
  parentheses, ``IS NULL``, ``IS TRUE``/``IS FALSE``, ``NOT EXISTS``, ``*`` wildcards at either
  end of a string, ``%regex%`` values.
- ``[ space-delimited ]``: named fields, ``...`` ellipses, conditions ``name op value`` joined by
  ``&&``/``||`` (each condition naming its own field), ``"..."`` and ``[...]`` in the message
  count as one field.

Errors: :class:`FilterPatternError` for a pattern CloudWatch Logs refuses; its ``aws_message``
is AWS's own text where AWS has a specific one, else None (the operation then answers with its
generic text, e.g. "Invalid filter pattern").
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "FilterPattern",
    "FilterPatternError",
    "compile_pattern",
    "metric_observation",
    "validate_transformation",
]

MAX_PATTERN_CHARS = 1024  # PutMetricFilter/PutSubscriptionFilter/FilterLogEvents: 0..1024
MAX_REGEX_PER_PATTERN = 2  # "Quotas" in the regex syntax page, for JSON and space-delimited
MAX_DIMENSIONS = 3  # MetricTransformation.dimensions: "as many as three dimensions"


class FilterPatternError(ValueError):
    """A filter pattern (or metric transformation) CloudWatch Logs refuses.

    ``detail`` says what is wrong for a person; ``aws_message`` is AWS's exact message when it
    has a specific one (``Invalid character(s) in term 'x'``), else None.
    """

    def __init__(self, detail: str, aws_message: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.aws_message = aws_message


# ----------------------------------------------------------------------------- values
_MISSING: Any = object()
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_REGEX_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:_#=@/;,-^$?[]{}|\\*+."
)


def _as_number(value: Any) -> float | None:
    """A JSON number or a numeric string as float; None for anything else (booleans too)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        return float(value)
    return None


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def compile_regex(body: str) -> re.Pattern[str]:
    """``body`` (between the ``%`` signs) checked against AWS's subset, compiled for ``re``.

    Raises FilterPatternError for characters outside the subset (parentheses included: AWS
    suggests ``\\x28``/``\\x29`` instead), multibyte characters or a regex ``re`` refuses.
    """
    if not body:
        raise FilterPatternError("empty regular expression %%")
    bad = sorted({c for c in body if c not in _REGEX_CHARS})
    if bad:
        raise FilterPatternError(
            f"regular expression %{body}% uses {''.join(bad)!r}, outside the characters "
            "CloudWatch Logs allows in a regex (use \\xNN for others)"
        )
    try:
        # ASCII: AWS's \w, \d, \s are ASCII classes (multibyte characters are not supported).
        return re.compile(body, re.ASCII)
    except re.error as exc:
        raise FilterPatternError(f"invalid regular expression %{body}%: {exc}") from exc


@dataclass(frozen=True)
class _Value:
    """The right-hand side of a condition."""

    kind: str  # "num" | "str" | "regex" | "any"
    text: str
    number: float = 0.0
    glob: tuple[bool, bool] = (False, False)  # (leading *, trailing *)
    core: str = ""
    regex: re.Pattern[str] | None = None

    def equals(self, value: Any) -> bool:
        """Whether a JSON value (or a space-delimited field) equals this right-hand side."""
        if self.kind == "any":
            return True
        if self.kind == "regex":
            assert self.regex is not None
            return self.regex.search(_as_text(value)) is not None
        if self.kind == "num":
            n = _as_number(value)
            return n == self.number if n is not None else _as_text(value) == self.text
        s = _as_text(value)
        lead, trail = self.glob
        if lead and trail:
            return self.core in s
        if lead:
            return s.endswith(self.core)
        if trail:
            return s.startswith(self.core)
        return s == self.core


def _make_value(text: str, quoted: bool) -> _Value:
    if text.startswith("%") and text.endswith("%") and len(text) >= 2 and not quoted:
        return _Value("regex", text, regex=compile_regex(text[1:-1]))
    if text == "*":
        return _Value("any", text)
    if not quoted and _NUMBER.fullmatch(text):
        return _Value("num", text, number=float(text))
    # Only a leading and/or trailing * is a wildcard: AWS's doc says "Ev*ent will only match
    # the actual string Ev*ent".
    lead = text.startswith("*")
    trail = text.endswith("*") and len(text) > 1
    core = text[1 if lead else 0 : len(text) - 1 if trail else len(text)]
    return _Value("str", text, glob=(lead, trail), core=core)


_OPS = {"=", "!=", "<", ">", "<=", ">="}


def _compare(op: str, rhs: _Value, value: Any) -> bool:
    """``value op rhs`` for a JSON value or a field's text; False for objects and arrays."""
    if value is _MISSING or isinstance(value, dict | list):
        return False
    if op == "=":
        return rhs.equals(value)
    if op == "!=":
        return not rhs.equals(value)
    n = _as_number(value)
    if n is None:
        return False
    if op == "<":
        return n < rhs.number
    if op == ">":
        return n > rhs.number
    if op == "<=":
        return n <= rhs.number
    return n >= rhs.number


# ----------------------------------------------------------------------------- patterns
@dataclass
class FilterPattern:
    """A compiled filter pattern.

    ``kind`` is ``all``, ``terms``, ``regex``, ``json`` or ``delimited``; ``text`` the pattern
    as given. :meth:`matches` says whether a message matches; :meth:`extract` gives the values
    TestMetricFilter reports (space-delimited fields as ``$name`` or ``$position``; empty for
    the other kinds), or None when the message does not match.
    """

    text: str
    kind: str = "all"
    regex_count: int = 0
    fields: tuple[str, ...] = ()  # space-delimited: the named fields

    def matches(self, message: str) -> bool:
        return True

    def extract(self, message: str) -> dict[str, str] | None:
        return {} if self.matches(message) else None

    def predicate(self) -> Callable[[str], bool]:
        """``matches`` as the fastest callable for this pattern (FilterLogEvents' inner loop)."""
        return self.matches

    def select(self, messages: Iterable[str]) -> list[int]:
        """Indexes of the messages that match."""
        match = self.predicate()
        return [i for i, m in enumerate(messages) if match(m)]

    @property
    def supports_dimensions(self) -> bool:
        """AWS: only JSON and space-delimited patterns may carry metric dimensions."""
        return self.kind in ("json", "delimited")


@dataclass
class _Terms(FilterPattern):
    must: list[str] = field(default_factory=list)
    any_of: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)

    def predicate(self) -> Callable[[str], bool]:
        must, any_of, exclude = self.must, self.any_of, self.exclude
        # Specialised predicates: this runs once per event in FilterLogEvents.
        if len(must) == 1 and not any_of and not exclude:
            term = must[0]
            return lambda m: term in m
        if not must and not exclude and any_of:
            return lambda m: any(t in m for t in any_of)
        return self.matches

    def matches(self, message: str) -> bool:
        for t in self.must:
            if t not in message:
                return False
        for t in self.exclude:
            if t in message:
                return False
        if self.any_of:
            return any(t in message for t in self.any_of)
        return True


@dataclass
class _Regex(FilterPattern):
    regex: re.Pattern[str] | None = None

    def matches(self, message: str) -> bool:
        assert self.regex is not None
        return self.regex.search(message) is not None

    def predicate(self) -> Callable[[str], bool]:
        assert self.regex is not None
        search = self.regex.search
        return lambda m: search(m) is not None


def _parse_terms(text: str) -> FilterPattern:
    must: list[str] = []
    any_of: list[str] = []
    exclude: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        op = ""
        if text[i] in "?-":
            op = text[i]
            i += 1
            # AWS's own example writes an exclusion as "ERROR" - "Exiting" (a blank after -).
            while i < n and text[i].isspace():
                i += 1
            if i >= n:
                raise FilterPatternError(f"{op!r} at the end of the pattern has no term")
        if text[i] == '"':
            term, i = _quoted(text, i)
            if i < n and not text[i].isspace():
                raise FilterPatternError(f"a quoted term must be followed by a blank: {text!r}")
        else:
            j = i
            while j < n and not text[j].isspace():
                j += 1
            term = text[i:j]
            i = j
            if not all(c.isalnum() or c == "_" for c in term):
                raise FilterPatternError(
                    f"term {term!r} has characters other than letters, digits and _: quote it",
                    f"Invalid character(s) in term '{term}'",
                )
        if op == "?":
            any_of.append(term)
        elif op == "-":
            exclude.append(term)
        elif term.strip():
            must.append(term)
        # a quoted blank (" ") alone is AWS's documented "match everything"
    if not must and not any_of and not exclude:
        return FilterPattern(text, "all")
    return _Terms(text, "terms", must=must, any_of=any_of, exclude=exclude)


def _quoted(text: str, i: int) -> tuple[str, int]:
    """The string of a double-quoted token starting at ``text[i]`` (``\\"`` and ``\\\\``
    escapes) and the index after its closing quote."""
    out: list[str] = []
    j = i + 1
    while j < len(text):
        c = text[j]
        if c == "\\" and j + 1 < len(text) and text[j + 1] in '"\\':
            out.append(text[j + 1])
            j += 2
            continue
        if c == '"':
            return "".join(out), j + 1
        out.append(c)
        j += 1
    raise FilterPatternError(f"unterminated quote in {text!r}")


# ----------------------------------------------------------------------------- JSON
_JSON_TOKEN = re.compile(
    r"""\s*(?:
      (?P<sel>\$[^\s=!<>()&|{}]*)
    | (?P<op>!=|<=|>=|=|<|>)
    | (?P<and>&&) | (?P<or>\|\|)
    | (?P<lp>\() | (?P<rp>\))
    | (?P<str>"(?:[^"\\]|\\.)*")
    | (?P<re>%[^%]*%)
    | (?P<word>[^\s=!<>()&|"%{}]+)
    )""",
    re.VERBOSE,
)
_SELECTOR = re.compile(r"\$((?:\.[A-Za-z0-9_\-]+(?:\[\d+\])*)+)")
_SELECTOR_STEP = re.compile(r"\.([A-Za-z0-9_\-]+)|\[(\d+)\]")
_BARE_VALUE = re.compile(r"[A-Za-z0-9_.*+\-]+")

Path = tuple[str | int, ...]


def parse_selector(text: str) -> Path:
    """``$.a.b[0][1]`` as ("a", "b", 0, 1); FilterPatternError if it is not a selector."""
    if not _SELECTOR.fullmatch(text):
        raise FilterPatternError(
            f"{text!r} is not a JSON selector ($.name, $.name[0], $.a.b; names of letters, "
            "digits, - and _)"
        )
    steps: list[str | int] = []
    for m in _SELECTOR_STEP.finditer(text, 1):
        steps.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
    return tuple(steps)


def select(doc: Any, path: Path) -> Any:
    """The value at ``path`` in a parsed JSON document, or the _MISSING marker."""
    for step in path:
        if isinstance(step, int):
            if isinstance(doc, list) and step < len(doc):
                doc = doc[step]
            else:
                return _MISSING
        elif isinstance(doc, dict) and step in doc:
            doc = doc[step]
        else:
            return _MISSING
    return doc


Pred = Callable[[Any], bool]


class _JsonParser:
    def __init__(self, text: str, body: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        body = body.rstrip()
        while pos < len(body):
            m = _JSON_TOKEN.match(body, pos)
            if m is None or m.end() == pos:
                raise FilterPatternError(f"unexpected {body[pos:].strip()[:20]!r} in {text!r}")
            kind = m.lastgroup or ""
            self.tokens.append((kind, m.group(kind)))
            pos = m.end()
        self.pos = 0
        self.regex_count = 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ("end", "")

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        self.pos += 1
        return tok

    def parse(self) -> tuple[Pred, frozenset[str]]:
        if not self.tokens:
            raise FilterPatternError(f"empty JSON expression in {self.text!r}")
        pred, lits = self.or_expr()
        if self.peek()[0] != "end":
            raise FilterPatternError(f"unexpected {self.peek()[1]!r} in {self.text!r}")
        return pred, lits

    def or_expr(self) -> tuple[Pred, frozenset[str]]:
        parts = [self.and_expr()]
        while self.peek()[0] == "or":
            self.take()
            parts.append(self.and_expr())
        if len(parts) == 1:
            return parts[0]
        preds = [p for p, _ in parts]
        # a literal every branch needs is needed by the whole
        lits = frozenset.intersection(*(lit for _, lit in parts))
        return (lambda d: any(p(d) for p in preds)), lits

    def and_expr(self) -> tuple[Pred, frozenset[str]]:
        parts = [self.unary()]
        while self.peek()[0] == "and":
            self.take()
            parts.append(self.unary())
        if len(parts) == 1:
            return parts[0]
        preds = [p for p, _ in parts]
        lits = frozenset().union(*(lit for _, lit in parts))
        return (lambda d: all(p(d) for p in preds)), lits

    def unary(self) -> tuple[Pred, frozenset[str]]:
        kind, tok = self.peek()
        if kind == "lp":
            self.take()
            inner = self.or_expr()
            if self.take()[0] != "rp":
                raise FilterPatternError(f"missing ')' in {self.text!r}")
            return inner
        return self.condition()

    def condition(self) -> tuple[Pred, frozenset[str]]:
        kind, tok = self.take()
        if kind != "sel":
            raise FilterPatternError(f"expected a $. selector, found {tok!r} in {self.text!r}")
        path = parse_selector(tok)
        names = [s for s in path if isinstance(s, str)]
        key = frozenset({names[-1]})
        kind, tok = self.take()
        if kind == "word" and tok.upper() in ("IS", "NOT"):
            return self.keyword(tok.upper(), path, key)
        if kind != "op":
            raise FilterPatternError(f"expected an operator after a selector in {self.text!r}")
        op = tok
        kind, tok = self.take()
        if kind == "str":
            rhs = _make_value(_quoted(tok, 0)[0], quoted=True)
        elif kind == "re":
            self.regex_count += 1
            rhs = _make_value(tok, quoted=False)
        elif kind == "word" and _BARE_VALUE.fullmatch(tok):
            rhs = _make_value(tok, quoted=False)
        else:
            raise FilterPatternError(
                f"expected a value after {op!r} in {self.text!r} (quote strings that have "
                "characters other than letters, digits, ., *, +, - and _)"
            )
        if op not in ("=", "!=") and rhs.kind != "num":
            raise FilterPatternError(f"{op} needs a number, not {rhs.text!r}")
        lits = key
        if op == "=" and rhs.kind == "str" and rhs.core:
            lits = key | {rhs.core}

        def pred(d: Any) -> bool:
            return _compare(op, rhs, select(d, path))

        return pred, lits

    def keyword(self, first: str, path: Path, key: frozenset[str]) -> tuple[Pred, frozenset[str]]:
        words = [first]
        while self.peek()[0] == "word" and len(words) < 3:
            words.append(self.take()[1].upper())
            if words[-1] in ("NULL", "TRUE", "FALSE", "EXISTS"):
                break
        phrase = " ".join(words)
        if phrase == "IS NULL":
            return (lambda d: select(d, path) is None), key | {"null"}
        if phrase == "IS TRUE":
            return (lambda d: select(d, path) is True), key | {"true"}
        if phrase == "IS FALSE":
            return (lambda d: select(d, path) is False), key | {"false"}
        if phrase == "NOT EXISTS":
            return (lambda d: select(d, path) is _MISSING), frozenset()
        raise FilterPatternError(
            f"unknown {phrase!r} (IS NULL, IS TRUE, IS FALSE, NOT EXISTS) in {self.text!r}"
        )


@dataclass
class _Json(FilterPattern):
    pred: Pred | None = None
    literals: frozenset[str] = frozenset()

    def matches(self, message: str) -> bool:
        doc = self.document(message)
        if doc is _MISSING:
            return False
        assert self.pred is not None
        return self.pred(doc)

    def document(self, message: str) -> Any:
        """The parsed message, or _MISSING when it cannot match (not JSON, or a literal the
        pattern needs is absent: a cheap test before json.loads)."""
        if "\\" not in message:  # no escapes: a needed key or value appears verbatim
            for lit in self.literals:
                if lit not in message:
                    return _MISSING
        try:
            doc = json.loads(message)
        except ValueError:
            return _MISSING
        return doc if isinstance(doc, dict | list) else _MISSING


def _parse_json(text: str, stripped: str) -> FilterPattern:
    if not stripped.endswith("}"):
        raise FilterPatternError(f"a JSON pattern must end with '}}': {text!r}")
    parser = _JsonParser(text, stripped[1:-1])
    pred, lits = parser.parse()
    if parser.regex_count > MAX_REGEX_PER_PATTERN:
        raise FilterPatternError(f"more than {MAX_REGEX_PER_PATTERN} regular expressions")
    return _Json(text, "json", regex_count=parser.regex_count, pred=pred, literals=lits)


# ----------------------------------------------------------------------------- space-delimited
_FIELD_TOKEN = re.compile(r'"([^"]*)"|\[([^\]]*)\]|(\S+)')
_NAME = re.compile(r"[A-Za-z0-9_]+")
_COND_TOKEN = re.compile(
    r"""\s*(?:
      (?P<op>!=|<=|>=|=|<|>)
    | (?P<and>&&) | (?P<or>\|\|)
    | (?P<str>"(?:[^"\\]|\\.)*")
    | (?P<re>%[^%]*%)
    | (?P<word>[^\s=!<>&|"%]+)
    )""",
    re.VERBOSE,
)
FieldPred = Callable[[str], bool]


def message_fields(message: str) -> list[str]:
    """A message's space-delimited fields: ``"..."`` and ``[...]`` are one field each (without
    the quotes or brackets)."""
    if '"' not in message and "[" not in message:
        return message.split()
    return [a or b or c for a, b, c in _FIELD_TOKEN.findall(message)]


@dataclass(frozen=True)
class _Slot:
    kind: str  # "name" | "anon" | "ellipsis"
    name: str = ""
    pred: FieldPred | None = None


def _split_top(body: str) -> list[str]:
    """Split a space-delimited pattern's body at commas outside quotes and %regex%."""
    parts, cur, quote = [], [], ""
    for c in body:
        if quote:
            cur.append(c)
            if c == quote:
                quote = ""
            continue
        if c in '"%':
            quote = c
            cur.append(c)
        elif c == ",":
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
    if quote:
        raise FilterPatternError(f"unterminated {quote} in [{body}]")
    parts.append("".join(cur))
    return parts


def _field_condition(op: str, rhs: _Value) -> FieldPred:
    return lambda f: _compare(op, rhs, f)


def _parse_slot(spec: str, text: str, regexes: list[int]) -> _Slot:
    spec = spec.strip()
    if not spec:
        return _Slot("anon")
    if spec == "...":
        return _Slot("ellipsis")
    if _NAME.fullmatch(spec):
        return _Slot("name", spec)
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(spec):
        m = _COND_TOKEN.match(spec, pos)
        if m is None or m.end() == pos:
            raise FilterPatternError(f"unexpected {spec[pos:]!r} in {text!r}")
        kind = m.lastgroup or ""
        tokens.append((kind, m.group(kind)))
        pos = m.end()
    # cond (("&&"|"||") cond)*, && binding tighter; every condition names this field
    groups: list[list[FieldPred]] = [[]]
    name = ""
    i = 0
    while True:
        if i + 3 > len(tokens):
            raise FilterPatternError(f"incomplete condition {spec!r} in {text!r}")
        (k1, field_name), (k2, op), (k3, raw) = tokens[i : i + 3]
        if k1 != "word" or not _NAME.fullmatch(field_name) or k2 != "op":
            raise FilterPatternError(f"expected 'name operator value' in {spec!r}")
        if name and field_name != name:
            # AWS's console refuses `status_code = 4* && bytes > 1000` in one field although an
            # old page showed it (awsdocs/amazon-cloudwatch-logs-user-guide issue 21).
            raise FilterPatternError(
                f"a condition on {field_name!r} inside the field {name!r} of {text!r}"
            )
        name = field_name
        if k3 == "str":
            rhs = _make_value(_quoted(raw, 0)[0], quoted=True)
        elif k3 == "re":
            regexes.append(1)
            rhs = _make_value(raw, quoted=False)
        elif k3 == "word" and _BARE_VALUE.fullmatch(raw):
            rhs = _make_value(raw, quoted=False)
        else:
            raise FilterPatternError(f"expected a value after {op!r} in {spec!r}")
        if op not in ("=", "!=") and rhs.kind != "num":
            raise FilterPatternError(f"{op} needs a number, not {rhs.text!r}")
        groups[-1].append(_field_condition(op, rhs))
        i += 3
        if i == len(tokens):
            break
        kind, _ = tokens[i]
        if kind == "or":
            groups.append([])
        elif kind != "and":
            raise FilterPatternError(f"expected && or || in {spec!r}")
        i += 1
        if i == len(tokens):
            raise FilterPatternError(f"a condition must follow && or || in {spec!r}")
    ands = [tuple(g) for g in groups]

    def pred(f: str) -> bool:
        return any(all(p(f) for p in g) for g in ands)

    return _Slot("name", name, pred)


@dataclass
class _Delimited(FilterPattern):
    slots: tuple[_Slot, ...] = ()

    def __post_init__(self) -> None:
        ellipses = [i for i, s in enumerate(self.slots) if s.kind == "ellipsis"]
        self._simple = len(ellipses) <= 1
        self._cut = ellipses[0] if ellipses else len(self.slots)
        head, tail = self.slots[: self._cut], self.slots[self._cut + 1 :]
        self._head = [(i, s.pred) for i, s in enumerate(head) if s.pred is not None]
        self._tail = [(i - len(tail), s.pred) for i, s in enumerate(tail) if s.pred is not None]
        self._fixed = len(head) + len(tail)
        self._open = bool(ellipses)

    def _fits(self, fields: list[str]) -> bool:
        """The common shapes without search: an exact field count, or one ellipsis between a
        fixed head and a fixed tail."""
        spare = len(fields) - self._fixed
        if spare < 0 or (spare and not self._open):
            return False
        for i, pred in self._head:
            if not pred(fields[i]):
                return False
        for i, pred in self._tail:
            if not pred(fields[i]):
                return False
        return True

    def matches(self, message: str) -> bool:
        fields = message_fields(message)
        if self._simple:
            return self._fits(fields)
        return self._align(fields) is not None

    def _align(self, fields: list[str]) -> list[int] | None:
        """For each field, the index of the slot it falls in (-1: in an ellipsis)."""
        slots = self.slots
        if self._simple:
            if not self._fits(fields):
                return None
            spare = len(fields) - self._fixed
            return [*range(self._cut), *([-1] * spare), *range(self._cut + 1, len(slots))]
        out: list[int] = []

        def go(si: int, fi: int) -> bool:
            if si == len(slots):
                return fi == len(fields)
            slot = slots[si]
            if slot.kind == "ellipsis":
                for take in range(len(fields) - fi, -1, -1):
                    mark = len(out)
                    out.extend([-1] * take)
                    if go(si + 1, fi + take):
                        return True
                    del out[mark:]
                return False
            if fi == len(fields) or (slot.pred is not None and not slot.pred(fields[fi])):
                return False
            out.append(si)
            if go(si + 1, fi + 1):
                return True
            out.pop()
            return False

        return out if go(0, 0) else None

    def extract(self, message: str) -> dict[str, str] | None:
        fields = message_fields(message)
        where = self._align(fields)
        if where is None:
            return None
        out: dict[str, str] = {}
        for i, (value, si) in enumerate(zip(fields, where, strict=True), 1):
            name = self.slots[si].name if si >= 0 else ""
            out[f"${name}" if name else f"${i}"] = value
        return out


def _parse_delimited(text: str, stripped: str) -> FilterPattern:
    if not stripped.endswith("]"):
        raise FilterPatternError(f"a space-delimited pattern must end with ']': {text!r}")
    body = stripped[1:-1]
    if not body.strip():
        raise FilterPatternError(f"a space-delimited pattern names no field: {text!r}")
    regexes: list[int] = []
    slots = tuple(_parse_slot(s, text, regexes) for s in _split_top(body))
    if len(regexes) > MAX_REGEX_PER_PATTERN:
        raise FilterPatternError(f"more than {MAX_REGEX_PER_PATTERN} regular expressions")
    names = tuple(s.name for s in slots if s.name)
    if len(set(names)) != len(names):
        raise FilterPatternError(f"a field name appears twice in {text!r}")
    return _Delimited(text, "delimited", regex_count=len(regexes), fields=names, slots=slots)


# ----------------------------------------------------------------------------- entry points
def compile_pattern(text: str | None) -> FilterPattern:
    """Parse a filter pattern (None or "" match everything).

    Raises FilterPatternError for a pattern CloudWatch Logs refuses (see the module doc).
    """
    text = text or ""
    if len(text) > MAX_PATTERN_CHARS:
        raise FilterPatternError(f"a filter pattern has at most {MAX_PATTERN_CHARS} characters")
    stripped = text.strip()
    if not stripped:
        return FilterPattern(text, "all")
    head = stripped[0]
    if head == "{":
        return _parse_json(text, stripped)
    if head == "[":
        return _parse_delimited(text, stripped)
    if head == "%":
        if len(stripped) < 2 or not stripped.endswith("%") or "%" in stripped[1:-1]:
            raise FilterPatternError(f"a regex pattern is one %regex%: {text!r}")
        return _Regex(text, "regex", regex_count=1, regex=compile_regex(stripped[1:-1]))
    return _parse_terms(text)


def _reference(pattern: FilterPattern, ref: str, what: str) -> None:
    """Check that ``$...`` in a metric transformation names something the pattern yields."""
    if ref.startswith("$."):
        if pattern.kind != "json":
            raise FilterPatternError(f"{what} {ref} needs a JSON filter pattern")
        parse_selector(ref)
        return
    name = ref[1:]
    if pattern.kind != "delimited":
        raise FilterPatternError(f"{what} {ref} needs a space-delimited filter pattern")
    if not (name.isdigit() or name in pattern.fields):
        raise FilterPatternError(f"{what} {ref} is not a field of {pattern.text!r}")


def validate_transformation(pattern: FilterPattern, transformation: dict[str, Any]) -> None:
    """Check a PutMetricFilter ``metricTransformations`` item against its pattern.

    metricValue: a number, ``$.selector`` (JSON patterns) or ``$field`` (space-delimited);
    dimensions: at most 3, only with JSON or space-delimited patterns (AWS: "The specified
    filter pattern does not support dimensions"), values ``$.selector`` / ``$field``.
    """
    value = str(transformation.get("metricValue", ""))
    if value.startswith("$"):
        _reference(pattern, value, "metricValue")
    elif _as_number(value) is None:
        raise FilterPatternError(f"metricValue {value!r} is neither a number nor a $reference")
    dims = transformation.get("dimensions") or {}
    if dims:
        if not pattern.supports_dimensions:
            raise FilterPatternError(
                "dimensions need a JSON or space-delimited filter pattern",
                "The specified filter pattern does not support dimensions",
            )
        if len(dims) > MAX_DIMENSIONS:
            raise FilterPatternError(f"a metric filter has at most {MAX_DIMENSIONS} dimensions")
        for ref in dims.values():
            if not str(ref).startswith("$"):
                raise FilterPatternError(f"dimension value {ref!r} must be a $reference")
            _reference(pattern, str(ref), "dimension")


def _resolve(ref: str, message: str, extracted: dict[str, str]) -> Any:
    if ref.startswith("$."):
        try:
            doc = json.loads(message)
        except ValueError:
            return _MISSING
        return select(doc, parse_selector(ref))
    return extracted.get(ref, _MISSING)


def metric_observation(
    pattern: FilterPattern, transformation: dict[str, Any], message: str
) -> tuple[float, dict[str, str]] | None:
    """What one log event contributes to a metric filter's metric: (value, dimensions).

    A matching event gives metricValue (a number, or the number at ``$.selector`` /
    ``$field``) and its dimensions' values; a non-matching event gives defaultValue with no
    dimensions, or None when there is none. None too when a referenced value is missing or
    not a number (AWS publishes nothing then). Follows "Creating metric filters" and
    "Publishing numerical values found in log entries" of the user guide.
    """
    extracted = pattern.extract(message)
    if extracted is None:
        default = transformation.get("defaultValue")
        return (float(default), {}) if default is not None else None
    value_ref = str(transformation.get("metricValue", "1"))
    if value_ref.startswith("$"):
        number = _as_number(_resolve(value_ref, message, extracted))
    else:
        number = _as_number(value_ref)
    if number is None:
        return None
    dims: dict[str, str] = {}
    for name, ref in (transformation.get("dimensions") or {}).items():
        found = _resolve(str(ref), message, extracted)
        if found is _MISSING or found is None or isinstance(found, dict | list):
            return None
        dims[name] = _as_text(found)
    return number, dims

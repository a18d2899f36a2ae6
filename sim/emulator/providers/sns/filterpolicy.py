"""SNS subscription filter policies: validation with AWS's messages and matching, for both
scopes (``MessageAttributes`` and ``MessageBody``), as the SNS developer guide describes them
(https://docs.aws.amazon.com/sns/latest/dg/sns-subscription-filter-policies.html and
.../subscription-filter-policy-constraints.html).

Operators: exact string / number / boolean / null, ``prefix``, ``suffix``,
``equals-ignore-case``, ``anything-but`` (a value, a list, or ``{"prefix"|"suffix": s}``),
``numeric`` (``[op, n]`` or ``[">"|">=", lo, "<"|"<=", hi]``), ``exists``, ``cidr`` and ``$or``.

moto 5.2 has its own matcher, but refuses ``cidr`` as an unknown match type and answers a 500
for a policy that is not JSON; bdlab validates and matches here and moto only stores.
"""

from __future__ import annotations

import ipaddress
import json
import math
from typing import Any

MAX_KEYS = 5
MAX_COMBINATIONS = 150
_NUMERIC_OPS = ("<", "<=", "=", ">", ">=")
_OPERATORS = (
    "prefix",
    "suffix",
    "equals-ignore-case",
    "anything-but",
    "numeric",
    "exists",
    "cidr",
)


class FilterPolicyError(ValueError):
    """A malformed filter policy; ``str(err)`` is AWS's InvalidParameter message."""


def _bad(detail: str) -> FilterPolicyError:
    return FilterPolicyError(f"Invalid parameter: FilterPolicy: {detail}")


# ---------------------------------------------------------------------------- validation
def parse(text: str | None, scope: str | None = None) -> dict[str, Any] | None:
    """The policy of ``text`` (a JSON object) checked for ``scope`` (``MessageAttributes``,
    the default, or ``MessageBody``); None for an empty text (no policy). Raises
    :class:`FilterPolicyError` with AWS's message when it is malformed."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    try:
        policy = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise _bad(f"failed to parse JSON. {exc}") from None
    if not isinstance(policy, dict):
        raise _bad("Filter policy must be a JSON object")
    if not policy:
        return None
    nested = (scope or "MessageAttributes") == "MessageBody"
    combinations = _check(policy, nested, depth=1)
    if _key_count(policy) > MAX_KEYS:
        raise _bad("Filter policy can not have more than 5 keys")
    if combinations > MAX_COMBINATIONS:
        raise _bad("Filter policy is too complex")
    return policy


def _key_count(policy: dict[str, Any]) -> int:
    # Nested keys count by their parent only; each $or branch is counted on its own.
    plain = sum(1 for k in policy if k != "$or")
    branches = [_key_count(b) for b in policy.get("$or", []) if isinstance(b, dict)]
    return plain + (max(branches) if branches else 0)


def _check(policy: dict[str, Any], nested: bool, depth: int) -> int:
    """Checks one (sub)policy; returns its number of value combinations."""
    combinations = 1
    for key, value in policy.items():
        if key == "$or":
            if not isinstance(value, list) or len(value) < 2:
                raise _bad("$or must be an array of at least two objects")
            total = 0
            for branch in value:
                if not isinstance(branch, dict) or not branch:
                    raise _bad("$or must be an array of at least two objects")
                total += _check(branch, nested, depth)
            combinations *= total
        elif isinstance(value, dict):
            if not nested:
                raise FilterPolicyError(
                    "Invalid parameter: Filter policy scope MessageAttributes does not "
                    "support nested filter policy"
                )
            combinations *= _check(value, nested, depth + 1)
        elif isinstance(value, list):
            if not value:
                raise _bad("Empty arrays are not allowed")
            for rule in value:
                _check_rule(rule)
            combinations *= len(value) * depth
        else:
            raise _bad(f'"{key}" must be an object or an array')
    return combinations


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _check_rule(rule: Any) -> None:
    if rule is None or isinstance(rule, str | bool):
        return
    if _number(rule):
        if not -1e9 < rule < 1e9:
            raise _bad("Numbers must be between -1.0E9 and 1.0E9")
        return
    if not isinstance(rule, dict):
        raise _bad("Match value must be String, number, true, false, or null")
    if len(rule) != 1:
        raise _bad("Only one key allowed in match expression")
    ((op, arg),) = rule.items()
    if op not in _OPERATORS:
        raise _bad(f"Unrecognized match type {op}")
    if op in ("prefix", "suffix", "equals-ignore-case"):
        if not isinstance(arg, str):
            raise _bad(f"{op} match pattern must be a string")
    elif op == "exists":
        if not isinstance(arg, bool):
            raise _bad("exists match pattern must be either true or false.")
    elif op == "cidr":
        if not isinstance(arg, str):
            raise _bad("Malformed CIDR, one '/' required")
        if arg.count("/") != 1:
            raise _bad("Malformed CIDR, one '/' required")
        try:
            ipaddress.ip_network(arg, strict=False)
        except ValueError:
            raise _bad(f"Nonstandard IP address: {arg.split('/')[0]}") from None
    elif op == "anything-but":
        if isinstance(arg, dict):
            if len(arg) != 1 or next(iter(arg)) not in ("prefix", "suffix"):
                raise _bad("Unsupported anything-but pattern: " + ",".join(arg))
            if not isinstance(next(iter(arg.values())), str):
                raise _bad("prefix match pattern must be a string")
        elif isinstance(arg, list):
            if not arg:
                raise _bad("Empty arrays are not allowed")
            for v in arg:
                if not (isinstance(v, str) or _number(v)):
                    raise _bad("Inside anything but list, start|null|boolean is not supported.")
        elif not (isinstance(arg, str) or _number(arg)):
            raise _bad("Inside anything but list, start|null|boolean is not supported.")
    elif op == "numeric":
        _check_numeric(arg)


def _check_numeric(arg: Any) -> None:
    # AWS's messages say "Attributes Reason" and point at a column; bdlab keeps the words.
    head = "Invalid parameter: Attributes Reason: FilterPolicy: "
    if not isinstance(arg, list) or not arg:
        raise FilterPolicyError(head + "Invalid member in numeric match: ]")
    items = list(arg)
    op = items.pop(0)
    if not isinstance(op, str):
        raise FilterPolicyError(head + f"Invalid member in numeric match: {op}")
    if op not in _NUMERIC_OPS:
        raise FilterPolicyError(head + f"Unrecognized numeric range operator: {op}")
    if not items or not _number(items[0]):
        raise FilterPolicyError(head + f"Value of {op} must be numeric")
    low = items.pop(0)
    if not items:
        return
    if op not in (">", ">="):
        raise FilterPolicyError(head + "Too many elements in numeric expression")
    op2 = items.pop(0)
    if op2 not in ("<", "<="):
        raise FilterPolicyError(head + f"Bad numeric range operator: {op2}")
    if not items or not _number(items[0]):
        raise FilterPolicyError(head + f"Value of {op2} must be numeric")
    if items[0] <= low:
        raise FilterPolicyError(head + "Bottom must be less than top")
    if len(items) > 1:
        raise FilterPolicyError(head + "Too many elements in numeric expression")


# ---------------------------------------------------------------------------- matching
_ABSENT = object()


def matches(
    policy: dict[str, Any] | None,
    scope: str | None,
    attributes: dict[str, Any] | None,
    body: str,
) -> bool:
    """Whether a message passes ``policy``. ``attributes`` are SNS message attributes as moto
    keeps them (``{name: {"Type": "String"|"Number"|"String.Array"|"Binary", "Value": v}}``);
    ``body`` is the published message (a JSON object for the ``MessageBody`` scope, else no
    message passes)."""
    if not policy:
        return True
    if (scope or "MessageAttributes") == "MessageBody":
        try:
            doc = json.loads(body)
        except (TypeError, ValueError):
            return False
        if not isinstance(doc, dict):
            return False
        return _match_body(policy, doc)
    return _match_attributes(policy, attributes or {})


def _attribute_values(attr: dict[str, Any]) -> list[Any] | None:
    kind = str(attr.get("Type", "String"))
    value = attr.get("Value")
    if kind.startswith("Binary"):
        return None  # AWS ignores Binary attributes when filtering
    if kind.startswith("Number"):
        try:
            return [float(value)]  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return []
    if kind == "String.Array":
        try:
            items = json.loads(value) if isinstance(value, str) else value
        except ValueError:
            return [value]
        return list(items) if isinstance(items, list) else [items]
    return [value]


def _match_attributes(policy: dict[str, Any], attributes: dict[str, Any]) -> bool:
    for key, rules in policy.items():
        if key == "$or":
            if not any(_match_attributes(b, attributes) for b in rules):
                return False
            continue
        attr = attributes.get(key)
        values = _attribute_values(attr) if isinstance(attr, dict) else None
        if not _match_rules(rules, values):
            return False
    return True


def _match_body(policy: dict[str, Any], doc: Any) -> bool:
    for key, rules in policy.items():
        if key == "$or":
            if not any(_match_body(b, doc) for b in rules):
                return False
            continue
        value = doc.get(key, _ABSENT) if isinstance(doc, dict) else _ABSENT
        if isinstance(rules, dict):
            if isinstance(value, list):
                if not any(_match_body(rules, v) for v in value):
                    return False
            elif not _match_body(rules, value):
                return False
            continue
        if value is _ABSENT:
            values: list[Any] | None = None
        elif isinstance(value, list):
            values = value
        else:
            values = [value]
        if not _match_rules(rules, values):
            return False
    return True


def _match_rules(rules: list[Any], values: list[Any] | None) -> bool:
    """``values`` is None when the key is absent."""
    for rule in rules:
        if isinstance(rule, dict) and "exists" in rule:
            if rule["exists"] == (values is not None):
                return True
            continue
        if values is None:
            continue
        if any(_match_value(rule, v) for v in values):
            return True
    return False


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _match_value(rule: Any, v: Any) -> bool:
    if rule is None:
        return v is None
    if isinstance(rule, bool):
        return isinstance(v, bool) and v is rule
    if _is_num(rule):
        return _is_num(v) and math.isclose(float(v), float(rule), abs_tol=1e-6)
    if isinstance(rule, str):
        return isinstance(v, str) and v == rule
    ((op, arg),) = rule.items()
    if op == "prefix":
        return isinstance(v, str) and v.startswith(arg)
    if op == "suffix":
        return isinstance(v, str) and v.endswith(arg)
    if op == "equals-ignore-case":
        return isinstance(v, str) and v.casefold() == arg.casefold()
    if op == "anything-but":
        if isinstance(arg, dict):
            ((sub, text),) = arg.items()
            if not isinstance(v, str):
                return True
            return not (v.startswith(text) if sub == "prefix" else v.endswith(text))
        banned = arg if isinstance(arg, list) else [arg]
        return not any(_match_value(b, v) for b in banned)
    if op == "numeric":
        if not _is_num(v):
            return False
        x = float(v)
        pairs = zip(arg[0::2], arg[1::2], strict=False)
        return all(_compare(x, o, float(n)) for o, n in pairs)
    if op == "cidr":
        if not isinstance(v, str):
            return False
        try:
            return ipaddress.ip_address(v) in ipaddress.ip_network(arg, strict=False)
        except ValueError:
            return False
    return False


def _compare(x: float, op: str, n: float) -> bool:
    if op == "<":
        return x < n
    if op == "<=":
        return x <= n
    if op == "=":
        return math.isclose(x, n, abs_tol=1e-6)
    if op == ">":
        return x > n
    return x >= n

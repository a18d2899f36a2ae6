"""IAM policy documents evaluated as AWS evaluates them: one statement, one policy, and the
decision over all policies that apply to a request.

Pure functions over plain data (no HTTP, no moto): the enforcer (``enforcer.py``) gathers the
request context and the policies; this module decides.

AWS docs followed:
- "Policy evaluation logic" (reference_policies_evaluation-logic.html): explicit deny in any
  policy wins; within one account an allow in the identity policies (limited by a permissions
  boundary) or in the resource-based policy allows; a resource-based policy that names the
  IAM user or the role session itself is not limited by the boundary.
- "IAM JSON policy elements": Action/NotAction (matched case-insensitively, ``*`` and ``?``),
  Resource/NotResource (case-sensitive), Principal/NotPrincipal, Condition.
- "Condition operators": String*, Numeric*, Date*, Bool, BinaryEquals, IpAddress/NotIpAddress,
  Arn*, Null, the ``...IfExists`` suffix and the ``ForAllValues:`` / ``ForAnyValue:`` set
  qualifiers; a key missing from the request makes a positive operator false and a negated
  one (``StringNotEquals``, ``NotIpAddress``, ...) true.
- "Policy variables": ``${aws:username}``, ``${aws:PrincipalTag/k}``, ``${s3:prefix}``, ...
  with ``${key, 'default'}`` and the ``${*}``, ``${?}``, ``${$}`` escapes, in Resource and in
  condition values, only in policies of Version 2012-10-17.
"""

from __future__ import annotations

import base64
import enum
import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any


class Effect(enum.Enum):
    """A policy's verdict on a request: an explicit Allow, an explicit Deny, or no match."""

    ALLOW = "Allow"
    DENY = "Deny"
    NONE = "None"


@dataclass(frozen=True)
class Principal:
    """Who calls. ``arn`` is the user's ARN, the role session's
    (``arn:aws:sts::<acct>:assumed-role/<role>/<session>``), ``arn:aws:iam::<acct>:root`` for
    the account's own credentials, or ``""`` for an anonymous request. ``role_arn`` is the
    role of a session (for Principal matching), ``kind`` AWS's aws:PrincipalType value."""

    arn: str
    account: str
    kind: str  # "User" | "AssumedRole" | "Account" | "Anonymous"
    role_arn: str = ""
    name: str = ""  # aws:username (users only)
    userid: str = ""  # aws:userid


ANONYMOUS = Principal("", "", "Anonymous")


@dataclass
class RequestContext:
    """One authorization question: may ``principal`` do ``action`` (``service:Name``) on
    ``resource`` (an ARN, or ``*`` for actions without a resource type)? ``keys`` are the
    condition keys with their values (lists: multivalued keys carry several), looked up
    case-insensitively as AWS does."""

    action: str
    resource: str
    principal: Principal
    keys: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lower = {k.lower(): v for k, v in self.keys.items()}

    def get(self, key: str) -> list[str] | None:
        return self._lower.get(key.lower())


# ------------------------------------------------------------------------- matching


@lru_cache(maxsize=4096)
def _glob(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    parts = [".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern]
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def glob_match(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """IAM's wildcard match: ``*`` any run of characters (``/`` and ``:`` included), ``?``
    one character."""
    return _glob(pattern, ignore_case).fullmatch(value) is not None


def action_matches(pattern: str, action: str) -> bool:
    """``s3:Get*`` vs ``s3:GetObject``: the service prefix and the name both match without
    regard to case (IAM JSON policy elements: Action)."""
    return pattern == "*" or glob_match(pattern, action, ignore_case=True)


def arn_matches(pattern: str, arn: str) -> bool:
    """ArnLike: each of the six colon-separated parts matched on its own (the resource part
    may hold colons); ``*`` matches everything."""
    if pattern == "*":
        return True
    p, a = pattern.split(":", 5), arn.split(":", 5)
    if len(p) != 6 or len(a) != 6:
        return glob_match(pattern, arn)
    return all(glob_match(x, y) for x, y in zip(p, a, strict=True))


_VAR = re.compile(r"\$\{([^}]*)\}")


def substitute(text: str, ctx: RequestContext) -> str | None:
    """``text`` with its policy variables replaced from the request, or None when one has no
    value and no default (the element then matches nothing, as in AWS)."""
    if "${" not in text:
        return text
    missing = False

    def one(m: re.Match[str]) -> str:
        nonlocal missing
        inner = m.group(1).strip()
        if inner in ("*", "?", "$"):
            return inner
        key, _, default = inner.partition(",")
        values = ctx.get(key.strip())
        if values and len(values) == 1:
            return values[0]
        default = default.strip()
        if len(default) >= 2 and default[0] == default[-1] == "'":
            return default[1:-1]
        missing = True
        return ""

    out = _VAR.sub(one, text)
    return None if missing else out


def _as_list(v: Any) -> list[Any]:
    if v is None:
        return []
    return list(v) if isinstance(v, list) else [v]


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


# ------------------------------------------------------------------------- conditions


def _number(s: str) -> float | None:
    try:
        return float(s)
    except ValueError:
        return None


def _date(s: str) -> datetime | None:
    try:
        if re.fullmatch(r"-?\d+(\.\d+)?", s):
            return datetime.fromtimestamp(float(s), UTC)
        d = datetime.fromisoformat(s.replace("Z", "+00:00"))
        return d if d.tzinfo else d.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        return None


def _ip(policy: str, value: str) -> bool:
    try:
        return ipaddress.ip_address(value) in ipaddress.ip_network(policy, strict=False)
    except ValueError:
        return False


def _cmp(op: str, a: Any, b: Any) -> bool:
    if a is None or b is None:
        return False
    return {
        "Equals": a == b,
        "LessThan": a < b,
        "LessThanEquals": a <= b,
        "GreaterThan": a > b,
        "GreaterThanEquals": a >= b,
    }[op]


def _b64(s: str) -> bytes | None:
    try:
        return base64.b64decode(s, validate=True)
    except ValueError:
        return None


# base operator (negation and set qualifiers stripped) -> does one policy value match one
# request value
def _positive(base: str, policy: str, value: str) -> bool:
    if base == "StringEquals":
        return policy == value
    if base == "StringEqualsIgnoreCase":
        return policy.lower() == value.lower()
    if base == "StringLike":
        return glob_match(policy, value)
    if base.startswith("Numeric"):
        return _cmp(base[len("Numeric") :], _number(value), _number(policy))
    if base.startswith("Date"):
        return _cmp(base[len("Date") :], _date(value), _date(policy))
    if base == "Bool":
        return policy.lower() == value.lower()
    if base == "BinaryEquals":
        return _b64(policy) is not None and _b64(policy) == _b64(value)
    if base == "IpAddress":
        return _ip(policy, value)
    if base == "ArnEquals":
        return policy == value
    if base == "ArnLike":
        return arn_matches(policy, value)
    raise ValueError(base)


# negated operator -> its positive form
_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "NumericNotEquals": "NumericEquals",
    "DateNotEquals": "DateEquals",
    "NotIpAddress": "IpAddress",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
}
_POSITIVE = {
    "StringEquals",
    "StringEqualsIgnoreCase",
    "StringLike",
    "NumericEquals",
    "NumericLessThan",
    "NumericLessThanEquals",
    "NumericGreaterThan",
    "NumericGreaterThanEquals",
    "DateEquals",
    "DateLessThan",
    "DateLessThanEquals",
    "DateGreaterThan",
    "DateGreaterThanEquals",
    "Bool",
    "BinaryEquals",
    "IpAddress",
    "ArnEquals",
    "ArnLike",
}
OPERATORS = frozenset(_POSITIVE | set(_NEGATED) | {"Null"})


def known_operator(op: str) -> bool:
    """Whether ``op`` (with its qualifier and IfExists) is a condition operator AWS knows."""
    qualifier, _, base = op.rpartition(":")
    if base.endswith("IfExists") and base != "IfExists":
        base = base[: -len("IfExists")]
    return base in OPERATORS and qualifier in ("", "ForAllValues", "ForAnyValue")


def condition_holds(
    op: str, key: str, policy_values: Any, ctx: RequestContext, variables: bool = True
) -> bool:
    """One operator on one key (Condition operators; multiple policy values are ORed for a
    positive operator and NORed for a negated one)."""
    qualifier, _, base = op.rpartition(":")
    if_exists = base.endswith("IfExists") and base != "IfExists"
    if if_exists:
        base = base[: -len("IfExists")]
    values = ctx.get(key)
    wanted = []
    for v in _as_list(policy_values):
        s = substitute(_text(v), ctx) if variables else _text(v)
        if s is not None:
            wanted.append(s)
    if qualifier not in ("", "ForAllValues", "ForAnyValue"):
        return False  # a qualifier AWS does not know never matches
    if base == "Null":
        absent = not values
        return any(w.lower() == ("true" if absent else "false") for w in wanted)
    if base not in OPERATORS:
        return False  # an operator AWS does not know never matches
    negated = base in _NEGATED
    positive = _NEGATED.get(base, base)

    def matches(value: str) -> bool:
        return any(_positive(positive, w, value) for w in wanted)

    if qualifier == "ForAllValues":
        if not values:
            return True
        return all((not matches(v)) if negated else matches(v) for v in values)
    if qualifier == "ForAnyValue":
        if not values:
            return False
        return any((not matches(v)) if negated else matches(v) for v in values)
    if not values:
        return if_exists or negated
    if negated:
        return not any(matches(v) for v in values)
    return any(matches(v) for v in values)


def conditions_hold(
    block: Mapping[str, Any] | None, ctx: RequestContext, variables: bool = True
) -> bool:
    """A statement's Condition: every operator, every key in it, must hold (AND). Policy
    variables are replaced only in Version 2012-10-17 policies (``variables``)."""
    for op, keys in (block or {}).items():
        if not isinstance(keys, Mapping):
            return False
        for key, values in keys.items():
            if not condition_holds(op, key, values, ctx, variables):
                return False
    return True


# ------------------------------------------------------------------------- principals


def principal_matches(spec: Any, who: Principal) -> str:
    """How a resource policy's Principal names ``who``: ``"direct"`` (everyone, or their own
    user or session ARN), ``"role"`` (the role of their session), ``"account"`` (their account:
    ``123456789012`` or ``arn:aws:iam::123456789012:root``, which delegates to the account's
    identity policies and grants nothing by itself), or ``""`` (not named)."""
    if spec == "*":
        return "direct"
    if not isinstance(spec, Mapping):
        return ""
    found = ""
    for value in _as_list(spec.get("AWS")):
        v = str(value)
        if v == "*" or (who.arn and v == who.arn):
            return "direct"
        if not who.arn:
            continue
        if who.role_arn and v == who.role_arn:
            found = "role"
        elif v in (who.account, f"arn:aws:iam::{who.account}:root") and not found:
            found = "account"
    return found


# ------------------------------------------------------------------------- statements


def _statements(doc: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    st = doc.get("Statement", [])
    return [st] if isinstance(st, Mapping) else [s for s in st if isinstance(s, Mapping)]


def _resource_matches(patterns: Iterable[Any], ctx: RequestContext, variables: bool) -> bool:
    for p in patterns:
        s = substitute(str(p), ctx) if variables else str(p)
        if s is not None and (s == "*" or glob_match(s, ctx.resource)):
            return True
    return False


_RANK = {"": 0, "account": 1, "role": 2, "direct": 3}


@dataclass(frozen=True)
class Verdict:
    """A policy's result: the effect, and for a resource policy's Allow how its Principal
    named the caller (see :func:`principal_matches`; ``"direct"`` for identity policies)."""

    effect: Effect
    via: str = "direct"


def evaluate(doc: Mapping[str, Any], ctx: RequestContext, resource_policy: bool = False) -> Verdict:
    """One policy document on one request: DENY if a matching statement denies, else ALLOW
    if one allows, else NONE. Identity policies have no Principal; a resource policy's
    statement matches only callers its Principal/NotPrincipal names."""
    variables = str(doc.get("Version", "")) == "2012-10-17"
    allowed, via = False, ""
    for st in _statements(doc):
        how = "direct"
        if resource_policy:
            if "Principal" in st:
                how = principal_matches(st["Principal"], ctx.principal)
                if not how:
                    continue
            elif "NotPrincipal" in st:
                if principal_matches(st["NotPrincipal"], ctx.principal):
                    continue
            else:
                continue
        if "Action" in st:
            if not any(action_matches(str(a), ctx.action) for a in _as_list(st["Action"])):
                continue
        elif "NotAction" in st:
            if any(action_matches(str(a), ctx.action) for a in _as_list(st["NotAction"])):
                continue
        else:
            continue
        if "Resource" in st:
            if not _resource_matches(_as_list(st["Resource"]), ctx, variables):
                continue
        elif "NotResource" in st:
            if _resource_matches(_as_list(st["NotResource"]), ctx, variables):
                continue
        elif not resource_policy:
            continue
        if not conditions_hold(st.get("Condition"), ctx, variables):
            continue
        if st.get("Effect") == "Deny":
            return Verdict(Effect.DENY)
        if st.get("Effect") == "Allow":
            allowed = True
            via = how if _RANK[how] > _RANK[via] else via
    return Verdict(Effect.ALLOW, via) if allowed else Verdict(Effect.NONE)


# ------------------------------------------------------------------------- the decision


@dataclass(frozen=True)
class Decision:
    """The request's outcome: ``allowed``, and when denied, AWS's reason words for the
    AccessDenied message (``with an explicit deny in a resource-based policy``, ...)."""

    allowed: bool
    reason: str = ""


def decide(
    ctx: RequestContext,
    identity: Sequence[Mapping[str, Any]],
    boundary: Sequence[Mapping[str, Any]] | None = None,
    resource: Mapping[str, Any] | None = None,
    all_powerful: bool = False,
) -> Decision:
    """The same-account evaluation AWS documents (no SCPs, no session policies): explicit
    deny anywhere -> deny; a resource policy's allow naming the caller -> allow (a session
    named only through its role stays limited by the role's boundary; naming the account
    grants nothing by itself); an identity allow within the
    boundary -> allow; else implicit deny. ``all_powerful`` stands for the account's own
    credentials: every identity check passes, explicit denies in resource policies still
    apply (as they do to an account's root user)."""
    action = ctx.action
    rv = evaluate(resource, ctx, resource_policy=True) if resource else Verdict(Effect.NONE)
    if rv.effect is Effect.DENY:
        return Decision(False, "with an explicit deny in a resource-based policy")
    if all_powerful:
        return Decision(True)
    if ctx.principal.kind == "Anonymous":
        if rv.effect is Effect.ALLOW:
            return Decision(True)
        return Decision(False, f"because no resource-based policy allows the {action} action")
    iv = [evaluate(d, ctx) for d in identity]
    if any(v.effect is Effect.DENY for v in iv):
        return Decision(False, "with an explicit deny in an identity-based policy")
    bv = [evaluate(d, ctx) for d in boundary] if boundary is not None else None
    if bv is not None and any(v.effect is Effect.DENY for v in bv):
        return Decision(False, "with an explicit deny in a permissions boundary")
    within = bv is None or any(v.effect is Effect.ALLOW for v in bv)
    if rv.effect is Effect.ALLOW and (rv.via == "direct" or (rv.via == "role" and within)):
        return Decision(True)
    if any(v.effect is Effect.ALLOW for v in iv):
        if within:
            return Decision(True)
        return Decision(False, f"because no permissions boundary allows the {action} action")
    return Decision(False, f"because no identity-based policy allows the {action} action")

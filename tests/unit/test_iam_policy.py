"""IAM policy evaluation (sim/emulator/authz/policy.py) against the IAM user guide's rules:
each expected value below is what the guide's text or example says AWS decides."""

from __future__ import annotations

from typing import Any

import pytest

from sim.emulator.authz.policy import (
    ANONYMOUS,
    Effect,
    Principal,
    RequestContext,
    condition_holds,
    decide,
    evaluate,
    known_operator,
    substitute,
)

ACCT = "123456789012"
ALICE = Principal(f"arn:aws:iam::{ACCT}:user/alice", ACCT, "User", name="alice", userid="AIDA1")
ROLE = f"arn:aws:iam::{ACCT}:role/etl"
SESSION = Principal(f"arn:aws:sts::{ACCT}:assumed-role/etl/s1", ACCT, "AssumedRole", role_arn=ROLE)


def ctx(
    action: str = "s3:GetObject",
    resource: str = "arn:aws:s3:::b/k",
    who: Principal = ALICE,
    **keys: Any,
) -> RequestContext:
    return RequestContext(
        action,
        resource,
        who,
        {k.replace("__", ":").replace("_", "-"): v for k, v in keys.items()},
    )


def doc(*statements: dict[str, Any], version: str = "2012-10-17") -> dict[str, Any]:
    return {"Version": version, "Statement": list(statements)}


def allow(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


# ------------------------------------------------------------------ actions and resources


def test_action_names_and_prefix_match_without_case() -> None:
    """The issue's example: Allow s3:* with Deny s3:deleteobject denies DeleteObject, and
    Allow s3:getobject allows GetObject (IAM: action names are case-insensitive)."""
    policy = doc(allow("s3:*"), deny("s3:deleteobject"))
    assert evaluate(policy, ctx("s3:DeleteObject")).effect is Effect.DENY
    assert evaluate(doc(allow("s3:getobject")), ctx("s3:GetObject")).effect is Effect.ALLOW
    assert evaluate(doc(allow("S3:Get*")), ctx("s3:GetObject")).effect is Effect.ALLOW
    assert evaluate(doc(allow("s3:Get?bject")), ctx("s3:GetObject")).effect is Effect.ALLOW
    assert evaluate(doc(allow("s3:Get")), ctx("s3:GetObject")).effect is Effect.NONE


def test_resources_match_with_case_and_wildcards() -> None:
    assert evaluate(doc(allow("s3:GetObject", "arn:aws:s3:::b/*")), ctx()).effect is Effect.ALLOW
    assert evaluate(doc(allow("s3:GetObject", "arn:aws:s3:::B/*")), ctx()).effect is Effect.NONE
    assert evaluate(doc(allow("s3:GetObject", "arn:aws:s3:::b")), ctx()).effect is Effect.NONE
    # * crosses "/" in a resource: b/* covers b/x/y
    deep = ctx(resource="arn:aws:s3:::b/x/y.csv")
    assert evaluate(doc(allow("s3:GetObject", "arn:aws:s3:::b/*")), deep).effect is Effect.ALLOW


def test_not_action_and_not_resource() -> None:
    # "Allow everything except IAM": NotAction with Allow
    p = doc({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})
    assert evaluate(p, ctx("s3:PutObject")).effect is Effect.ALLOW
    assert evaluate(p, ctx("iam:CreateUser")).effect is Effect.NONE
    p = doc({"Effect": "Deny", "Action": "s3:*", "NotResource": "arn:aws:s3:::b/*"})
    assert evaluate(p, ctx()).effect is Effect.NONE
    assert evaluate(p, ctx(resource="arn:aws:s3:::other/k")).effect is Effect.DENY


# ------------------------------------------------------------------ conditions


@pytest.mark.parametrize(
    ("op", "policy_value", "request_value", "expected"),
    [
        ("StringEquals", "AES256", "AES256", True),
        ("StringEquals", "AES256", "aes256", False),
        ("StringEqualsIgnoreCase", "AES256", "aes256", True),
        ("StringNotEquals", "AES256", "aws:kms", True),
        ("StringNotEquals", "AES256", "AES256", False),
        ("StringLike", "home/*", "home/alice/x", True),
        ("StringLike", "home/?", "home/ab", False),
        ("StringNotLike", "tmp/*", "home/x", True),
        ("NumericLessThan", "100", "99", True),
        ("NumericLessThanEquals", "100", "100", True),
        ("NumericGreaterThan", "100", "100", False),
        ("NumericEquals", "10", "10.0", True),
        ("NumericNotEquals", "10", "11", True),
        ("DateGreaterThan", "2026-01-01T00:00:00Z", "2026-06-01T00:00:00Z", True),
        ("DateLessThan", "2026-01-01T00:00:00Z", "2026-06-01T00:00:00Z", False),
        ("DateEquals", "1767225600", "2026-01-01T00:00:00Z", True),
        ("Bool", "false", "false", True),
        ("Bool", True, "true", True),
        ("Bool", "true", "false", False),
        ("IpAddress", "127.0.0.0/8", "127.0.0.1", True),
        ("IpAddress", "10.0.0.0/8", "127.0.0.1", False),
        ("NotIpAddress", "10.0.0.0/8", "127.0.0.1", True),
        ("IpAddress", "2001:db8::/32", "2001:db8::1", True),
        ("ArnLike", "arn:aws:iam::*:role/etl*", f"arn:aws:iam::{ACCT}:role/etl-1", True),
        ("ArnEquals", f"arn:aws:iam::{ACCT}:role/etl", f"arn:aws:iam::{ACCT}:role/etl-1", False),
        ("ArnNotLike", "arn:aws:iam::*:role/etl*", f"arn:aws:iam::{ACCT}:user/bob", True),
        ("BinaryEquals", "QmluYXJ5", "QmluYXJ5", True),
    ],
)
def test_condition_operators(
    op: str, policy_value: Any, request_value: str, expected: bool
) -> None:
    c = ctx(**{"k": [request_value]})
    assert condition_holds(op, "k", policy_value, c) is expected


def test_several_values_or_and_negated_nor() -> None:
    c = ctx(k=["b"])
    assert condition_holds("StringEquals", "k", ["a", "b"], c)  # any of them
    assert not condition_holds("StringNotEquals", "k", ["a", "b"], c)  # none of them
    assert condition_holds("StringNotEquals", "k", ["a", "c"], c)


def test_missing_key_is_false_for_positive_true_for_negated_and_ifexists() -> None:
    """Condition operators: a key absent from the request context makes a positive operator
    false; a negated one (the classic "deny unless from this VPC endpoint") true;
    ...IfExists true."""
    c = ctx()
    assert not condition_holds("StringEquals", "aws:SourceVpce", "vpce-1", c)
    assert condition_holds("StringNotEquals", "aws:SourceVpce", "vpce-1", c)
    assert condition_holds("StringEqualsIfExists", "aws:SourceVpce", "vpce-1", c)
    assert not condition_holds("StringEqualsIfExists", "k", "a", ctx(k=["b"]))
    assert condition_holds("Null", "s3:x-amz-server-side-encryption", "true", c)
    assert not condition_holds("Null", "k", "true", ctx(k=["x"]))
    assert condition_holds("Null", "k", "false", ctx(k=["x"]))


def test_set_qualifiers() -> None:
    """ForAllValues: every request value is among the policy's (true when the key is absent);
    ForAnyValue: at least one is (false when absent)."""
    tags = ctx(**{"aws__TagKeys": ["team", "env"]})
    assert condition_holds("ForAllValues:StringEquals", "aws:TagKeys", ["team", "env", "x"], tags)
    assert not condition_holds("ForAllValues:StringEquals", "aws:TagKeys", ["team"], tags)
    assert condition_holds("ForAllValues:StringEquals", "aws:TagKeys", ["team"], ctx())
    assert condition_holds("ForAnyValue:StringEquals", "aws:TagKeys", ["env"], tags)
    assert not condition_holds("ForAnyValue:StringEquals", "aws:TagKeys", ["env"], ctx())
    assert condition_holds("ForAnyValue:StringNotEquals", "aws:TagKeys", ["team"], tags)


def test_condition_keys_are_case_insensitive_and_blocks_and() -> None:
    c = ctx(**{"aws__SourceIp": ["127.0.0.1"], "aws__SecureTransport": ["false"]})
    assert condition_holds("IpAddress", "AWS:sourceip", "127.0.0.0/8", c)
    p = doc(
        allow(
            "s3:GetObject",
            Condition={
                "IpAddress": {"aws:SourceIp": "127.0.0.0/8"},
                "Bool": {"aws:SecureTransport": "true"},
            },
        )
    )
    assert evaluate(p, c).effect is Effect.NONE  # both must hold


def test_unknown_operator_never_matches() -> None:
    assert not known_operator("StringEqualz")
    assert known_operator("ForAnyValue:StringLikeIfExists")
    assert not condition_holds("StringEqualz", "k", "a", ctx(k=["a"]))


# ------------------------------------------------------------------ policy variables


def test_policy_variables_in_resources_and_conditions() -> None:
    """The user guide's "home folder" example: ${aws:username} in Resource and in s3:prefix."""
    home = doc(
        allow("s3:GetObject", "arn:aws:s3:::b/home/${aws:username}/*"),
        allow(
            "s3:ListBucket",
            "arn:aws:s3:::b",
            Condition={"StringLike": {"s3:prefix": ["home/${aws:username}/*"]}},
        ),
    )
    mine = ctx(resource="arn:aws:s3:::b/home/alice/x", **{"aws__username": ["alice"]})
    theirs = ctx(resource="arn:aws:s3:::b/home/bob/x", **{"aws__username": ["alice"]})
    assert evaluate(home, mine).effect is Effect.ALLOW
    assert evaluate(home, theirs).effect is Effect.NONE
    lst = ctx("s3:ListBucket", "arn:aws:s3:::b", **{"aws__username": ["alice"]})
    lst.keys["s3:prefix"] = ["home/alice/2026"]
    assert evaluate(home, RequestContext(lst.action, lst.resource, ALICE, lst.keys)).effect is (
        Effect.ALLOW
    )
    # Version 2008-10-17 keeps ${...} literal
    old = doc(allow("s3:GetObject", "arn:aws:s3:::b/home/${aws:username}/*"), version="2008-10-17")
    assert evaluate(old, mine).effect is Effect.NONE
    c = ctx(**{"aws__username": ["alice"]})
    assert substitute("${aws:username}-${*}-${?}-${$}", c) == "alice-*-?-$"
    assert substitute("${aws:PrincipalTag/team, 'none'}", c) == "none"
    assert substitute("${aws:PrincipalTag/team}", c) is None  # no value: matches nothing


# ------------------------------------------------------------------ the whole decision


def test_explicit_deny_wins_over_every_allow() -> None:
    ident = [doc(allow("s3:*"))]
    bucket = doc({"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"})
    d = decide(ctx(), ident, None, bucket)
    assert not d.allowed and d.reason == "with an explicit deny in a resource-based policy"
    d = decide(ctx(), [doc(allow("s3:*"), deny("s3:GetObject"))])
    assert not d.allowed and d.reason == "with an explicit deny in an identity-based policy"
    # a bucket policy's deny binds the account's own (root) credentials too
    root = Principal(f"arn:aws:iam::{ACCT}:root", ACCT, "Account")
    assert not decide(ctx(who=root), [], None, bucket, all_powerful=True).allowed
    assert decide(ctx(who=root), [], None, None, all_powerful=True).allowed


def test_identity_or_resource_policy_allows_within_one_account() -> None:
    grant_alice = doc(
        {
            "Effect": "Allow",
            "Principal": {"AWS": ALICE.arn},
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::b/*",
        }
    )
    assert decide(ctx(), [], None, grant_alice).allowed  # the bucket policy alone
    assert decide(ctx(), [doc(allow("s3:GetObject"))]).allowed  # the identity policy alone
    d = decide(ctx(), [])
    assert d.reason == "because no identity-based policy allows the s3:GetObject action"
    # naming the account delegates to its identity policies: grants nothing by itself
    grant_acct = doc(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCT}:root"},
            "Action": "s3:GetObject",
            "Resource": "*",
        }
    )
    assert not decide(ctx(), [], None, grant_acct).allowed
    # a statement for another principal does not apply
    bob = doc(
        {
            "Effect": "Deny",
            "Principal": {"AWS": f"arn:aws:iam::{ACCT}:user/bob"},
            "Action": "*",
            "Resource": "*",
        }
    )
    assert decide(ctx(), [doc(allow("*"))], None, bob).allowed
    # NotPrincipal: everyone but the named
    not_alice = doc(
        {"Effect": "Deny", "NotPrincipal": {"AWS": ALICE.arn}, "Action": "*", "Resource": "*"}
    )
    assert decide(ctx(), [doc(allow("*"))], None, not_alice).allowed


def test_permissions_boundary_limits_identity_and_role_grants() -> None:
    """A boundary caps identity policies; a resource policy naming the session itself is not
    capped, one naming only the role is (IAM user guide, "Permissions boundaries")."""
    ident = [doc(allow("s3:*"))]
    boundary = [doc(allow("s3:GetObject"))]
    assert decide(ctx(who=SESSION), ident, boundary).allowed
    d = decide(ctx("s3:PutObject", who=SESSION), ident, boundary)
    assert d.reason == "because no permissions boundary allows the s3:PutObject action"
    to_role = doc(
        {"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "s3:PutObject", "Resource": "*"}
    )
    to_session = doc(
        {
            "Effect": "Allow",
            "Principal": {"AWS": SESSION.arn},
            "Action": "s3:PutObject",
            "Resource": "*",
        }
    )
    assert not decide(ctx("s3:PutObject", who=SESSION), [], boundary, to_role).allowed
    assert decide(ctx("s3:PutObject", who=SESSION), [], boundary, to_session).allowed
    assert decide(ctx("s3:PutObject", who=SESSION), [], None, to_role).allowed
    d = decide(ctx(who=SESSION), ident, [doc(deny("s3:GetObject"))])
    assert d.reason == "with an explicit deny in a permissions boundary"


def test_anonymous_only_through_a_public_resource_policy() -> None:
    public = doc({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"})
    assert decide(ctx(who=ANONYMOUS), [], None, public).allowed
    acct_only = doc(
        {"Effect": "Allow", "Principal": {"AWS": ACCT}, "Action": "s3:GetObject", "Resource": "*"}
    )
    assert not decide(ctx(who=ANONYMOUS), [], None, acct_only).allowed
    assert not decide(ctx(who=ANONYMOUS), [], None, None).allowed

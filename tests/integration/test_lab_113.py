"""Lab 1.1.3: the reference solution passes every check; a too-broad policy fails with hints."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from labs import harness
from labs.l113_iam_base import lab as lab_mod
from labs.l113_iam_base import solution

pytestmark = pytest.mark.integration


@pytest.fixture()
def ctx(profile: Any, cfg: Any) -> Iterator[harness.LabContext]:
    lab = harness.find("1.1.3")
    c = harness.context(lab, profile, cfg)
    lab.reset(c)
    yield c
    lab.reset(c)


def results(ctx: harness.LabContext) -> dict[str, harness.CheckResult]:
    return {r.name: r for r in harness.run_checks(harness.find("1.1.3"), ctx)}


def test_solution_passes_all_checks(ctx: harness.LabContext) -> None:
    solution.main(ctx)
    res = results(ctx)
    assert {n: (r.found, r.hint) for n, r in res.items() if not r.passed} == {}
    assert len(res) == 5


def test_skeleton_and_nothing_done(ctx: harness.LabContext) -> None:
    with pytest.raises(NotImplementedError, match="1단계"):
        lab_mod.main(ctx)
    r = results(ctx)["emr_roles"]
    assert not r.passed and "create_role" in r.hint


def test_wildcard_producer_policy_fails_twice(ctx: harness.LabContext) -> None:
    lab_mod.prepare(ctx)
    solution.emr_roles(ctx)
    solution.firehose_role(ctx)
    iam = ctx.client("iam")
    for name in (lab_mod.PRODUCER, lab_mod.CONSUMER):
        action = "kinesis:*" if name == lab_mod.PRODUCER else "kinesis:GetShardIterator"
        arn = iam.create_policy(
            PolicyName=name,
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}],
                }
            ),
        )["Policy"]["Arn"]
        iam.create_user(UserName=name)
        iam.attach_user_policy(UserName=name, PolicyArn=arn)
    res = results(ctx)
    assert res["emr_roles"].passed and res["firehose_role"].passed
    lp = res["least_privilege"]
    assert not lp.passed and "kinesis:*" in lp.found
    enf = res["producer_and_consumer_enforced"]
    assert not enf.passed and "producer DeleteStream" in enf.found
    # The probe asked IAM's simulator; the learner's stream is still there.
    kin = ctx.client("kinesis")
    assert kin.describe_stream_summary(StreamName=lab_mod.STREAM)["StreamDescriptionSummary"]


def test_simulate_principal_policy_as_aws_answers(ctx: harness.LabContext, unique: Any) -> None:
    """SimulatePrincipalPolicy over identity policies: allowed, implicit and explicit deny."""
    iam = ctx.client("iam")
    user = unique("sim")
    iam.create_user(UserName=user)
    doc = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "kinesis:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "kinesis:DeleteStream", "Resource": "*"},
        ],
    }
    iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=json.dumps(doc))
    arn = iam.get_user(UserName=user)["User"]["Arn"]
    out = iam.simulate_principal_policy(
        PolicySourceArn=arn,
        ActionNames=["kinesis:PutRecord", "kinesis:DeleteStream", "s3:GetObject"],
        ResourceArns=["arn:aws:kinesis:us-east-1:123456789012:stream/x"],
    )["EvaluationResults"]
    assert [(r["EvalActionName"], r["EvalDecision"]) for r in out] == [
        ("kinesis:PutRecord", "allowed"),
        ("kinesis:DeleteStream", "explicitDeny"),
        ("s3:GetObject", "implicitDeny"),
    ]
    with pytest.raises(ClientError) as info:
        iam.simulate_principal_policy(
            PolicySourceArn=arn.replace(user, "nobody-" + user), ActionNames=["s3:GetObject"]
        )
    assert info.value.response["Error"]["Code"] == "NoSuchEntity"
    iam.delete_user_policy(UserName=user, PolicyName="p")
    iam.delete_user(UserName=user)


def test_the_solution_runs_again_and_still_passes(ctx: harness.LabContext) -> None:
    """Any lab's solution may run any number of times (labs never harm each other)."""
    solution.main(ctx)
    solution.main(ctx)
    assert [r.name for r in results(ctx).values() if not r.passed] == []


def test_a_public_or_missing_bucket_policy_fails_with_a_hint(ctx: harness.LabContext) -> None:
    lab_mod.prepare(ctx)
    solution.emr_roles(ctx)
    solution.firehose_role(ctx)
    solution.app_users(ctx)
    r = results(ctx)["lake_bucket_policy"]
    assert not r.passed and r.found == "없음" and "put_bucket_policy" in r.hint
    s3 = ctx.client("s3")
    bucket = lab_mod.lake_bucket(ctx)
    public = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Everyone",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/*",
            }
        ],
    }
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(public))
    r = results(ctx)["lake_bucket_policy"]
    assert not r.passed and "Everyone" in r.found and "공개" in r.hint
    # a grant on the whole bucket lets the consumer read raw/ too; no encryption rule
    arn = ctx.client("iam").get_user(UserName=lab_mod.CONSUMER)["User"]["Arn"]
    public["Statement"][0]["Principal"] = {"AWS": arn}
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(public))
    r = results(ctx)["lake_bucket_policy"]
    assert not r.passed
    assert "consumer GetObject raw/" in r.found and "PutObject without encryption" in r.found


def test_simulate_custom_policy_with_context_entries(ctx: harness.LabContext) -> None:
    """SimulateCustomPolicy evaluates given documents with the condition keys passed as
    ContextEntries (IAM API reference), as the lab's checks use it."""
    iam = ctx.client("iam")
    doc = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "S3:getobject",
                "Resource": "arn:aws:s3:::b/*",
                "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
            }
        ],
    }

    def decision(ip: str) -> str:
        out = iam.simulate_custom_policy(
            PolicyInputList=[json.dumps(doc)],
            ActionNames=["s3:GetObject"],
            ResourceArns=["arn:aws:s3:::b/k"],
            ContextEntries=[
                {"ContextKeyName": "aws:SourceIp", "ContextKeyValues": [ip], "ContextKeyType": "ip"}
            ],
        )["EvaluationResults"]
        return str(out[0]["EvalDecision"])

    assert decision("10.1.2.3") == "allowed"
    assert decision("192.168.0.1") == "implicitDeny"
    with pytest.raises(ClientError) as info:
        iam.simulate_custom_policy(PolicyInputList=["{not json"], ActionNames=["s3:GetObject"])
    assert info.value.response["Error"]["Code"] == "MalformedPolicyDocument"

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
    assert len(res) == 4


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

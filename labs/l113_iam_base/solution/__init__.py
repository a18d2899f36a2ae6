"""Reference solution of lab 1.1.3 (CI runs it and checks it on the embedded profile)."""

from __future__ import annotations

import json
from typing import Any

from labs.harness import LabContext
from labs.l113_iam_base.lab import (
    CONSUMER,
    EMR_EC2_ROLE,
    EMR_SERVICE_ROLE,
    FIREHOSE_ROLE,
    PRODUCER,
    arns,
    lake_bucket,
    prepare,
    trust,
)

KINESIS_READ = [
    "kinesis:GetRecords",
    "kinesis:GetShardIterator",
    "kinesis:DescribeStream",
    "kinesis:DescribeStreamSummary",
    "kinesis:ListShards",
]


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(actions: list[str], resources: list[str]) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": resources}


# Create-or-update, so that running the solution again converges instead of failing with
# EntityAlreadyExists (a lab's solution may run any number of times, in any order).
def ensure_role(iam: Any, name: str, trust_doc: str) -> None:
    try:
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust_doc)
    except iam.exceptions.EntityAlreadyExistsException:
        iam.update_assume_role_policy(RoleName=name, PolicyDocument=trust_doc)


def ensure_instance_profile(iam: Any, name: str, role: str) -> None:
    try:
        iam.create_instance_profile(InstanceProfileName=name)
    except iam.exceptions.EntityAlreadyExistsException:
        pass
    roles = iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Roles"]
    if role not in [r["RoleName"] for r in roles]:
        iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=role)


def ensure_managed_policy(iam: Any, name: str, document: str) -> str:
    """The policy's ARN; an existing policy gets ``document`` as its new default version."""
    try:
        return str(iam.create_policy(PolicyName=name, PolicyDocument=document)["Policy"]["Arn"])
    except iam.exceptions.EntityAlreadyExistsException:
        pass
    arn = next(
        p["Arn"] for p in iam.list_policies(Scope="Local")["Policies"] if p["PolicyName"] == name
    )
    for v in iam.list_policy_versions(PolicyArn=arn)["Versions"]:
        if not v["IsDefaultVersion"]:  # at most 5 versions: keep only the current one
            iam.delete_policy_version(PolicyArn=arn, VersionId=v["VersionId"])
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=document, SetAsDefault=True)
    return str(arn)


def emr_roles(ctx: LabContext) -> None:
    iam = ctx.client("iam")
    a = arns(ctx)
    ensure_role(iam, EMR_SERVICE_ROLE, trust("elasticmapreduce.amazonaws.com"))
    iam.put_role_policy(
        RoleName=EMR_SERVICE_ROLE,
        PolicyName="emr-service",
        PolicyDocument=doc(
            allow(
                [
                    "ec2:RunInstances",
                    "ec2:TerminateInstances",
                    "ec2:DescribeInstances",
                    "ec2:CreateTags",
                ],
                ["*"],
            ),
            allow(["iam:PassRole"], [f"arn:aws:iam::{ctx.account_id()}:role/{EMR_EC2_ROLE}"]),
        ),
    )
    ensure_role(iam, EMR_EC2_ROLE, trust("ec2.amazonaws.com"))
    iam.put_role_policy(
        RoleName=EMR_EC2_ROLE,
        PolicyName="lake-access",
        PolicyDocument=doc(
            allow(["s3:ListBucket"], [a["bucket"]]),
            allow(["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], [a["objects"]]),
        ),
    )
    ensure_instance_profile(iam, EMR_EC2_ROLE, EMR_EC2_ROLE)


def firehose_role(ctx: LabContext) -> None:
    iam = ctx.client("iam")
    a = arns(ctx)
    ensure_role(iam, FIREHOSE_ROLE, trust("firehose.amazonaws.com"))
    iam.put_role_policy(
        RoleName=FIREHOSE_ROLE,
        PolicyName="deliver",
        PolicyDocument=doc(
            allow(KINESIS_READ, [a["stream"]]),
            allow(
                ["s3:GetBucketLocation", "s3:ListBucket", "s3:AbortMultipartUpload"], [a["bucket"]]
            ),
            allow(["s3:PutObject", "s3:AbortMultipartUpload"], [a["objects"]]),
        ),
    )


def app_users(ctx: LabContext) -> None:
    iam = ctx.client("iam")
    a = arns(ctx)
    policies = {
        PRODUCER: doc(allow(["kinesis:PutRecord", "kinesis:PutRecords"], [a["stream"]])),
        CONSUMER: doc(
            allow(KINESIS_READ, [a["stream"]]),
            allow(
                [
                    "dynamodb:CreateTable",
                    "dynamodb:DescribeTable",
                    "dynamodb:GetItem",
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                    "dynamodb:DeleteItem",
                    "dynamodb:Scan",
                ],
                [a["lease_table"]],
            ),
        ),
    }
    for name, document in policies.items():
        arn = ensure_managed_policy(iam, name, document)
        try:
            iam.create_user(UserName=name)
        except iam.exceptions.EntityAlreadyExistsException:
            pass
        iam.attach_user_policy(UserName=name, PolicyArn=arn)


def bucket_policy(ctx: LabContext) -> None:
    """The lake's bucket policy: the consumer reads curated/ through it (no S3 permission of
    its own), and any upload without the encryption header is denied to everyone."""
    a = arns(ctx)
    consumer = ctx.client("iam").get_user(UserName=CONSUMER)["User"]["Arn"]
    ctx.client("s3").put_bucket_policy(
        Bucket=lake_bucket(ctx),
        Policy=doc(
            {
                "Sid": "ConsumerReadsCurated",
                "Effect": "Allow",
                "Principal": {"AWS": consumer},
                "Action": "s3:GetObject",
                "Resource": a["bucket"] + "/curated/*",
            },
            {
                "Sid": "DenyUnencryptedUploads",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": a["objects"],
                "Condition": {
                    "StringNotEquals": {"s3:x-amz-server-side-encryption": ["AES256", "aws:kms"]}
                },
            },
        ),
    )


def main(ctx: LabContext) -> dict[str, Any]:
    with ctx.step("준비: Kinesis 스트림과 S3 버킷"):
        prepare(ctx)
    with ctx.step("1단계: EMR 역할"):
        emr_roles(ctx)
    with ctx.step("2단계: Firehose 역할"):
        firehose_role(ctx)
    with ctx.step("3단계: 생산자와 소비자 사용자"):
        app_users(ctx)
    with ctx.step("4단계: 레이크 버킷 정책"):
        bucket_policy(ctx)
    return {"roles": 3, "users": 2}

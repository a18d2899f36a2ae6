"""Lab 1.1.3 — IAM 및 기본 환경 구성 (the learner's file).

bdlab run 1.1.3
bdlab check 1.1.3
"""

from __future__ import annotations

import json
from typing import Any

from labs.harness import LabContext, LabInfo
from sim import s3util

LAB = LabInfo(
    id="1.1.3",
    slug="l113_iam_base",
    title="IAM 및 기본 환경 구성",
    part=1,
    summary="파이프라인의 역할(EMR, Firehose)과 생산자/소비자 정책을 최소 권한으로 만들고, "
    "IAM 강제 모드에서 허용과 거부를 확인합니다.",
)

PREFIX = "bdlab-l113"
EMR_SERVICE_ROLE = f"{PREFIX}-emr-service"
EMR_EC2_ROLE = f"{PREFIX}-emr-ec2"  # also the instance profile's name
FIREHOSE_ROLE = f"{PREFIX}-firehose"
PRODUCER = f"{PREFIX}-producer"  # user and managed policy
CONSUMER = f"{PREFIX}-consumer"  # user and managed policy
STREAM = f"{PREFIX}-clicks"
LEASE_TABLE = f"{PREFIX}-consumer-leases"


def lake_bucket(ctx: LabContext) -> str:
    return ctx.name("lake")


def arns(ctx: LabContext) -> dict[str, str]:
    """The ARNs the policies should name (given, so everyone scopes to the same things)."""
    acct = ctx.account_id()
    region = ctx.profile.region or "us-east-1"
    return {
        "bucket": f"arn:aws:s3:::{lake_bucket(ctx)}",
        "objects": f"arn:aws:s3:::{lake_bucket(ctx)}/*",
        "stream": f"arn:aws:kinesis:{region}:{acct}:stream/{STREAM}",
        "lease_table": f"arn:aws:dynamodb:{region}:{acct}:table/{LEASE_TABLE}",
    }


def trust(service: str) -> str:
    """A trust policy that lets one AWS service assume the role."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
            ],
        }
    )


def prepare(ctx: LabContext) -> None:
    """Given: the lake bucket and the clickstream Kinesis stream."""
    s3util.ensure_bucket(ctx.client("s3"), lake_bucket(ctx), ctx.profile.region)
    kin = ctx.client("kinesis")
    try:
        kin.create_stream(StreamName=STREAM, ShardCount=1)
    except kin.exceptions.ResourceInUseException:
        pass


# --------------------------------------------------------------------------- TODO
def step1_emr_roles(ctx: LabContext) -> None:
    """1단계: EMR 서비스 역할과 EC2 인스턴스 프로필(역할 포함)을 만듭니다."""
    raise NotImplementedError("TODO 1단계: README.md의 '1단계'를 보고 EMR 역할을 만드세요.")


def step2_firehose_role(ctx: LabContext) -> None:
    """2단계: Firehose 전송 역할을 만듭니다 (스트림 읽기 + 레이크 버킷 쓰기)."""
    raise NotImplementedError("TODO 2단계: README.md의 '2단계'를 보고 Firehose 역할을 만드세요.")


def step3_app_users(ctx: LabContext) -> None:
    """3단계: 생산자/소비자 관리형 정책과 사용자를 만들고 정책을 붙입니다."""
    raise NotImplementedError("TODO 3단계: README.md의 '3단계'를 보고 정책과 사용자를 만드세요.")


def step4_bucket_policy(ctx: LabContext) -> None:
    """4단계: 레이크 버킷 정책 — 소비자에게 curated/ 읽기를 주고, 암호화 헤더 없는 업로드를 거부합니다."""
    raise NotImplementedError("TODO 4단계: README.md의 '4단계'를 보고 버킷 정책을 붙이세요.")


def main(ctx: LabContext) -> dict[str, Any]:
    with ctx.step("준비: Kinesis 스트림과 S3 버킷"):
        prepare(ctx)
    with ctx.step("1단계: EMR 역할"):
        step1_emr_roles(ctx)
    with ctx.step("2단계: Firehose 역할"):
        step2_firehose_role(ctx)
    with ctx.step("3단계: 생산자와 소비자 사용자"):
        step3_app_users(ctx)
    with ctx.step("4단계: 레이크 버킷 정책"):
        step4_bucket_policy(ctx)
    return {"roles": [EMR_SERVICE_ROLE, EMR_EC2_ROLE, FIREHOSE_ROLE], "users": [PRODUCER, CONSUMER]}


def reset(ctx: LabContext) -> int:
    """Delete the lab's users, roles, policies, instance profile, stream and bucket."""
    iam = ctx.client("iam")
    removed = 0
    for user in (PRODUCER, CONSUMER):
        try:
            for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]:
                iam.delete_access_key(UserName=user, AccessKeyId=k["AccessKeyId"])
            for p in iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]:
                iam.detach_user_policy(UserName=user, PolicyArn=p["PolicyArn"])
            for name in iam.list_user_policies(UserName=user)["PolicyNames"]:
                iam.delete_user_policy(UserName=user, PolicyName=name)
            iam.delete_user(UserName=user)
            removed += 1
        except iam.exceptions.NoSuchEntityException:
            pass
    for p in iam.list_policies(Scope="Local")["Policies"]:
        if p["PolicyName"].startswith(PREFIX):
            iam.delete_policy(PolicyArn=p["Arn"])
            removed += 1
    try:
        iam.remove_role_from_instance_profile(
            InstanceProfileName=EMR_EC2_ROLE, RoleName=EMR_EC2_ROLE
        )
    except iam.exceptions.NoSuchEntityException:
        pass
    try:
        iam.delete_instance_profile(InstanceProfileName=EMR_EC2_ROLE)
    except iam.exceptions.NoSuchEntityException:
        pass
    for role in (EMR_SERVICE_ROLE, EMR_EC2_ROLE, FIREHOSE_ROLE):
        try:
            for p in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]:
                iam.detach_role_policy(RoleName=role, PolicyArn=p["PolicyArn"])
            for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
                iam.delete_role_policy(RoleName=role, PolicyName=name)
            iam.delete_role(RoleName=role)
            removed += 1
        except iam.exceptions.NoSuchEntityException:
            pass
    kin = ctx.client("kinesis")
    try:
        kin.delete_stream(StreamName=STREAM)
    except kin.exceptions.ResourceNotFoundException:
        pass
    s3 = ctx.client("s3")
    try:
        s3.delete_bucket_policy(Bucket=lake_bucket(ctx))
    except s3.exceptions.ClientError:
        pass
    try:
        s3util.delete_bucket(s3, lake_bucket(ctx))  # the check's probe objects with it
    except s3.exceptions.ClientError:
        pass
    return removed

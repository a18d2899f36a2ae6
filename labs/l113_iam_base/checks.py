"""Checks of lab 1.1.3, in order. Each docstring's first line is what the learner sees.

They read the roles, trust policies, instance profile and policy documents from IAM, then test
the producer and consumer for real: with IAM enforcement on, an allowed call must succeed and a
forbidden one must get AccessDenied.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

from botocore.exceptions import ClientError

from labs.harness import CheckFailed, LabContext, check
from labs.l113_iam_base.lab import (
    CONSUMER,
    EMR_EC2_ROLE,
    EMR_SERVICE_ROLE,
    FIREHOSE_ROLE,
    PRODUCER,
    STREAM,
    arns,
    lake_bucket,
)
from sim import clients


def _doc(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    return dict(json.loads(unquote(raw)))


def _statements(doc: dict[str, Any]) -> list[dict[str, Any]]:
    st = doc.get("Statement", [])
    return [st] if isinstance(st, dict) else list(st)


def _as_list(v: Any) -> list[str]:
    return [v] if isinstance(v, str) else list(v or [])


def _role(ctx: LabContext, name: str, service: str) -> list[dict[str, Any]]:
    """The role's permission statements, after checking it exists and trusts ``service``."""
    iam = ctx.client("iam")
    try:
        role = iam.get_role(RoleName=name)["Role"]
    except iam.exceptions.NoSuchEntityException:
        raise CheckFailed(
            f"역할 {name}", "없음", f"iam.create_role(RoleName='{name}', ...)"
        ) from None
    principals = [
        p
        for s in _statements(_doc(role["AssumeRolePolicyDocument"]))
        for p in _as_list(s.get("Principal", {}).get("Service"))
    ]
    if service not in principals:
        raise CheckFailed(
            f"{name}의 신뢰 정책 Principal.Service = {service}",
            f"{principals}",
            f"trust('{service}')로 만든 신뢰 정책을 쓰세요.",
        )
    out: list[dict[str, Any]] = []
    for pname in iam.list_role_policies(RoleName=name)["PolicyNames"]:
        out += _statements(
            _doc(iam.get_role_policy(RoleName=name, PolicyName=pname)["PolicyDocument"])
        )
    for att in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
        out += _managed(ctx, att["PolicyArn"])
    if not out:
        raise CheckFailed(f"{name}의 권한 정책", "없음", "put_role_policy로 정책을 붙이세요.")
    return out


def _managed(ctx: LabContext, arn: str) -> list[dict[str, Any]]:
    iam = ctx.client("iam")
    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    return _statements(
        _doc(iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"])
    )


def _allows(ctx: LabContext, statements: list[dict[str, Any]], action: str, resource: str) -> bool:
    """Whether the statements allow ``action`` on ``resource``, as IAM's policy simulator
    (SimulateCustomPolicy: the same call answers on real AWS) decides."""
    doc = json.dumps({"Version": "2012-10-17", "Statement": statements})
    result = ctx.client("iam").simulate_custom_policy(
        PolicyInputList=[doc], ActionNames=[action], ResourceArns=[resource]
    )["EvaluationResults"][0]
    return bool(result["EvalDecision"] == "allowed")


@check(1)
def emr_roles(ctx: LabContext) -> None:
    """EMR 서비스 역할과 EC2 인스턴스 프로필이 있고, EC2 역할의 S3 권한이 레이크 버킷으로 한정된다"""
    _role(ctx, EMR_SERVICE_ROLE, "elasticmapreduce.amazonaws.com")
    ec2 = _role(ctx, EMR_EC2_ROLE, "ec2.amazonaws.com")
    iam = ctx.client("iam")
    try:
        prof = iam.get_instance_profile(InstanceProfileName=EMR_EC2_ROLE)["InstanceProfile"]
    except iam.exceptions.NoSuchEntityException:
        prof = {"Roles": []}
    if EMR_EC2_ROLE not in [r["RoleName"] for r in prof["Roles"]]:
        raise CheckFailed(
            f"인스턴스 프로필 {EMR_EC2_ROLE}에 역할 {EMR_EC2_ROLE}",
            f"{[r['RoleName'] for r in prof['Roles']] or '프로필 없음'}",
            "create_instance_profile 후 add_role_to_instance_profile 하세요.",
        )
    a = arns(ctx)
    if not _allows(ctx, ec2, "s3:GetObject", a["objects"].replace("*", "raw/x.json")):
        raise CheckFailed(
            "EC2 역할: 레이크 객체 s3:GetObject 허용",
            "허용 안 됨",
            "EMR 노드는 레이크에서 데이터를 읽어야 합니다.",
        )
    if _allows(ctx, ec2, "s3:GetObject", "arn:aws:s3:::some-other-bucket/x"):
        raise CheckFailed(
            "다른 버킷은 거부",
            "다른 버킷도 허용됨",
            "Resource를 arns(ctx)['objects']로 한정하세요 (최소 권한).",
        )


@check(2)
def firehose_role(ctx: LabContext) -> None:
    """Firehose 역할이 스트림을 읽고 레이크 버킷에만 쓸 수 있다"""
    st = _role(ctx, FIREHOSE_ROLE, "firehose.amazonaws.com")
    a = arns(ctx)
    needed = [
        ("kinesis:GetRecords", a["stream"]),
        ("kinesis:GetShardIterator", a["stream"]),
        ("s3:PutObject", a["objects"].replace("*", "2026/01/01/x")),
    ]
    missing = [act for act, res in needed if not _allows(ctx, st, act, res)]
    if missing:
        raise CheckFailed(
            f"허용: {[n for n, _ in needed]}",
            f"빠짐: {missing}",
            "Firehose는 소스 스트림을 읽고 S3에 객체를 씁니다.",
        )
    if _allows(ctx, st, "s3:PutObject", "arn:aws:s3:::some-other-bucket/x"):
        raise CheckFailed(
            "다른 버킷 쓰기는 거부", "허용됨", "Resource를 레이크 버킷으로 한정하세요."
        )


@check(3)
def least_privilege(ctx: LabContext) -> None:
    """어떤 정책도 Action '*' / '서비스:*' 를 쓰거나 쓰기 작업을 Resource '*'에 허용하지 않는다"""
    iam = ctx.client("iam")
    docs: dict[str, list[dict[str, Any]]] = {}
    for name in (PRODUCER, CONSUMER):
        try:
            atts = iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]
        except iam.exceptions.NoSuchEntityException:
            raise CheckFailed(f"사용자 {name}", "없음", "3단계에서 사용자를 만드세요.") from None
        if not atts:
            raise CheckFailed(f"{name}에 붙은 관리형 정책", "없음", "attach_user_policy 하세요.")
        for att in atts:
            docs[att["PolicyName"]] = _managed(ctx, att["PolicyArn"])
    docs[FIREHOSE_ROLE] = _role(ctx, FIREHOSE_ROLE, "firehose.amazonaws.com")
    docs[EMR_EC2_ROLE] = _role(ctx, EMR_EC2_ROLE, "ec2.amazonaws.com")
    for name, sts in docs.items():
        for s in sts:
            if s.get("Effect") != "Allow":
                continue
            acts = _as_list(s.get("Action"))
            wild = [x for x in acts if x == "*" or x.endswith(":*")]
            if wild:
                raise CheckFailed(
                    f"{name}: 필요한 작업만 나열",
                    f"와일드카드 작업 {wild}",
                    "kinesis:* 대신 PutRecord, PutRecords처럼 필요한 것만 쓰세요.",
                )
            if "*" in _as_list(s.get("Resource")) and any(
                x.split(":")[0] in ("s3", "kinesis", "dynamodb") for x in acts
            ):
                raise CheckFailed(
                    f"{name}: 리소스 ARN으로 한정",
                    f"{acts} on '*'",
                    "arns(ctx)의 스트림, 버킷, 테이블 ARN을 Resource에 쓰세요.",
                )


@contextlib.contextmanager
def _as_user(ctx: LabContext, user: str) -> Iterator[Any]:
    """A profile signed with a fresh access key of ``user``, IAM enforcement on meanwhile."""
    iam = ctx.client("iam")
    key = iam.create_access_key(UserName=user)["AccessKey"]
    prof = dataclasses.replace(
        ctx.profile, access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"]
    )
    was = _enforce(ctx, True)
    try:
        yield prof
    finally:
        _enforce(ctx, was)
        iam.delete_access_key(UserName=user, AccessKeyId=key["AccessKeyId"])


def _enforce(ctx: LabContext, on: bool) -> bool:
    """Switch the embedded emulator's IAM enforcement; real AWS always enforces."""
    if not ctx.can("iam_toggle"):
        return True
    admin = ctx.admin("iam_toggle")
    was = bool(admin.iam()["enforce"])
    admin.set_iam(on)
    return was


def _simulated(ctx: LabContext, user: str, action: str) -> str:
    """'ok' or 'denied' for ``action`` on the lab's stream, from IAM's SimulatePrincipalPolicy
    (no side effect; the same call works on real AWS)."""
    iam = ctx.client("iam")
    arn = iam.get_user(UserName=user)["User"]["Arn"]
    stream_arn = ctx.client("kinesis").describe_stream_summary(StreamName=STREAM)[
        "StreamDescriptionSummary"
    ]["StreamARN"]
    result = iam.simulate_principal_policy(
        PolicySourceArn=arn, ActionNames=[action], ResourceArns=[stream_arn]
    )["EvaluationResults"][0]
    return "ok" if result["EvalDecision"] == "allowed" else "denied"


def _outcome(call: Any, attempts: int) -> str:
    """'ok', 'denied' or another error code; retries while IAM changes propagate on AWS."""
    for i in range(attempts):
        try:
            call()
            return "ok"
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            if "AccessDenied" not in code and code not in (
                "UnrecognizedClientException",
                "InvalidClientTokenId",
            ):
                return code
            if i == attempts - 1 or "AccessDenied" in code:
                return "denied" if "AccessDenied" in code else code
            time.sleep(2)
    return "denied"


@check(4)
def producer_and_consumer_enforced(ctx: LabContext) -> None:
    """IAM 강제 모드에서 생산자는 쓰기만, 소비자는 읽기만 할 수 있다 (나머지는 AccessDenied)"""
    attempts = 1 if ctx.can("iam_toggle") else 5
    shard = ctx.client("kinesis").list_shards(StreamName=STREAM)["Shards"][0]["ShardId"]
    with _as_user(ctx, PRODUCER) as prof:
        kin = clients.client("kinesis", prof, retries=False)
        results = {
            "producer PutRecord": (
                _outcome(
                    lambda: kin.put_record(StreamName=STREAM, Data=b"{}", PartitionKey="u1"),
                    attempts,
                ),
                "ok",
            ),
            "producer GetShardIterator": (
                _outcome(
                    lambda: kin.get_shard_iterator(
                        StreamName=STREAM, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
                    ),
                    1,
                ),
                "denied",
            ),
            # Asked of IAM's policy simulator, never tried: a too-broad policy would let the
            # probe delete the learner's stream.
            "producer DeleteStream": (_simulated(ctx, PRODUCER, "kinesis:DeleteStream"), "denied"),
        }
    with _as_user(ctx, CONSUMER) as prof:
        kin = clients.client("kinesis", prof, retries=False)
        results["consumer GetShardIterator"] = (
            _outcome(
                lambda: kin.get_shard_iterator(
                    StreamName=STREAM, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
                ),
                attempts,
            ),
            "ok",
        )
        results["consumer PutRecord"] = (
            _outcome(lambda: kin.put_record(StreamName=STREAM, Data=b"{}", PartitionKey="u1"), 1),
            "denied",
        )
    wrong = {k: got for k, (got, want) in results.items() if got != want}
    if wrong:
        raise CheckFailed(
            "생산자: PutRecord만 ok / 소비자: 읽기만 ok, 나머지 denied",
            f"다른 결과: {wrong}",
            "정책의 Action과 Resource(스트림 ARN)를 확인하세요. 거부되어야 할 "
            "호출이 ok라면 권한이 너무 넓습니다.",
        )


def _public(statement: dict[str, Any]) -> bool:
    p = statement.get("Principal")
    everyone = p == "*" or (isinstance(p, dict) and "*" in _as_list(p.get("AWS")))
    return statement.get("Effect") == "Allow" and everyone and not statement.get("Condition")


@check(5)
def lake_bucket_policy(ctx: LabContext) -> None:
    """레이크 버킷 정책: 소비자는 curated/만 읽고, 암호화 헤더 없는 업로드는 누구든 거부된다"""
    s3 = ctx.client("s3")
    bucket = lake_bucket(ctx)
    try:
        raw = s3.get_bucket_policy(Bucket=bucket)["Policy"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "NoSuchBucketPolicy":
            raise
        raise CheckFailed(
            f"버킷 {bucket}의 버킷 정책",
            "없음",
            "4단계: s3.put_bucket_policy(Bucket=lake_bucket(ctx), Policy=json.dumps(...))",
        ) from None
    public = [s.get("Sid", "(Sid 없음)") for s in _statements(_doc(raw)) if _public(s)]
    if public:
        raise CheckFailed(
            "누구에게나(Principal '*') 조건 없이 허용하는 문장 없음",
            f"공개 허용: {public}",
            "Principal에는 소비자 사용자의 ARN을 쓰세요. '*'에 Allow를 주면 버킷이 공개됩니다.",
        )
    probe = "_bdlab_probe.json"
    for prefix in ("curated/", "raw/"):
        s3.put_object(Bucket=bucket, Key=prefix + probe, Body=b"{}", ServerSideEncryption="AES256")
    attempts = 1 if ctx.can("iam_toggle") else 5
    with _as_user(ctx, CONSUMER) as prof:
        mine = clients.client("s3", prof, retries=False)
        admin = clients.client("s3", ctx.profile, retries=False)
        results = {
            "consumer GetObject curated/": (
                _outcome(lambda: mine.get_object(Bucket=bucket, Key="curated/" + probe), attempts),
                "ok",
            ),
            "consumer GetObject raw/": (
                _outcome(lambda: mine.get_object(Bucket=bucket, Key="raw/" + probe), 1),
                "denied",
            ),
            "PutObject without encryption header": (
                _outcome(
                    lambda: admin.put_object(Bucket=bucket, Key="raw/" + probe, Body=b"{}"), 1
                ),
                "denied",
            ),
            "PutObject with ServerSideEncryption=AES256": (
                _outcome(
                    lambda: admin.put_object(
                        Bucket=bucket, Key="raw/" + probe, Body=b"{}", ServerSideEncryption="AES256"
                    ),
                    1,
                ),
                "ok",
            ),
        }
    wrong = {k: got for k, (got, want) in results.items() if got != want}
    if wrong:
        raise CheckFailed(
            "소비자: curated/ 읽기 ok, raw/ denied / 암호화 헤더 없는 업로드 denied",
            f"다른 결과: {wrong}",
            "소비자 Allow 문장의 Resource는 '버킷/curated/*', 거부 문장은 Principal '*'에 "
            "StringNotEquals s3:x-amz-server-side-encryption 조건을 쓰세요.",
        )

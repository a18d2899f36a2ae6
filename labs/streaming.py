"""Given code the part-2 Firehose labs share: the IAM role Firehose assumes, waiting for a
delivery stream's buffers to reach S3 on any profile, and deleting a lab's delivery stream.

On the embedded emulator a lab flushes its own delivery stream (capability
``firehose_flush``) instead of moving the shared clock, so no other lab's data ages. Where
that is not offered (real AWS, or an emulator standing in for it) the lab waits for the
buffer interval as AWS runs it, polling S3.
"""

from __future__ import annotations

import json
import time
from typing import Any

from labs.harness import LabContext
from sim import s3util

TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "firehose.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def firehose_role(ctx: LabContext, name: str, bucket: str) -> str:
    """Create (or reuse) the role a delivery stream assumes: write to ``bucket``, read Kinesis,
    invoke Lambda, read Glue tables. Returns its ARN.
    https://docs.aws.amazon.com/firehose/latest/dev/controlling-access.html"""
    iam = ctx.client("iam")
    try:
        arn = str(
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST))["Role"][
                "Arn"
            ]
        )
    except iam.exceptions.EntityAlreadyExistsException:
        arn = str(iam.get_role(RoleName=name)["Role"]["Arn"])
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": [
                    "s3:AbortMultipartUpload",
                    "s3:GetBucketLocation",
                    "s3:GetObject",
                    "s3:ListBucket",
                    "s3:ListBucketMultipartUploads",
                    "s3:PutObject",
                ],
                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
            },
            {
                "Effect": "Allow",
                "Action": [
                    "kinesis:DescribeStream",
                    "kinesis:GetShardIterator",
                    "kinesis:GetRecords",
                    "kinesis:ListShards",
                    "lambda:InvokeFunction",
                    "lambda:GetFunctionConfiguration",
                    "glue:GetTable",
                    "glue:GetTableVersion",
                    "glue:GetTableVersions",
                ],
                "Resource": "*",
            },
        ],
    }
    iam.put_role_policy(RoleName=name, PolicyName="delivery", PolicyDocument=json.dumps(policy))
    return arn


def delete_role(ctx: LabContext, name: str) -> bool:
    """Delete the role made by :func:`firehose_role` (False if there was none)."""
    iam = ctx.client("iam")
    try:
        for p in iam.list_role_policies(RoleName=name)["PolicyNames"]:
            iam.delete_role_policy(RoleName=name, PolicyName=p)
        iam.delete_role(RoleName=name)
        return True
    except iam.exceptions.NoSuchEntityException:
        return False


def delete_delivery_stream(ctx: LabContext, name: str, timeout_s: float = 60.0) -> bool:
    """Delete a delivery stream and wait until it is gone (False if there was none)."""
    fh = ctx.client("firehose")
    try:
        fh.delete_delivery_stream(DeliveryStreamName=name, AllowForceDelete=True)
    except fh.exceptions.ResourceNotFoundException:
        return False
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            fh.describe_delivery_stream(DeliveryStreamName=name)
        except fh.exceptions.ResourceNotFoundException:
            return True
        time.sleep(0.5)
    raise TimeoutError(f"delivery stream {name} still exists after {timeout_s:.0f} s")


def wait_active(ctx: LabContext, name: str, timeout_s: float = 300.0) -> None:
    """Wait until a delivery stream is ACTIVE (AWS takes a few minutes to create one)."""
    fh = ctx.client("firehose")
    deadline = time.monotonic() + timeout_s
    while True:
        desc = fh.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"]
        status = desc["DeliveryStreamStatus"]
        if status == "ACTIVE":
            return
        if status.endswith("FAILED") or time.monotonic() > deadline:
            raise RuntimeError(f"delivery stream {name} is {status}")
        time.sleep(2)


def deliver(
    ctx: LabContext, stream: str, bucket: str, interval_s: float, poll_s: float = 2.0
) -> list[str]:
    """Wait until what ``stream`` has received so far is in ``bucket``; returns the keys.

    On the emulator: flush that delivery stream now (the clock does not move). Elsewhere: wait
    as AWS runs it, until the bucket's listing has objects and has not changed for two polls
    after the buffer interval, at most ``interval_s`` * 2 + 180 s (TimeoutError after that)."""
    s3 = ctx.client("s3")
    if ctx.can("firehose_flush"):
        done = ctx.admin("firehose_flush").flush_firehose(stream)
        if done["Pending"]:
            raise TimeoutError(
                f"{done['Pending']} records of {stream} are not in S3 yet: is S3 failing? "
                "(`bdlab faults` shows injected faults)"
            )
        return [o["Key"] for o in s3util.list_objects(s3, bucket)]
    start = time.monotonic()
    deadline = start + interval_s * 2 + 180
    seen: list[str] | None = None
    stable = 0
    while time.monotonic() < deadline:
        keys = sorted(o["Key"] for o in s3util.list_objects(s3, bucket))
        stable = stable + 1 if keys and keys == seen else 0
        seen = keys
        if stable >= 2 and time.monotonic() - start >= min(interval_s, 5):
            return keys
        time.sleep(poll_s)
    raise TimeoutError(f"nothing settled in s3://{bucket}/ within {deadline - start:.0f} s")


def records_of(body: bytes) -> list[dict[str, Any]]:
    """The JSON documents of a delivered object (one per line, as the labs write them)."""
    return [json.loads(line) for line in body.splitlines() if line.strip()]

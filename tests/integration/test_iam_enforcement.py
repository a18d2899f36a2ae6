"""Opt-in IAM enforcement: an IAM user's identity policies decide, with AWS's error shapes."""

from __future__ import annotations

import dataclasses
import json
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sim import clients

pytestmark = pytest.mark.integration


def set_enforce(profile: Any, on: bool) -> dict[str, Any]:
    req = urllib.request.Request(
        profile.endpoint_url + "/_bdlab/iam",
        method="POST",
        data=json.dumps({"enforce": on}).encode(),
    )
    return dict(json.loads(urllib.request.urlopen(req).read()))


@pytest.fixture()
def enforced(profile: Any) -> Iterator[None]:
    assert set_enforce(profile, True) == {"enforce": True}
    yield
    set_enforce(profile, False)


def as_user(profile: Any, key: dict[str, str]) -> Any:
    return dataclasses.replace(
        profile, access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"]
    )


def test_identity_policies_decide(
    profile: Any,
    aws: Callable[[str], Any],
    bucket: str,
    unique: Callable[[str], str],
    enforced: None,
) -> None:
    iam, kin, s3 = aws("iam"), aws("kinesis"), aws("s3")
    stream = unique("clicks")
    kin.create_stream(StreamName=stream, ShardCount=1)  # admin credentials: allowed
    account = aws("sts").get_caller_identity()["Account"]
    user = unique("producer")
    iam.create_user(UserName=user)
    iam.put_user_policy(
        UserName=user,
        PolicyName="produce",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": ["kinesis:PutRecord", "kinesis:PutRecords"],
                        "Resource": f"arn:aws:kinesis:us-east-1:{account}:stream/{stream}",
                    },
                    {
                        "Effect": "Allow",
                        "Action": "s3:GetObject",
                        "Resource": f"arn:aws:s3:::{bucket}/in/*",
                    },
                    {
                        "Effect": "Deny",
                        "Action": "s3:GetObject",
                        "Resource": f"arn:aws:s3:::{bucket}/in/secret*",
                    },
                ],
            }
        ),
    )
    key = iam.create_access_key(UserName=user)["AccessKey"]
    s3.put_object(Bucket=bucket, Key="in/a.json", Body=b"{}")
    s3.put_object(Bucket=bucket, Key="in/secret.json", Body=b"{}")
    me = as_user(profile, key)
    ukin, us3 = (
        clients.client("kinesis", me, retries=False),
        clients.client("s3", me, retries=False),
    )
    ukin.put_record(StreamName=stream, Data=b"x", PartitionKey="k")  # allowed
    with pytest.raises(ClientError) as e:
        ukin.delete_stream(StreamName=stream)
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"
    assert (
        f"user/{user} is not authorized to perform: kinesis:DeleteStream"
        in e.value.response["Error"]["Message"]
    )
    assert us3.get_object(Bucket=bucket, Key="in/a.json")["Body"].read() == b"{}"
    for op in (
        lambda: us3.get_object(Bucket=bucket, Key="in/secret.json"),  # explicit deny
        lambda: us3.put_object(Bucket=bucket, Key="in/b.json", Body=b"{}"),
    ):  # no allow
        with pytest.raises(ClientError) as e:
            op()
        assert e.value.response["Error"]["Code"] == "AccessDenied"
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert clients.client("sts", me).get_caller_identity()["Arn"].endswith(f"user/{user}")
    set_enforce(profile, False)
    us3.put_object(Bucket=bucket, Key="in/b.json", Body=b"{}")  # enforcement off: allowed again

"""S3 event notifications to SQS and SNS (issue 12 §5): configuration validated as S3 does,
the test event, events on put, post, copy, multipart completion, delete (with delete markers)
and the lifecycle, filter rules, and the message shape of event structure 2.1."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sim import clients, profiles

pytestmark = pytest.mark.integration


def queue(sqs: Any, name: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return url, arn


def drain(sqs: Any, url: str, want: int) -> list[dict[str, Any]]:
    """Up to ``want`` messages' bodies (parsed), waiting briefly for background deliveries."""
    out: list[dict[str, Any]] = []
    for _ in range(10):
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for m in got.get("Messages", []):
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        if len(out) >= want:
            break
    return out


def test_events_reach_a_queue_with_filters(
    aws: Callable[[str], Any], bucket: str, unique: Callable[[str], str]
) -> None:
    s3, sqs = aws("s3"), aws("sqs")
    url, arn = queue(sqs, unique("events"))
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "Id": "raw-created",
                    "QueueArn": arn,
                    "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"],
                    "Filter": {
                        "Key": {
                            "FilterRules": [
                                {"Name": "prefix", "Value": "raw/"},
                                {"Name": "suffix", "Value": ".json"},
                            ]
                        }
                    },
                }
            ]
        },
    )
    (test,) = drain(sqs, url, 1)
    assert test["Event"] == "s3:TestEvent" and test["Bucket"] == bucket
    got = s3.get_bucket_notification_configuration(Bucket=bucket)["QueueConfigurations"]
    assert got[0]["Id"] == "raw-created" and got[0]["QueueArn"] == arn

    s3.put_object(Bucket=bucket, Key="raw/a b.json", Body=b"{}")
    s3.put_object(Bucket=bucket, Key="raw/skip.csv", Body=b"x")  # suffix filter
    s3.put_object(Bucket=bucket, Key="other/a.json", Body=b"{}")  # prefix filter
    s3.copy_object(
        Bucket=bucket, Key="raw/c.json", CopySource={"Bucket": bucket, "Key": "raw/a b.json"}
    )
    up = s3.create_multipart_upload(Bucket=bucket, Key="raw/m.json")
    part = s3.upload_part(
        Bucket=bucket, Key="raw/m.json", UploadId=up["UploadId"], PartNumber=1, Body=b"{}"
    )
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="raw/m.json",
        UploadId=up["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    s3.delete_object(Bucket=bucket, Key="raw/c.json")
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "raw/m.json"}]})
    records = [m["Records"][0] for m in drain(sqs, url, 5)]
    names = [(r["eventName"], r["s3"]["object"]["key"]) for r in records]
    assert names == [
        ("ObjectCreated:Put", "raw/a+b.json"),
        ("ObjectCreated:Copy", "raw/c.json"),
        ("ObjectCreated:CompleteMultipartUpload", "raw/m.json"),
        ("ObjectRemoved:Delete", "raw/c.json"),
        ("ObjectRemoved:Delete", "raw/m.json"),
    ]
    first = records[0]
    assert first["eventVersion"] == "2.1" and first["eventSource"] == "aws:s3"
    assert first["s3"]["configurationId"] == "raw-created"
    assert first["s3"]["bucket"]["arn"] == f"arn:aws:s3:::{bucket}"
    assert first["s3"]["object"]["size"] == 2 and first["s3"]["object"]["eTag"]
    assert first["responseElements"]["x-amz-request-id"]
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
    assert "QueueConfigurations" not in s3.get_bucket_notification_configuration(Bucket=bucket)


def test_events_through_a_topic_and_delete_markers(
    aws: Callable[[str], Any], unique: Callable[[str], str]
) -> None:
    s3, sqs, sns = aws("s3"), aws("sqs"), aws("sns")
    b = unique("ntf")
    s3.create_bucket(Bucket=b)
    s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    topic = sns.create_topic(Name=unique("s3-events"))["TopicArn"]
    url, arn = queue(sqs, unique("fanout"))
    sns.subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"}
    )
    s3.put_bucket_notification_configuration(
        Bucket=b,
        NotificationConfiguration={
            "TopicConfigurations": [
                {"TopicArn": topic, "Events": ["s3:ObjectRemoved:DeleteMarkerCreated"]}
            ]
        },
    )
    assert drain(sqs, url, 1)[0]["Event"] == "s3:TestEvent"
    s3.put_object(Bucket=b, Key="k", Body=b"x")  # not asked for
    s3.delete_object(Bucket=b, Key="k")
    (msg,) = drain(sqs, url, 1)
    rec = msg["Records"][0]
    assert rec["eventName"] == "ObjectRemoved:DeleteMarkerCreated"
    assert rec["s3"]["object"]["key"] == "k"
    for v in s3.list_object_versions(Bucket=b).get("Versions", []) + s3.list_object_versions(
        Bucket=b
    ).get("DeleteMarkers", []):
        s3.delete_object(Bucket=b, Key=v["Key"], VersionId=v["VersionId"])
    s3.delete_bucket(Bucket=b)


def test_configurations_s3_refuses(
    aws: Callable[[str], Any], bucket: str, unique: Callable[[str], str]
) -> None:
    s3, sqs = aws("s3"), aws("sqs")
    _, arn = queue(sqs, unique("q"))

    def put(cfg: dict[str, Any]) -> tuple[int, str, str]:
        with pytest.raises(ClientError) as e:
            s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=cfg)
        r = e.value.response
        return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"], r["Error"]["Message"]

    missing = arn.rsplit(":", 1)[0] + ":no-such-queue"
    status, code, message = put(
        {"QueueConfigurations": [{"QueueArn": missing, "Events": ["s3:ObjectCreated:*"]}]}
    )
    assert (status, code) == (400, "InvalidArgument")
    assert message == "Unable to validate the following destination configurations"
    status, code, _ = put(
        {"QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:Nope"]}]}
    )
    assert (status, code) == (400, "InvalidArgument")
    status, code, message = put(
        {
            "QueueConfigurations": [
                {"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]},
                {"QueueArn": arn, "Events": ["s3:ObjectCreated:Put"]},
            ]
        }
    )
    assert code == "InvalidArgument" and message.startswith("Configurations overlap.")
    status, code, message = put(
        {
            "QueueConfigurations": [
                {
                    "QueueArn": arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {
                        "Key": {
                            "FilterRules": [
                                {"Name": "prefix", "Value": "a/"},
                                {"Name": "prefix", "Value": "b/"},
                            ]
                        }
                    },
                }
            ]
        }
    )
    assert message == "Cannot specify more than one prefix rule in a filter."
    status, code, _ = put(
        {
            "LambdaFunctionConfigurations": [
                {
                    "LambdaFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:f",
                    "Events": ["s3:ObjectCreated:*"],
                }
            ]
        }
    )
    assert (status, code) == (501, "NotImplemented")


def test_lifecycle_expiration_is_notified(
    private_profile: profiles.Profile, unique: Callable[[str], str]
) -> None:
    s3, sqs = clients.client("s3", private_profile), clients.client("sqs", private_profile)
    b = unique("lce")
    s3.create_bucket(Bucket=b)
    url, arn = queue(sqs, unique("lc"))
    s3.put_bucket_notification_configuration(
        Bucket=b,
        NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:LifecycleExpiration:*"]}]
        },
    )
    s3.put_object(Bucket=b, Key="tmp/x", Body=b"x")
    s3.put_bucket_lifecycle_configuration(
        Bucket=b,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "t",
                    "Status": "Enabled",
                    "Filter": {"Prefix": "tmp/"},
                    "Expiration": {"Days": 1},
                }
            ]
        },
    )
    req = urllib.request.Request(
        private_profile.endpoint_url + "/_bdlab/lifecycle",
        data=json.dumps({"bucket": b, "ahead_days": 2}).encode(),
        method="POST",
    )
    urllib.request.urlopen(req).read()
    msgs = drain(sqs, url, 2)
    rec = [m for m in msgs if "Records" in m][0]["Records"][0]
    assert rec["eventName"] == "LifecycleExpiration:Delete"
    assert rec["userIdentity"]["principalId"] == "s3.amazonaws.com"

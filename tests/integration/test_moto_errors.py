"""Services moto serves behind the gateway never answer a bare 500 for what they do not
implement or for bad input (issue 12 §6): 501 NotImplemented or the service's own 400, in the
service's protocol, with nothing retried by botocore."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sim import clients

pytestmark = pytest.mark.integration


def error(call: Callable[[], Any]) -> tuple[int, str, str, int]:
    with pytest.raises(ClientError) as e:
        call()
    r = e.value.response
    return (
        r["ResponseMetadata"]["HTTPStatusCode"],
        r["Error"]["Code"],
        r["Error"].get("Message", ""),
        r["ResponseMetadata"].get("RetryAttempts", 0),
    )


@pytest.fixture()
def c(profile: Any) -> Callable[[str], Any]:
    return lambda service: clients.client(service, profile)  # botocore's own retries on


def test_operations_moto_lacks_are_501_in_each_protocol(c: Callable[[str], Any]) -> None:
    arn = "arn:aws:sqs:us-east-1:123456789012:nope"
    cases = {
        "sqs StartMessageMoveTask (JSON)": lambda: c("sqs").start_message_move_task(SourceArn=arn),
        "glue CreateGlossary (JSON)": lambda: c("glue").create_glossary(Name="g"),
        "sns GetSMSSandboxAccountStatus (query)": lambda: c("sns").get_sms_sandbox_account_status(),
        "sts DecodeAuthorizationMessage (query)": lambda: c("sts").decode_authorization_message(
            EncodedMessage="x"
        ),
    }
    for name, call in cases.items():
        status, code, message, retries = error(call)
        assert (status, code, retries) == (501, "NotImplemented", 0), (name, message)
        op = name.split()[1]
        assert f":{op} is not implemented by bdlab" in message and "docs/emulator.md" in message


def test_a_rest_json_service_gets_its_501_as_json(c: Callable[[str], Any]) -> None:
    """QuickSight (REST-JSON: no X-Amz-Target) is not emulated as an API (the BI dashboard
    stands in for it): the SDK reads NotImplemented from a JSON error, not a bare 501."""
    status, code, message, retries = error(
        lambda: c("quicksight").list_data_sets(AwsAccountId="123456789012")
    )
    assert (status, code, retries) == (501, "NotImplemented", 0), message
    assert "quicksight:" in message and "not implemented by bdlab" in message


def test_bad_values_moto_chokes_on_are_the_services_400(
    c: Callable[[str], Any], unique: Callable[[str], str]
) -> None:
    status, code, message, retries = error(
        lambda: c("sqs").create_queue(QueueName=unique("q"), Attributes={"DelaySeconds": "abc"})
    )
    assert (status, code, retries) == (400, "InvalidParameterValue", 0)
    assert "CreateQueue" in message and "'abc'" in message


def test_inputs_named_in_the_issue(c: Callable[[str], Any], unique: Callable[[str], str]) -> None:
    """An SNS topic ARN that does not parse, a FilterPolicy that is not JSON, an on-demand
    stream without ShardCount (AWS: created, on-demand needs none)."""
    sns = c("sns")
    status, code, _, _ = error(lambda: sns.publish(TopicArn="not-an-arn", Message="x"))
    assert (status, code) == (400, "InvalidParameter")
    topic = sns.create_topic(Name=unique("t"))["TopicArn"]
    status, code, message, _ = error(
        lambda: sns.subscribe(
            TopicArn=topic,
            Protocol="sqs",
            Endpoint="arn:aws:sqs:us-east-1:123456789012:q",
            Attributes={"FilterPolicy": "{nope"},
        )
    )
    assert (status, code) == (400, "InvalidParameter") and "FilterPolicy" in message
    kin = c("kinesis")
    name = unique("od")
    kin.create_stream(StreamName=name, StreamModeDetails={"StreamMode": "ON_DEMAND"})
    mode = kin.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    assert mode["StreamModeDetails"]["StreamMode"] == "ON_DEMAND"
    kin.delete_stream(StreamName=name)


def test_sns_to_sqs_with_and_without_raw_delivery_and_attributes(
    c: Callable[[str], Any], unique: Callable[[str], str]
) -> None:
    """Alarms notify through SNS -> SQS: both deliveries, with String and Binary attributes
    (moto's MD5 of attributes crashed on raw delivery before)."""
    import json

    sns, sqs = c("sns"), c("sqs")
    topic = sns.create_topic(Name=unique("t"))["TopicArn"]
    queues = {}
    for raw in ("true", "false"):
        url = sqs.create_queue(QueueName=unique(f"q{raw}"))["QueueUrl"]
        qarn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(
            TopicArn=topic,
            Protocol="sqs",
            Endpoint=qarn,
            Attributes={"RawMessageDelivery": raw},
        )
        queues[raw] = url
    attrs = {
        "kind": {"DataType": "String", "StringValue": "alarm"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
    }
    sns.publish(TopicArn=topic, Message="disk full", MessageAttributes=attrs)
    (raw_msg,) = sqs.receive_message(
        QueueUrl=queues["true"], MessageAttributeNames=["All"], WaitTimeSeconds=1
    )["Messages"]
    assert raw_msg["Body"] == "disk full"
    assert raw_msg["MessageAttributes"]["kind"]["StringValue"] == "alarm"
    assert raw_msg["MessageAttributes"]["blob"]["BinaryValue"] == b"\x00\x01"
    (wrapped,) = sqs.receive_message(QueueUrl=queues["false"], WaitTimeSeconds=1)["Messages"]
    envelope = json.loads(wrapped["Body"])
    assert envelope["Type"] == "Notification" and envelope["Message"] == "disk full"
    assert envelope["MessageAttributes"]["kind"] == {"Type": "String", "Value": "alarm"}

"""SNS validations AWS makes and moto skipped (issue 15 intro, issue 12 section 6), over HTTP with
real boto3; each expected code and message is AWS's answer for that input (SNS API reference;
the wording as AWS returns it). Raw requests check the error body's shape.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError

from sim import clients, profiles

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sns(profile: profiles.Profile) -> Any:
    return clients.client("sns", profile, retries=False)


@pytest.fixture()
def topic(sns: Any) -> str:
    return str(sns.create_topic(Name=f"val-{uuid.uuid4().hex[:10]}")["TopicArn"])


@pytest.fixture()
def fifo_topic(sns: Any) -> str:
    name = f"val-{uuid.uuid4().hex[:10]}.fifo"
    return str(sns.create_topic(Name=name, Attributes={"FifoTopic": "true"})["TopicArn"])


def fails(call: Callable[..., Any], code: str, message: str, status: int = 400, **kw: Any) -> None:
    """``call(**kw)`` answers AWS's error: code, HTTP status and message (exact, or a prefix
    when ``message`` ends with '...')."""
    with pytest.raises(ClientError) as exc:
        call(**kw)
    err = exc.value.response["Error"]
    assert err["Code"] == code, err
    if message.endswith("..."):
        assert err["Message"].startswith(message[:-3]), err
    else:
        assert err["Message"] == message, err
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == status


TOPIC_NAME = "Invalid parameter: Topic Name"


# ---------------------------------------------------------------------------- CreateTopic
@pytest.mark.parametrize(
    ("name", "attrs"),
    [
        ("a" * 257, {}),
        ("bad:name", {}),
        ("bad name", {}),
        ("bad!name", {}),
        ("standard.fifo", {}),
        ("fifo-without-suffix", {"FifoTopic": "true"}),
    ],
)
def test_create_topic_name_rules(sns: Any, name: str, attrs: dict[str, str]) -> None:
    fails(sns.create_topic, "InvalidParameter", TOPIC_NAME, Name=name, Attributes=attrs)


def test_create_topic_longest_name_and_fifo_name_are_valid(sns: Any) -> None:
    arn = sns.create_topic(Name="a" * 256)["TopicArn"]
    assert arn.endswith(":" + "a" * 256)
    sns.delete_topic(TopicArn=arn)
    arn = sns.create_topic(Name="ok-name.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    sns.delete_topic(TopicArn=arn)


def test_create_topic_policy_not_json(sns: Any) -> None:
    fails(
        sns.create_topic,
        "InvalidParameter",
        "Invalid parameter: Attributes Reason: Policy: failed to parse JSON....",
        Name="policy-not-json",
        Attributes={"Policy": "{not json"},
    )


def test_set_topic_attributes_unknown_name(sns: Any, topic: str) -> None:
    fails(
        sns.set_topic_attributes,
        "InvalidParameter",
        "Invalid parameter: AttributeName",
        TopicArn=topic,
        AttributeName="Bogus",
        AttributeValue="x",
    )


def test_set_topic_attributes_delivery_policy_not_json(sns: Any, topic: str) -> None:
    fails(
        sns.set_topic_attributes,
        "InvalidParameter",
        "Invalid parameter: DeliveryPolicy: failed to parse JSON....",
        TopicArn=topic,
        AttributeName="DeliveryPolicy",
        AttributeValue="{not json",
    )


# ---------------------------------------------------------------------------- ARNs
@pytest.mark.parametrize(("arn", "n"), [("randomstring", 1), ("randomstring:1", 2)])
def test_publish_arn_that_does_not_parse(sns: Any, arn: str, n: int) -> None:
    fails(
        sns.publish,
        "InvalidParameter",
        f"Invalid parameter: TopicArn Reason: An ARN must have at least 6 elements, not {n}",
        TopicArn=arn,
        Message="x",
    )


def test_get_topic_attributes_arn_that_does_not_parse_is_not_a_500(sns: Any) -> None:
    fails(
        sns.get_topic_attributes,
        "InvalidParameter",
        "Invalid parameter: TopicArn Reason: An ARN must have at least 6 elements, not 1",
        TopicArn="nope",
    )


def test_subscribe_arn_that_does_not_parse_is_not_a_500(sns: Any) -> None:
    fails(
        sns.subscribe,
        "InvalidParameter",
        "Invalid parameter: TopicArn Reason: An ARN must have at least 6 elements, not 5",
        TopicArn="arn:aws:sns:us-east-1:random",
        Protocol="email",
        Endpoint="someone@example.com",
    )


def test_unsubscribe_arn_that_does_not_parse(sns: Any) -> None:
    fails(
        sns.unsubscribe,
        "InvalidParameter",
        "Invalid parameter: SubscriptionArn Reason: An ARN must have at least 6 elements, not 1",
        SubscriptionArn="nope",
    )


def test_publish_to_missing_topic_is_not_found(sns: Any, topic: str) -> None:
    fails(sns.publish, "NotFound", "Topic does not exist", 404, TopicArn=topic + "x", Message="m")


def test_publish_to_topic_of_another_region(profile: profiles.Profile, topic: str) -> None:
    other = clients.client("sns", profile, retries=False, region="eu-west-1")
    fails(
        other.publish,
        "InvalidParameter",
        "Invalid parameter: TopicArn",
        TopicArn=topic,
        Message="m",
    )


# ---------------------------------------------------------------------------- Publish
def test_publish_empty_message(sns: Any, topic: str) -> None:
    fails(
        sns.publish,
        "InvalidParameter",
        "Invalid parameter: Empty message",
        TopicArn=topic,
        Message="",
    )


def test_publish_message_too_long(sns: Any, topic: str) -> None:
    fails(
        sns.publish,
        "InvalidParameter",
        "Invalid parameter: Message too long",
        TopicArn=topic,
        Message="a" * 262_145,
    )


def test_publish_message_with_attributes_over_256_kib(sns: Any, topic: str) -> None:
    attrs = {"attr1": {"DataType": "Number", "StringValue": "1"}}
    counted = len("attr1") + len("Number") + len("1")
    body = "a" * (262_144 - counted + 1)
    fails(
        sns.publish,
        "InvalidParameter",
        "Invalid parameter: Message too long",
        TopicArn=topic,
        Message=body,
        MessageAttributes=attrs,
    )
    assert sns.publish(TopicArn=topic, Message=body[:-1], MessageAttributes=attrs)["MessageId"]


@pytest.mark.parametrize("subject", ["", "s" * 100, "line\nbreak", " leading blank", "caf\u00e9"])
def test_publish_subject_rules(sns: Any, topic: str, subject: str) -> None:
    fails(
        sns.publish,
        "InvalidParameter",
        "Invalid parameter: Subject",
        TopicArn=topic,
        Message="m",
        Subject=subject,
    )


def test_publish_message_structure_json(sns: Any, topic: str) -> None:
    fails(
        sns.publish,
        "InvalidParameter",
        "Invalid parameter: Message Structure - No default entry in JSON message body",
        TopicArn=topic,
        Message=json.dumps({"sqs": "only"}),
        MessageStructure="json",
    )
    fails(
        sns.publish,
        "InvalidParameter",
        "Invalid parameter: Message Structure - JSON message body failed to parse",
        TopicArn=topic,
        Message='{"default": "x"} }',
        MessageStructure="json",
    )
    fails(
        sns.publish,
        "InvalidParameter",
        "Invalid parameter: Message Structure - No default entry in JSON message body",
        TopicArn=topic,
        Message=json.dumps({"default": {"object": "x"}}),
        MessageStructure="json",
    )


def test_publish_topic_and_phone_number_together(sns: Any, topic: str) -> None:
    fails(
        sns.publish,
        "InvalidParameter",
        "Invalid parameter: TopicArn or TargetArn Reason: Only one of TopicArn, TargetArn or "
        "PhoneNumber may be specified",
        TopicArn=topic,
        PhoneNumber="+15551234567",
        Message="m",
    )


def test_publish_bad_phone_number(sns: Any) -> None:
    fails(
        sns.publish,
        "InvalidParameter",
        "Invalid parameter: PhoneNumber Reason: +1a234 is not valid to publish to",
        PhoneNumber="+1a234",
        Message="m",
    )


PVI = "ParameterValueInvalid"


@pytest.mark.parametrize(
    ("attrs", "message"),
    [
        (
            {"attr1": {"DataType": "String", "StringValue": ""}},
            "The message attribute 'attr1' must contain non-empty message attribute value for "
            "message attribute type 'String'.",
        ),
        (
            {"attr1": {"DataType": "String", "BinaryValue": b"x"}},
            "The message attribute 'attr1' with type 'String' must use field 'String'.",
        ),
        (
            {"attr1": {"DataType": "Number", "BinaryValue": b"1"}},
            "The message attribute 'attr1' with type 'Number' must use field 'String'.",
        ),
        (
            {"attr1": {"DataType": "Binary", "StringValue": "x"}},
            "The message attribute 'attr1' with type 'Binary' must use field 'Binary'.",
        ),
        (
            {"attr1": {"DataType": "Other", "StringValue": "x"}},
            "The message attribute 'attr1' has an invalid message attribute type, the set of "
            "supported type prefixes is Binary, Number, and String.",
        ),
        (
            {"a" * 256: {"DataType": "String", "StringValue": "x"}},
            "Length of message attribute name must be less than 256 bytes.",
        ),
        (
            {"bad^name": {"DataType": "String", "StringValue": "x"}},
            "Invalid non-alphanumeric character '#x5E' was found in the message attribute "
            "name. Can only include alphanumeric characters, hyphens, underscores, or dots.",
        ),
        (
            {".name": {"DataType": "String", "StringValue": "x"}},
            "Invalid message attribute name starting with character '.' was found.",
        ),
        (
            {"name.": {"DataType": "String", "StringValue": "x"}},
            "Invalid message attribute name ending with character '.' was found.",
        ),
        (
            {"na..me": {"DataType": "String", "StringValue": "x"}},
            "Message attribute name can not have successive '.' character.",
        ),
    ],
)
def test_publish_message_attribute_rules(
    sns: Any, topic: str, attrs: dict[str, Any], message: str
) -> None:
    fails(sns.publish, PVI, message, TopicArn=topic, Message="m", MessageAttributes=attrs)


def test_publish_fifo_rules(sns: Any, topic: str, fifo_topic: str) -> None:
    fails(
        sns.publish,
        "InvalidParameter",
        "Invalid parameter: The MessageGroupId parameter is required for FIFO topics",
        TopicArn=fifo_topic,
        Message="m",
    )
    fails(
        sns.publish,
        "InvalidParameter",
        "Invalid parameter: The topic should either have ContentBasedDeduplication enabled or "
        "MessageDeduplicationId provided explicitly",
        TopicArn=fifo_topic,
        Message="m",
        MessageGroupId="g",
    )
    fails(
        sns.publish,
        "InvalidParameter",
        "Invalid parameter: MessageDeduplicationId Reason: The request includes "
        "MessageDeduplicationId parameter that is not valid for this topic type",
        TopicArn=topic,
        Message="m",
        MessageDeduplicationId="d",
    )
    ok = sns.publish(
        TopicArn=fifo_topic, Message="m", MessageGroupId="g", MessageDeduplicationId="d"
    )
    assert ok["MessageId"]


# ---------------------------------------------------------------------------- PublishBatch
def test_publish_batch_rules(sns: Any, topic: str) -> None:
    def entries(n: int, **extra: Any) -> list[dict[str, Any]]:
        return [{"Id": f"id{i}", "Message": "m", **extra} for i in range(n)]

    fails(
        sns.publish_batch,
        "TooManyEntriesInBatchRequest",
        "The batch request contains more entries than permissible.",
        TopicArn=topic,
        PublishBatchRequestEntries=entries(11),
    )
    fails(
        sns.publish_batch,
        "BatchEntryIdsNotDistinct",
        "Two or more batch entries in the request have the same Id.",
        TopicArn=topic,
        PublishBatchRequestEntries=[{"Id": "1", "Message": "a"}, {"Id": "1", "Message": "b"}],
    )
    fails(
        sns.publish_batch,
        "InvalidBatchEntryId",
        "The Id of a batch entry in the batch request contains an impermissible character: "
        "message.id",
        TopicArn=topic,
        PublishBatchRequestEntries=[{"Id": "message.id", "Message": "a"}],
    )
    fails(
        sns.publish_batch,
        "BatchRequestTooLong",
        "The length of all the messages put together is more than the limit.",
        TopicArn=topic,
        PublishBatchRequestEntries=[
            {"Id": "1", "Message": "a" * 131_072},
            {"Id": "2", "Message": "a" * 131_073},
        ],
    )
    fails(
        sns.publish_batch,
        PVI,
        "The message attribute 'attr1' must contain non-empty message attribute value for "
        "message attribute type 'Binary'.",
        TopicArn=topic,
        PublishBatchRequestEntries=[
            {
                "Id": "1",
                "Message": "a",
                "MessageAttributes": {"attr1": {"DataType": "Binary", "BinaryValue": b""}},
            }
        ],
    )


# ---------------------------------------------------------------------------- Subscribe
def test_subscribe_unknown_protocol(sns: Any, topic: str) -> None:
    fails(
        sns.subscribe,
        "InvalidParameter",
        "Invalid parameter: Amazon SNS does not support this protocol string: test-protocol",
        TopicArn=topic,
        Protocol="test-protocol",
        Endpoint="x",
    )


@pytest.mark.parametrize(
    ("protocol", "endpoint", "message"),
    [
        (
            "http",
            "https://127.0.0.1/x",
            "Invalid parameter: Endpoint must match the specified protocol",
        ),
        (
            "https",
            "ftp://127.0.0.1/x",
            "Invalid parameter: Endpoint must match the specified protocol",
        ),
        ("email", "no-at-sign", "Invalid parameter: Email address"),
        ("sqs", "http://127.0.0.1:4566/000000000000/q", "Invalid parameter: SQS endpoint ARN"),
        ("lambda", "my-function", "Invalid parameter: Lambda endpoint ARN"),
        ("sms", "+15--551234567x", "Invalid SMS endpoint: +15--551234567x"),
    ],
)
def test_subscribe_endpoint_must_fit_protocol(
    sns: Any, topic: str, protocol: str, endpoint: str, message: str
) -> None:
    fails(
        sns.subscribe,
        "InvalidParameter",
        message,
        TopicArn=topic,
        Protocol=protocol,
        Endpoint=endpoint,
    )


def test_subscribe_raw_message_delivery_value(sns: Any, topic: str) -> None:
    fails(
        sns.subscribe,
        "InvalidParameter",
        "Invalid parameter: Attributes Reason: RawMessageDelivery: Invalid value [wrongvalue]. "
        "Must be true or false.",
        TopicArn=topic,
        Protocol="sqs",
        Endpoint="arn:aws:sqs:us-east-1:123456789012:q",
        Attributes={"RawMessageDelivery": "wrongvalue"},
    )


def test_subscribe_fifo_queue_to_standard_topic(sns: Any, topic: str) -> None:
    fails(
        sns.subscribe,
        "InvalidParameter",
        "Invalid parameter: Invalid parameter: Endpoint Reason: FIFO SQS Queues can not be "
        "subscribed to standard SNS topics",
        TopicArn=topic,
        Protocol="sqs",
        Endpoint="arn:aws:sqs:us-east-1:123456789012:q.fifo",
    )


def test_subscribe_to_missing_topic(sns: Any, topic: str) -> None:
    fails(
        sns.subscribe,
        "NotFound",
        "Topic does not exist",
        404,
        TopicArn=topic + "aaa",
        Protocol="email",
        Endpoint="someone@example.com",
    )


# ---------------------------------------------------------------------------- SetSubscriptionAttributes
@pytest.fixture()
def subscription(sns: Any, topic: str) -> str:
    return str(
        sns.subscribe(
            TopicArn=topic,
            Protocol="sqs",
            Endpoint="arn:aws:sqs:us-east-1:123456789012:q",
            ReturnSubscriptionArn=True,
        )["SubscriptionArn"]
    )


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("FakeAttribute", "x", "Invalid parameter: AttributeName"),
        (
            "RawMessageDelivery",
            "test-ValUe",
            "Invalid parameter: RawMessageDelivery: Invalid value [test-ValUe]. Must be true or "
            "false.",
        ),
        (
            "RedrivePolicy",
            json.dumps({"deadLetterTargetArn": "fake-arn"}),
            "Invalid parameter: RedrivePolicy: deadLetterTargetArn is an invalid arn",
        ),
        (
            "RedrivePolicy",
            "{invalid json",
            "Invalid parameter: RedrivePolicy: failed to parse JSON....",
        ),
        (
            "FilterPolicy",
            "{invalid json",
            "Invalid parameter: FilterPolicy: failed to parse JSON....",
        ),
    ],
)
def test_set_subscription_attributes_rules(
    sns: Any, subscription: str, name: str, value: str, message: str
) -> None:
    fails(
        sns.set_subscription_attributes,
        "InvalidParameter",
        message,
        SubscriptionArn=subscription,
        AttributeName=name,
        AttributeValue=value,
    )


# ---------------------------------------------------------------------------- error shape
def _raw(cfg: Any, **params: str) -> requests.Response:
    """An unsigned-looking query call, as the wire carries it (the gateway takes any key)."""
    headers = {
        "Authorization": "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/sns/aws4_request, "
        "SignedHeaders=host, Signature=0",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    return requests.post(
        f"http://127.0.0.1:{cfg.port}/",
        data={"Version": "2010-03-31", **params},
        headers=headers,
        timeout=10,
    )


@pytest.mark.parametrize(
    "params",
    [
        {"Action": "GetTopicAttributes", "TopicArn": "arn:aws:sns:us-east-1:123456789012:none"},
        {"Action": "CreateTopic", "Name": "bad name"},
        {"Action": "Publish", "TopicArn": "nope", "Message": "m"},
    ],
)
def test_error_body_is_aws_query_shape(cfg: Any, params: dict[str, str]) -> None:
    r = _raw(cfg, **params)
    assert r.status_code in (400, 404)
    text = r.text
    assert '<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">' in text
    assert "<Error><Type>Sender</Type><Code>" in text
    assert "<Message>" in text and "<message>" not in text  # moto's lower-case twin is gone
    rid = r.headers["x-amzn-requestid"]
    assert f"<RequestId>{rid}</RequestId></ErrorResponse>" in text


def test_binary_attribute_counts_decoded_bytes(sns: Any, topic: str) -> None:
    # BinaryValue travels base64-encoded; its size is the decoded bytes
    value = b"\x00" * 10
    attrs = {"b": {"DataType": "Binary", "BinaryValue": value}}
    body = "a" * (262_144 - len("b") - len("Binary") - len(value))
    assert sns.publish(TopicArn=topic, Message=body, MessageAttributes=attrs)["MessageId"]
    assert base64.b64encode(value)

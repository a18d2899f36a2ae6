"""SNS input rules AWS enforces and moto does not, checked at bdlab's SNS boundary before moto
sees the call, with the code, message and status AWS answers.

Sources: the SNS API reference (CreateTopic, Publish, PublishBatch, Subscribe,
SetSubscriptionAttributes, SetTopicAttributes: https://docs.aws.amazon.com/sns/latest/api/) for
the rules; the messages are the ones AWS returns for them (recorded against AWS by public
AWS-validated test suites). Messages whose AWS wording is not known follow the same
``Invalid parameter: <Name>`` form and are listed as deviations in docs/emulator.md.

:func:`check` takes the query parameters as sent (``Attributes.entry.N.key``,
``MessageAttributes.entry.N.Name``, ``PublishBatchRequestEntries.member.N.Id`` ...) and a
:class:`Lookup` into moto's state; it raises :class:`AwsError` or returns None.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import Any, Protocol

from sim.emulator.protocol import AwsError

MAX_MESSAGE_BYTES = 262_144  # 256 KiB, message plus attribute names, types and values
MAX_BATCH_ENTRIES = 10
MAX_SUBJECT_CHARS = 99  # "must be less than 100 characters long"
_TOPIC_NAME = re.compile(r"[A-Za-z0-9_-]{1,256}")
_BATCH_ID = re.compile(r"[A-Za-z0-9_-]+")
_ATTR_NAME = re.compile(r"[A-Za-z0-9_.-]")
_E164 = re.compile(r"\+?[0-9]{1,15}")
PROTOCOLS = (
    "http",
    "https",
    "email",
    "email-json",
    "sms",
    "sqs",
    "application",
    "lambda",
    "firehose",
)
TOPIC_ATTRIBUTES = {
    "DeliveryPolicy",
    "DisplayName",
    "FifoTopic",
    "Policy",
    "SignatureVersion",
    "TracingConfig",
    "KmsMasterKeyId",
    "ContentBasedDeduplication",
    "ArchivePolicy",
    "FifoThroughputScope",
    "DataProtectionPolicy",
} | {
    f"{p}{kind}"
    for p in ("HTTP", "Firehose", "Lambda", "Application", "SQS")
    for kind in ("SuccessFeedbackRoleArn", "SuccessFeedbackSampleRate", "FailureFeedbackRoleArn")
}
SUBSCRIPTION_ATTRIBUTES = {
    "DeliveryPolicy",
    "FilterPolicy",
    "FilterPolicyScope",
    "RawMessageDelivery",
    "RedrivePolicy",
    "SubscriptionRoleArn",
    "ReplayPolicy",
}
# Operations whose ARN parameter must be an ARN (AWS parses it before anything else).
_ARN_PARAMS = {
    "Publish": ("TopicArn", "TargetArn"),
    "PublishBatch": ("TopicArn",),
    "Subscribe": ("TopicArn",),
    "GetTopicAttributes": ("TopicArn",),
    "SetTopicAttributes": ("TopicArn",),
    "DeleteTopic": ("TopicArn",),
    "ListSubscriptionsByTopic": ("TopicArn",),
    "ConfirmSubscription": ("TopicArn",),
    "Unsubscribe": ("SubscriptionArn",),
    "GetSubscriptionAttributes": ("SubscriptionArn",),
    "SetSubscriptionAttributes": ("SubscriptionArn",),
}


class Lookup(Protocol):
    """Read access to moto's SNS state for one account and region."""

    def topic(self, arn: str) -> Any | None: ...

    def endpoint_exists(self, arn: str) -> bool: ...


@dataclass
class _Attr:
    name: str
    data_type: str | None
    string: str | None
    binary: str | None


def invalid(message: str) -> AwsError:
    return AwsError("InvalidParameter", message)


def check(op: str, params: dict[str, str], region: str, lookup: Lookup) -> None:
    """Raise the AwsError AWS answers for ``op`` with ``params`` (query form), if any."""
    for name in _ARN_PARAMS.get(op, ()):
        if name in params:
            _arn(name, params[name])
    fn = _CHECKS.get(op)
    if fn is not None:
        fn(params, region, lookup)


def _arn(name: str, value: str) -> list[str]:
    """An ARN split in its six elements, or InvalidParameter as AWS words it."""
    parts = value.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        raise invalid(
            f"Invalid parameter: {name} Reason: An ARN must have at least 6 elements, "
            f"not {len(value.split(':'))}"
        )
    return parts


def _true(value: Any) -> bool:
    return str(value).lower() == "true"


def _map(params: dict[str, str], prefix: str) -> dict[str, str]:
    """``prefix.entry.N.key`` / ``.value`` pairs as a dict."""
    out: dict[str, str] = {}
    for k, v in params.items():
        m = re.fullmatch(re.escape(prefix) + r"\.entry\.(\d+)\.key", k)
        if m:
            out[v] = params.get(f"{prefix}.entry.{m.group(1)}.value", "")
    return out


def _message_attributes(params: dict[str, str], prefix: str) -> list[_Attr]:
    out = []
    for k, v in params.items():
        m = re.fullmatch(re.escape(prefix) + r"MessageAttributes\.entry\.(\d+)\.Name", k)
        if m:
            base = f"{prefix}MessageAttributes.entry.{m.group(1)}.Value."
            out.append(
                _Attr(
                    v,
                    params.get(base + "DataType"),
                    params.get(base + "StringValue"),
                    params.get(base + "BinaryValue"),
                )
            )
    return out


def _batch_entries(params: dict[str, str]) -> list[dict[str, str]]:
    """Each PublishBatchRequestEntries member's own keys (``Id``, ``Message``, ...)."""
    found: dict[int, dict[str, str]] = {}
    for k, v in params.items():
        m = re.fullmatch(r"PublishBatchRequestEntries\.member\.(\d+)\.(.+)", k)
        if m:
            found.setdefault(int(m.group(1)), {})[m.group(2)] = v
    return [found[i] for i in sorted(found)]


# ---------------------------------------------------------------------------- topics
def _create_topic(params: dict[str, str], _region: str, _lookup: Lookup) -> None:
    """CreateTopic: names of 1-256 letters, digits, ``-`` and ``_``; a FIFO topic's name ends
    in ``.fifo`` and only a FIFO topic's does."""
    name = params.get("Name", "")
    attrs = _map(params, "Attributes")
    fifo = _true(attrs.get("FifoTopic", "false"))
    stem = name[: -len(".fifo")] if fifo and name.endswith(".fifo") else name
    if not _TOPIC_NAME.fullmatch(stem) or len(name) > 256 or (fifo and stem == name):
        raise invalid("Invalid parameter: Topic Name")
    for key, value in attrs.items():
        _topic_attribute(key, value, fifo=fifo, reason=True)


def _topic_attribute(name: str, value: str, fifo: bool, reason: bool) -> None:
    where = "Attributes Reason: " if reason else ""
    if name not in TOPIC_ATTRIBUTES:
        raise invalid(
            f"Invalid parameter: Attributes Reason: Unknown attribute: {name}"
            if reason
            else "Invalid parameter: AttributeName"
        )
    if name in ("DeliveryPolicy", "Policy", "DataProtectionPolicy", "ArchivePolicy") and value:
        try:
            doc = json.loads(value)
        except ValueError:
            raise invalid(f"Invalid parameter: {where}{name}: failed to parse JSON.") from None
        if not isinstance(doc, dict):
            raise invalid(f"Invalid parameter: {where}{name}: must be a JSON object.")
    if name == "DisplayName" and len(value) > 100:
        raise invalid(f"Invalid parameter: {where}DisplayName: must be at most 100 characters.")
    if name in ("FifoTopic", "ContentBasedDeduplication") and value.lower() not in (
        "true",
        "false",
    ):
        raise invalid(f"Invalid parameter: {where}{name}: Invalid value [{value}].")
    if name == "ContentBasedDeduplication" and _true(value) and not fifo:
        raise invalid(
            f"Invalid parameter: {where}ContentBasedDeduplication: Content-based "
            "deduplication can only be set for FIFO topics"
        )
    if name == "SignatureVersion" and value not in ("1", "2"):
        raise invalid(f"Invalid parameter: {where}SignatureVersion")
    if name == "TracingConfig" and value not in ("PassThrough", "Active"):
        raise invalid(f"Invalid parameter: {where}TracingConfig")


def _set_topic_attributes(params: dict[str, str], _region: str, lookup: Lookup) -> None:
    topic = lookup.topic(params.get("TopicArn", ""))
    if topic is None:
        raise AwsError("NotFound", "Topic does not exist", 404)
    name = params.get("AttributeName", "")
    if name == "FifoTopic":
        # the kind of a topic is fixed at creation
        raise invalid("Invalid parameter: AttributeName")
    _topic_attribute(
        name,
        params.get("AttributeValue", ""),
        fifo=_true(getattr(topic, "fifo_topic", False)),
        reason=False,
    )


def _existing_topic(params: dict[str, str], _region: str, lookup: Lookup) -> None:
    if lookup.topic(params.get("TopicArn", "")) is None:
        raise AwsError("NotFound", "Topic does not exist", 404)


# ---------------------------------------------------------------------------- publish
def _target(params: dict[str, str], region: str, lookup: Lookup) -> Any | None:
    """Publish: exactly one of TopicArn, TargetArn, PhoneNumber; the topic, if one."""
    given = [k for k in ("TopicArn", "TargetArn", "PhoneNumber") if params.get(k)]
    if not given:
        raise invalid(
            "Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter"
        )
    if len(given) > 1:
        raise invalid(
            "Invalid parameter: TopicArn or TargetArn Reason: Only one of TopicArn, TargetArn "
            "or PhoneNumber may be specified"
        )
    if given[0] == "PhoneNumber":
        number = params["PhoneNumber"]
        if not _E164.fullmatch(number):
            raise invalid(
                f"Invalid parameter: PhoneNumber Reason: {number} is not valid to publish to"
            )
        return None
    arn = params[given[0]]
    parts = _arn(given[0], arn)
    if parts[3] != region:
        raise invalid(f"Invalid parameter: {given[0]}")
    if given[0] == "TargetArn" and parts[5].startswith("endpoint/"):
        if not lookup.endpoint_exists(arn):
            raise invalid(
                "Invalid parameter: TargetArn Reason: No endpoint found for the target arn "
                "specified"
            )
        return None
    topic = lookup.topic(arn)
    if topic is None:
        raise AwsError("NotFound", "Topic does not exist", 404)
    return topic


def _message(entry: dict[str, str], attrs: list[_Attr], batch_path: str | None) -> int:
    """Message, Subject, MessageStructure and MessageAttributes of one message; its size in
    bytes as AWS counts it (body plus each attribute's name, type and value)."""
    message = entry.get("Message")
    if message is None and batch_path is None:
        raise AwsError("MissingParameter", "The request must contain the parameter Message")
    if not message:
        raise invalid("Invalid parameter: Empty message")
    if "Subject" in entry:
        subject = entry["Subject"]
        if (
            not subject
            or len(subject) > MAX_SUBJECT_CHARS
            or not subject.isascii()
            or any(ord(c) < 32 or ord(c) == 127 for c in subject)
            or subject[0] == " "  # it begins with a letter, a number or a punctuation mark
        ):
            raise invalid("Invalid parameter: Subject")
    structure = entry.get("MessageStructure")
    if structure is not None:
        if structure != "json":
            raise invalid("Invalid parameter: MessageStructure")
        try:
            doc = json.loads(message)
        except ValueError:
            raise invalid(
                "Invalid parameter: Message Structure - JSON message body failed to parse"
            ) from None
        if not isinstance(doc, dict) or not isinstance(doc.get("default"), str):
            raise invalid(
                "Invalid parameter: Message Structure - No default entry in JSON message body"
            )
    size = len(message.encode("utf-8"))
    for a in attrs:
        size += _attribute(a, batch_path)
    return size


def _attribute(a: _Attr, batch_path: str | None) -> int:
    """One message attribute, checked as AWS does; its size in bytes."""
    n = a.name
    if len(n.encode("utf-8")) >= 256:
        raise _pvi("Length of message attribute name must be less than 256 bytes.")
    for c in n:
        if not _ATTR_NAME.fullmatch(c):
            raise _pvi(
                f"Invalid non-alphanumeric character '#x{ord(c):X}' was found in the message "
                "attribute name. Can only include alphanumeric characters, hyphens, "
                "underscores, or dots."
            )
    if n.startswith("."):
        raise _pvi("Invalid message attribute name starting with character '.' was found.")
    if n.endswith("."):
        raise _pvi("Invalid message attribute name ending with character '.' was found.")
    if ".." in n:
        raise _pvi("Message attribute name can not have successive '.' character.")
    if n.lower().startswith(("aws.", "amazon.")):
        raise _pvi(
            f"The message attribute name '{n}' is reserved: names starting with AWS. or "
            "Amazon. are reserved for use by Amazon Web Services."
        )
    if a.data_type is None:
        where = f"{batch_path}.member.messageAttributes" if batch_path else "messageAttributes"
        raise AwsError(
            "ValidationError",
            f"1 validation error detected: Value null at '{where}.{n}.member.dataType' failed "
            "to satisfy constraint: Member must not be null",
        )
    kind = a.data_type.split(".", 1)[0]
    if kind not in ("String", "Number", "Binary"):
        raise _pvi(
            f"The message attribute '{n}' has an invalid message attribute type, the set of "
            "supported type prefixes is Binary, Number, and String."
        )
    if kind == "Binary":
        if a.string is not None and a.binary is None:
            raise _pvi(f"The message attribute '{n}' with type 'Binary' must use field 'Binary'.")
        if not a.binary:
            raise _pvi(
                f"The message attribute '{n}' must contain non-empty message attribute value "
                "for message attribute type 'Binary'."
            )
        try:
            value_size = len(base64.b64decode(a.binary))
        except ValueError:
            value_size = len(a.binary)
    else:
        if a.binary is not None and a.string is None:
            raise _pvi(f"The message attribute '{n}' with type '{kind}' must use field 'String'.")
        if not a.string:
            raise _pvi(
                f"The message attribute '{n}' must contain non-empty message attribute value "
                f"for message attribute type '{kind}'."
            )
        if kind == "Number":
            try:
                float(a.string)
            except ValueError:
                raise _pvi(f"Could not cast message attribute '{n}' value to number.") from None
        value_size = len(a.string.encode("utf-8"))
    return len(n.encode("utf-8")) + len(a.data_type.encode("utf-8")) + value_size


def _pvi(message: str) -> AwsError:
    return AwsError("ParameterValueInvalid", message)


def _fifo(entry: dict[str, str], topic: Any | None) -> None:
    """MessageGroupId / MessageDeduplicationId against the topic's kind."""
    if topic is None:
        return
    if _true(getattr(topic, "fifo_topic", False)):
        if not entry.get("MessageGroupId"):
            raise invalid(
                "Invalid parameter: The MessageGroupId parameter is required for FIFO topics"
            )
        if not entry.get("MessageDeduplicationId") and not _true(
            getattr(topic, "content_based_deduplication", False)
        ):
            raise invalid(
                "Invalid parameter: The topic should either have ContentBasedDeduplication "
                "enabled or MessageDeduplicationId provided explicitly"
            )
    elif entry.get("MessageDeduplicationId"):
        raise invalid(
            "Invalid parameter: MessageDeduplicationId Reason: The request includes "
            "MessageDeduplicationId parameter that is not valid for this topic type"
        )


def _publish(params: dict[str, str], region: str, lookup: Lookup) -> None:
    size = _message(params, _message_attributes(params, ""), None)
    if size > MAX_MESSAGE_BYTES:
        raise invalid("Invalid parameter: Message too long")
    _fifo(params, _target(params, region, lookup))


def _publish_batch(params: dict[str, str], region: str, lookup: Lookup) -> None:
    arn = params.get("TopicArn", "")
    if _arn("TopicArn", arn)[3] != region:
        raise invalid("Invalid parameter: TopicArn")
    topic = lookup.topic(arn)
    if topic is None:
        raise AwsError("NotFound", "Topic does not exist", 404)
    entries = _batch_entries(params)
    if not entries:
        raise AwsError("EmptyBatchRequest", "The batch request doesn't contain any entries.")
    if len(entries) > MAX_BATCH_ENTRIES:
        raise AwsError(
            "TooManyEntriesInBatchRequest",
            "The batch request contains more entries than permissible.",
        )
    ids = [e.get("Id", "") for e in entries]
    for i in ids:
        if len(i) > 80:
            raise AwsError(
                "InvalidBatchEntryId",
                f"The Id of a batch entry in the batch request is too long: {i}",
            )
        if not _BATCH_ID.fullmatch(i):
            raise AwsError(
                "InvalidBatchEntryId",
                "The Id of a batch entry in the batch request contains an impermissible "
                f"character: {i}",
            )
    if len(set(ids)) != len(ids):
        raise AwsError(
            "BatchEntryIdsNotDistinct",
            "Two or more batch entries in the request have the same Id.",
        )
    total = 0
    for n, entry in enumerate(entries, 1):
        attrs = _message_attributes(entry, "")
        total += _message(entry, attrs, f"publishBatchRequestEntries.{n}")
        _fifo(entry, topic)
    if total > MAX_MESSAGE_BYTES:
        raise AwsError(
            "BatchRequestTooLong",
            "The length of all the messages put together is more than the limit.",
        )


# ---------------------------------------------------------------------------- subscriptions
def _subscribe(params: dict[str, str], _region: str, lookup: Lookup) -> None:
    protocol = params.get("Protocol", "")
    endpoint = params.get("Endpoint", "")
    if protocol not in PROTOCOLS:
        raise invalid(
            f"Invalid parameter: Amazon SNS does not support this protocol string: {protocol}"
        )
    topic = lookup.topic(params.get("TopicArn", ""))
    if topic is None:
        raise AwsError("NotFound", "Topic does not exist", 404)
    if protocol in ("http", "https") and not endpoint.lower().startswith(protocol + "://"):
        raise invalid("Invalid parameter: Endpoint must match the specified protocol")
    if protocol in ("email", "email-json") and not re.fullmatch(r"[^@\s]+@[^@\s]+", endpoint):
        raise invalid("Invalid parameter: Email address")
    if protocol == "sms" and not _E164.fullmatch(re.sub(r"[-. ()]", "", endpoint)):
        raise invalid(f"Invalid SMS endpoint: {endpoint}")
    service = {"sqs": "sqs", "lambda": "lambda", "firehose": "firehose"}.get(protocol)
    if service is not None:
        parts = endpoint.split(":")
        if len(parts) < 6 or parts[0] != "arn" or parts[2] != service:
            label = {"sqs": "SQS", "lambda": "Lambda", "firehose": "Firehose"}[protocol]
            raise invalid(f"Invalid parameter: {label} endpoint ARN")
    if protocol == "application" and ":endpoint/" not in endpoint:
        raise invalid("Invalid parameter: Endpoint Reason: An ARN must have at least 6 elements")
    attrs = _map(params, "Attributes")
    for name, value in attrs.items():
        _subscription_attribute(name, value, "Attributes Reason: ")
    if protocol == "firehose" and not attrs.get("SubscriptionRoleArn"):
        raise invalid(
            "Invalid parameter: Attributes Reason: SubscriptionRoleArn is required for "
            "firehose subscriptions"
        )
    if (
        protocol == "sqs"
        and endpoint.endswith(".fifo")
        and not _true(getattr(topic, "fifo_topic", False))
    ):
        raise invalid(
            "Invalid parameter: Invalid parameter: Endpoint Reason: FIFO SQS Queues can not be "
            "subscribed to standard SNS topics"
        )


def _subscription_attribute(name: str, value: str, where: str) -> None:
    """One subscription attribute (FilterPolicy is checked by filterpolicy.py)."""
    if name not in SUBSCRIPTION_ATTRIBUTES:
        raise invalid(
            f"Invalid parameter: {where}Unknown attribute: {name}"
            if where
            else "Invalid parameter: AttributeName"
        )
    if name == "RawMessageDelivery" and value.lower() not in ("true", "false"):
        raise invalid(
            f"Invalid parameter: {where}RawMessageDelivery: Invalid value [{value}]. "
            "Must be true or false."
        )
    # FilterPolicy is parsed by filterpolicy.py, with AWS's messages for its whole grammar
    if name in ("RedrivePolicy", "DeliveryPolicy", "ReplayPolicy") and value:
        try:
            doc = json.loads(value)
        except ValueError as exc:
            raise invalid(
                f"Invalid parameter: {where}{name}: failed to parse JSON. {exc}"
            ) from None
        if name == "RedrivePolicy":
            target = doc.get("deadLetterTargetArn", "") if isinstance(doc, dict) else ""
            parts = str(target).split(":")
            if len(parts) < 6 or parts[0] != "arn" or parts[2] != "sqs":
                raise invalid(
                    f"Invalid parameter: {where}RedrivePolicy: deadLetterTargetArn is an "
                    "invalid arn"
                )


def _set_subscription_attributes(params: dict[str, str], _region: str, _lookup: Lookup) -> None:
    _subscription_attribute(params.get("AttributeName", ""), params.get("AttributeValue", ""), "")


_CHECKS = {
    "CreateTopic": _create_topic,
    "SetTopicAttributes": _set_topic_attributes,
    "GetTopicAttributes": _existing_topic,
    "Publish": _publish,
    "PublishBatch": _publish_batch,
    "Subscribe": _subscribe,
    "SetSubscriptionAttributes": _set_subscription_attributes,
}

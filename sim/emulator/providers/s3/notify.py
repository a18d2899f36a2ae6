"""S3 event notifications (S3 user guide, "Amazon S3 Event Notifications"): the bucket's
NotificationConfiguration validated as S3 validates it, which configurations an event
matches, and the event message S3 sends (event structure version 2.1).

No HTTP and no delivery here: ``api.py`` parses the document, asks the destinations exist and
sends; this module holds S3's rules.
"""

from __future__ import annotations

import itertools
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

from sim.emulator.protocol import AwsError

# Event types a configuration may name (user guide, "Supported event types"); a wildcard
# ``s3:<Kind>:*`` stands for every one of its kind.
EVENT_TYPES = frozenset(
    {
        "s3:TestEvent",
        "s3:ObjectCreated:*",
        "s3:ObjectCreated:Put",
        "s3:ObjectCreated:Post",
        "s3:ObjectCreated:Copy",
        "s3:ObjectCreated:CompleteMultipartUpload",
        "s3:ObjectRemoved:*",
        "s3:ObjectRemoved:Delete",
        "s3:ObjectRemoved:DeleteMarkerCreated",
        "s3:ObjectRestore:*",
        "s3:ObjectRestore:Post",
        "s3:ObjectRestore:Completed",
        "s3:ObjectRestore:Delete",
        "s3:ReducedRedundancyLostObject",
        "s3:Replication:*",
        "s3:Replication:OperationFailedReplication",
        "s3:Replication:OperationMissedThreshold",
        "s3:Replication:OperationReplicatedAfterThreshold",
        "s3:Replication:OperationNotTracked",
        "s3:LifecycleExpiration:*",
        "s3:LifecycleExpiration:Delete",
        "s3:LifecycleExpiration:DeleteMarkerCreated",
        "s3:LifecycleTransition",
        "s3:IntelligentTiering",
        "s3:ObjectTagging:*",
        "s3:ObjectTagging:Put",
        "s3:ObjectTagging:Delete",
        "s3:ObjectAcl:Put",
    }
)
_KINDS = {"QueueConfiguration": "Queue", "TopicConfiguration": "Topic"}
_UNSUPPORTED = ("CloudFunctionConfiguration", "LambdaFunctionConfiguration")


@dataclass(frozen=True)
class Target:
    """One configuration: where (an SQS queue or SNS topic ARN), for which events, which keys."""

    id: str
    kind: str  # "Queue" | "Topic"
    arn: str
    events: tuple[str, ...]
    prefix: str = ""
    suffix: str = ""

    def wants(self, event: str, key: str) -> bool:
        """Whether ``event`` (``s3:ObjectCreated:Put``) on ``key`` is for this target."""
        kind = event.rsplit(":", 1)[0]
        named = event in self.events or f"{kind}:*" in self.events
        return named and key.startswith(self.prefix) and key.endswith(self.suffix)


@dataclass
class Config:
    targets: list[Target] = field(default_factory=list)


def _invalid(message: str, name: str = "", value: str = "") -> AwsError:
    err = AwsError("InvalidArgument", message, 400)
    if name:
        err.extra = {"ArgumentName": name, "ArgumentValue": value}
    return err


def parse(root: ET.Element) -> Config:
    """A NotificationConfiguration document (namespace stripped) as S3 accepts it, or S3's
    error: MalformedXML, InvalidArgument for an unknown event, a filter rule other than one
    prefix and one suffix, or configurations that overlap on an event type and keys; 501 for
    Lambda destinations (bdlab has no Lambda to invoke for S3) and EventBridge."""
    if root.tag != "NotificationConfiguration":
        raise AwsError("MalformedXML", "The XML you provided was not well-formed.")
    cfg = Config()
    for child in root:
        if child.tag in _UNSUPPORTED:
            raise AwsError(
                "NotImplemented",
                "S3 event notifications to Lambda are not implemented by bdlab (use an SQS "
                "queue or an SNS topic)",
                501,
                sender=False,
            )
        if child.tag == "EventBridgeConfiguration":
            raise AwsError(
                "NotImplemented",
                "S3 event notifications to EventBridge are not implemented by bdlab",
                501,
                sender=False,
            )
        kind = _KINDS.get(child.tag)
        if kind is None:
            raise AwsError("MalformedXML", "The XML you provided was not well-formed.")
        arn = (child.findtext(kind) or "").strip()
        events = tuple((e.text or "").strip() for e in child.findall("Event"))
        if not arn or not events:
            raise AwsError("MalformedXML", "The XML you provided was not well-formed.")
        for e in events:
            if e not in EVENT_TYPES or e == "s3:TestEvent":
                raise _invalid("The event is not supported for notifications", e, e)
        prefix = suffix = None
        for rule in child.findall("Filter/S3Key/FilterRule"):
            name = (rule.findtext("Name") or "").strip().lower()
            value = rule.findtext("Value") or ""
            if name not in ("prefix", "suffix"):
                raise _invalid(
                    "filter rule name must be either prefix or suffix", "FilterRule.Name", name
                )
            if (prefix if name == "prefix" else suffix) is not None:
                raise _invalid(
                    f"Cannot specify more than one {name} rule in a filter.",
                    "FilterRule.Name",
                    name,
                )
            if name == "prefix":
                prefix = value
            else:
                suffix = value
        cid = (child.findtext("Id") or "").strip() or f"bdlab-{len(cfg.targets) + 1}"
        cfg.targets.append(Target(cid, kind, arn, events, prefix or "", suffix or ""))
    _check_overlap(cfg.targets)
    return cfg


def _covers(a: str, b: str) -> bool:
    ka, kb = a.rsplit(":", 1)[0], b.rsplit(":", 1)[0]
    return a == b or (ka == kb and (a.endswith(":*") or b.endswith(":*")))


def _check_overlap(targets: list[Target]) -> None:
    """Two configurations may not share an event type for keys both filters accept (user
    guide, "Examples of valid notification configurations with object key name filtering")."""
    for x, y in itertools.combinations(targets, 2):
        shared = any(_covers(a, b) for a in x.events for b in y.events)
        prefixes = x.prefix.startswith(y.prefix) or y.prefix.startswith(x.prefix)
        suffixes = x.suffix.endswith(y.suffix) or y.suffix.endswith(x.suffix)
        if shared and prefixes and suffixes:
            raise _invalid(
                "Configurations overlap. Configurations on the same bucket cannot share a "
                "common event type.",
                "Event",
                x.events[0],
            )


# ----------------------------------------------------------------------- messages
_sequence = itertools.count(int(time.time() * 1000) << 8)


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{int(t * 1000) % 1000:03d}Z"
    )


def record(
    event: str,
    target: Target,
    bucket: str,
    key: str,
    now: float,
    region: str,
    request_id: str,
    host_id: str,
    size: int | None = None,
    etag: str | None = None,
    version_id: str | None = None,
    source_ip: str = "127.0.0.1",
    principal: str = "AWS:bdlab",
) -> dict[str, Any]:
    """One record of an event message, as S3 sends it (event structure 2.1; the key is
    URL-encoded with ``+`` for spaces, as S3 does)."""
    obj: dict[str, Any] = {"key": quote_plus(key, safe="/")}
    if size is not None:
        obj["size"] = size
    if etag:
        obj["eTag"] = etag
    if version_id and version_id != "null":
        obj["versionId"] = version_id
    obj["sequencer"] = f"{next(_sequence):016X}"
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": region,
        "eventTime": _iso(now),
        "eventName": event.removeprefix("s3:"),
        "userIdentity": {"principalId": principal},
        "requestParameters": {"sourceIPAddress": source_ip},
        "responseElements": {"x-amz-request-id": request_id, "x-amz-id-2": host_id},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": target.id,
            "bucket": {
                "name": bucket,
                "ownerIdentity": {"principalId": "bdlab"},
                "arn": f"arn:aws:s3:::{bucket}",
            },
            "object": obj,
        },
    }


def test_event(bucket: str, now: float, request_id: str, host_id: str) -> dict[str, Any]:
    """The message S3 sends to each destination when a configuration is stored."""
    return {
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": _iso(now),
        "Bucket": bucket,
        "RequestId": request_id,
        "HostId": host_id,
    }


def to_xml(cfg: Config) -> str:
    """The stored configuration as GetBucketNotificationConfiguration answers it."""
    from xml.sax.saxutils import escape

    parts = []
    for t in cfg.targets:
        tag = f"{t.kind}Configuration"
        rules = "".join(
            f"<FilterRule><Name>{n}</Name><Value>{escape(v)}</Value></FilterRule>"
            for n, v in (("Prefix", t.prefix), ("Suffix", t.suffix))
            if v
        )
        flt = f"<Filter><S3Key>{rules}</S3Key></Filter>" if rules else ""
        events = "".join(f"<Event>{e}</Event>" for e in t.events)
        parts.append(
            f"<{tag}><Id>{escape(t.id)}</Id><{t.kind}>{escape(t.arn)}</{t.kind}>"
            f"{events}{flt}</{tag}>"
        )
    return (
        '<NotificationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        f"{''.join(parts)}</NotificationConfiguration>"
    )

"""What CloudWatch Logs does in other services: metric filters' metrics, subscription
payloads, export task objects. Plain functions over plain data; the provider (api.py) reads
moto's state and hands the results to the gateway's callables (``Links``).

Follows the CloudWatch Logs user guide: "Creating metrics from log events using filters",
"Real-time processing of log data with subscriptions"
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/SubscriptionFilters.html) and
"Exporting log data to Amazon S3".
"""

from __future__ import annotations

import gzip
import hashlib
import json
import uuid
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sim.emulator.providers.logs.filterpattern import (
    FilterPattern,
    compile_pattern,
    metric_observation,
)

MAX_VALUES = 150  # distinct values of one MetricDatum (PutMetricData's limit)
MAX_RECORD = 1000 * 1024  # Firehose's record limit (Kinesis allows 1 MiB): one payload at most
EXPORT_CHUNK = 64 * 1024 * 1024  # uncompressed bytes per exported object (bdlab's choice)


@dataclass(frozen=True)
class Event:
    """One stored log event: moto's id, timestamp (ms since the epoch) and message."""

    id: int
    timestamp: int
    message: str


@dataclass
class Links:
    """What the Logs provider may do in other services; the gateway wires bdlab's providers.

    - ``now()``: the emulator clock, epoch seconds.
    - ``put_metric_data(namespace, data)``: MetricDatum dicts (Timestamp in epoch seconds) into
      bdlab's CloudWatch.
    - ``put_record(arn, data, partition_key)``: one record into bdlab's Kinesis stream or
      Firehose delivery stream named by ``arn``; raises AwsError when there is none or it
      refuses the record.
    - ``write_s3_object(bucket, key, body, headers)`` and ``bucket_exists(bucket)``: bdlab's S3.
    """

    now: Callable[[], float]
    put_metric_data: Callable[[str, list[dict[str, Any]]], Awaitable[None]]
    put_record: Callable[[str, bytes, str], None]
    write_s3_object: Callable[[str, str, bytes, dict[str, str]], None]
    bucket_exists: Callable[[str], bool]


@lru_cache(maxsize=512)
def cached_pattern(text: str) -> FilterPattern:
    """A stored filter's compiled pattern (stored patterns were checked when put)."""
    return compile_pattern(text)


# ------------------------------------------------------------------ metric filters
class DefaultMinutes:
    """Which (group, filter, metric, minute) already published something, so that a metric
    filter's defaultValue is reported once for a minute in which logs were ingested but none
    matched ("Default value: the value reported to the metric filter during a period when
    logs are ingested but no matching logs are found"). In memory, the most recent 100,000."""

    def __init__(self, size: int = 100_000) -> None:
        self.size = size
        self.seen: OrderedDict[tuple[str, str, str, int], None] = OrderedDict()

    def add(self, key: tuple[str, str, str, int]) -> bool:
        """Remember ``key``; False if it was known already."""
        if key in self.seen:
            return False
        self.seen[key] = None
        if len(self.seen) > self.size:
            self.seen.popitem(last=False)
        return True


def metric_data(
    group: str,
    filters: Iterable[dict[str, Any]],
    events: list[Event],
    minutes: DefaultMinutes,
) -> dict[str, list[dict[str, Any]]]:
    """The MetricDatum dicts, by namespace, that ``events`` (newly put in ``group``) give
    through the group's metric filters (moto's dicts: filterName, filterPattern,
    metricTransformations). A matching event counts its metricValue (a number, or the
    number at ``$.selector`` / ``$field``) with the dimensions extracted from it, at its own
    minute (AWS timestamps the metric by the log event's time); values go as Values/Counts.
    A minute with events but no match publishes defaultValue once, if the transformation has
    one. Units are the transformation's ``unit`` (CloudWatch's ``None`` when absent)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for f in filters:
        pattern = cached_pattern(str(f.get("filterPattern") or ""))
        for t in f.get("metricTransformations") or []:
            name, namespace = str(t["metricName"]), str(t["metricNamespace"])
            plain = {k: v for k, v in t.items() if k != "defaultValue"}
            cells: dict[tuple[int, tuple[tuple[str, str], ...]], Counter[float]] = {}
            event_minutes: set[int] = set()
            matched: set[int] = set()
            for e in events:
                minute = e.timestamp // 60_000 * 60
                event_minutes.add(minute)
                obs = metric_observation(pattern, plain, e.message)
                if obs is None:
                    continue
                value, dims = obs
                matched.add(minute)
                cells.setdefault((minute, tuple(sorted(dims.items()))), Counter())[value] += 1
            key = (group, str(f.get("filterName")), f"{namespace}/{name}")
            for minute in matched:
                minutes.add((*key, minute))
            data = out.setdefault(namespace, [])
            for (minute, dim_key), values in sorted(cells.items()):
                items = sorted(values.items())
                for i in range(0, len(items), MAX_VALUES):
                    chunk = items[i : i + MAX_VALUES]
                    data.append(
                        _datum(name, minute, t.get("unit"), dim_key, [v for v, _ in chunk], chunk)
                    )
            default = t.get("defaultValue")
            if default is None:
                continue
            for minute in sorted(event_minutes - matched):
                if minutes.add((*key, minute)):
                    data.append(_datum(name, minute, t.get("unit"), (), [float(default)], None))
    return {ns: data for ns, data in out.items() if data}


def _datum(
    name: str,
    minute: int,
    unit: Any,
    dims: tuple[tuple[str, str], ...],
    values: list[float],
    counted: list[tuple[float, int]] | None,
) -> dict[str, Any]:
    d: dict[str, Any] = {"MetricName": name, "Timestamp": float(minute), "Values": values}
    d["Counts"] = [float(n) for _, n in counted] if counted else [1.0] * len(values)
    if unit:
        d["Unit"] = str(unit)
    if dims:
        d["Dimensions"] = [{"Name": k, "Value": v} for k, v in dims]
    return d


# ------------------------------------------------------------------ subscriptions
def control_message(destination: str, now_ms: int) -> bytes:
    """The gzip'd CONTROL_MESSAGE CloudWatch Logs sends when a subscription is created, to
    check that the destination can be reached."""
    what = "Firehose" if destination == "firehose" else "Kinesis stream"
    doc = {
        "messageType": "CONTROL_MESSAGE",
        "owner": "CloudwatchLogs",
        "logGroup": "",
        "logStream": "",
        "subscriptionFilters": [],
        "logEvents": [
            {
                "id": "",
                "timestamp": now_ms,
                "message": f"CWL CONTROL MESSAGE: Checking health of destination {what}.",
            }
        ],
    }
    return gzip.compress(json.dumps(doc, separators=(",", ":")).encode())


def data_messages(
    owner: str, group: str, stream: str, filter_name: str, events: list[Event]
) -> list[bytes]:
    """gzip'd DATA_MESSAGE payloads ``{messageType, owner, logGroup, logStream,
    subscriptionFilters, logEvents: [{id, timestamp, message}]}`` for ``events``, split in
    halves until each fits one record (1,000 KiB)."""
    doc = {
        "messageType": "DATA_MESSAGE",
        "owner": owner,
        "logGroup": group,
        "logStream": stream,
        "subscriptionFilters": [filter_name],
        "logEvents": [
            {"id": str(e.id), "timestamp": e.timestamp, "message": e.message} for e in events
        ],
    }
    data = gzip.compress(json.dumps(doc, separators=(",", ":")).encode())
    if len(data) <= MAX_RECORD or len(events) == 1:
        return [data]
    half = len(events) // 2
    return data_messages(owner, group, stream, filter_name, events[:half]) + data_messages(
        owner, group, stream, filter_name, events[half:]
    )


def partition_key(stream: str) -> str:
    """The Kinesis partition key of a log stream's deliveries: one key per log stream, so a
    stream's events stay in order on one shard (AWS's default "ByLogStream" distribution);
    hashed because a stream name may be longer than Kinesis's 256 characters."""
    return hashlib.md5(stream.encode()).hexdigest()


def random_key() -> str:
    return uuid.uuid4().hex


# ------------------------------------------------------------------ export tasks
def export_lines(events: Iterable[Event]) -> Iterable[bytes]:
    """Exported log data: one line per event, ``<ISO 8601 UTC time with ms> <message>``."""
    for e in events:
        when = datetime.fromtimestamp(e.timestamp / 1000, UTC)
        yield f"{when.strftime('%Y-%m-%dT%H:%M:%S')}.{e.timestamp % 1000:03d}Z {e.message}\n".encode()


def export_objects(
    prefix: str, task_id: str, streams: dict[str, list[Event]]
) -> list[tuple[str, bytes]]:
    """(key, gzip body) of an export: ``<prefix>/<taskId>/<logStreamName>/000000.gz``, the
    next chunk 000001.gz and so on, streams without events in range leave no object."""
    out: list[tuple[str, bytes]] = []
    for stream, events in sorted(streams.items()):
        chunk: list[bytes] = []
        size = n = 0
        for line in export_lines(events):
            chunk.append(line)
            size += len(line)
            if size >= EXPORT_CHUNK:
                out.append(
                    (f"{prefix}/{task_id}/{stream}/{n:06d}.gz", gzip.compress(b"".join(chunk)))
                )
                chunk, size, n = [], 0, n + 1
        if chunk:
            out.append((f"{prefix}/{task_id}/{stream}/{n:06d}.gz", gzip.compress(b"".join(chunk))))
    return out

"""AWS/S3 metrics in CloudWatch: request metrics for the metrics configurations a bucket has
(PutBucketMetricsConfiguration and its kin), and the daily storage metrics of every bucket.

Rules only, no HTTP and no I/O: ``api.py`` parses and renders the requests, hands each served
request to :meth:`RequestMetrics.record` and sends what :meth:`RequestMetrics.take` and
:func:`storage_data` return to CloudWatch. Sources: S3 API reference (PutBucketMetricsConfiguration,
MetricsConfiguration, MetricsFilter, MetricsAndOperator, ListBucketMetricsConfigurations, Error
responses) and the user guide's "Metrics and dimensions" (metrics-dimensions.html).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Container
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

from sim.emulator.metriccells import MetricCells, metric_data
from sim.emulator.protocol import AwsError
from sim.emulator.providers.s3 import configs

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
MAX_CONFIGS = 1000  # per bucket (PutBucketMetricsConfiguration)
LIST_PAGE = 100  # ListBucketMetricsConfigurations answers 100 a page
MAX_ID = 64
_ID = re.compile(r"[A-Za-z0-9._-]+")

# Request metrics (metrics-dimensions.html, "Amazon S3 request metrics in CloudWatch").
REQUEST_METRICS = (
    "AllRequests",
    "GetRequests",
    "PutRequests",
    "DeleteRequests",
    "HeadRequests",
    "PostRequests",
    "ListRequests",
    "BytesDownloaded",
    "BytesUploaded",
    "4xxErrors",
    "5xxErrors",
    "FirstByteLatency",
    "TotalRequestLatency",
)
_UNITS = {
    "BytesDownloaded": "Bytes",
    "BytesUploaded": "Bytes",
    "FirstByteLatency": "Milliseconds",
    "TotalRequestLatency": "Milliseconds",
    "BucketSizeBytes": "Bytes",
}
_LIST_OPS = frozenset(("ListObjects", "ListObjectsV2", "ListObjectVersions"))

# StorageType dimension values of BucketSizeBytes by storage class (metrics-dimensions.html).
STORAGE_TYPES = {
    "STANDARD": "StandardStorage",
    "STANDARD_IA": "StandardIAStorage",
    "ONEZONE_IA": "OneZoneIAStorage",
    "REDUCED_REDUNDANCY": "ReducedRedundancyStorage",
    "GLACIER": "GlacierStorage",
    "DEEP_ARCHIVE": "DeepArchiveStorage",
    "GLACIER_IR": "GlacierInstantRetrievalStorage",
    "INTELLIGENT_TIERING": "IntelligentTieringFAStorage",
    "EXPRESS_ONEZONE": "ExpressOneZone",
}


def no_such_configuration() -> AwsError:
    """S3's answer for a metrics configuration ID the bucket does not have (404)."""
    return AwsError("NoSuchConfiguration", "The specified configuration does not exist.", 404)


@dataclass(frozen=True)
class MetricsConfig:
    """One metrics configuration: its ID and filter. No predicate at all: the whole bucket;
    ``access_point`` set: only requests through that access point (bdlab serves none)."""

    id: str
    prefix: str | None = None
    tags: tuple[tuple[str, str], ...] = ()
    access_point: str | None = None
    xml: str = field(default="", compare=False)  # the stored document, as GET answers it

    @property
    def whole_bucket(self) -> bool:
        return self.prefix is None and not self.tags and self.access_point is None

    def matches(self, key: str, tags: dict[str, str] | None) -> bool:
        """Whether a request on object ``key`` (with the object's ``tags``) counts here."""
        if self.access_point is not None:
            return False  # bdlab has no access points: no request arrives through one
        if self.prefix is not None and not key.startswith(self.prefix):
            return False
        return all((tags or {}).get(k) == v for k, v in self.tags)


def check_id(config_id: str | None) -> str:
    """The ``id`` query parameter: 1-64 letters, digits, periods, dashes, underscores
    (MetricsConfiguration.Id); InvalidArgument otherwise."""
    if not config_id:
        raise AwsError("InvalidArgument", "Missing required parameter: id", ArgumentName="id")
    if len(config_id) > MAX_ID or not _ID.fullmatch(config_id):
        raise AwsError(
            "InvalidArgument",
            "The metrics configuration ID is not valid: up to 64 letters, numbers, periods, "
            "dashes and underscores.",
            ArgumentName="id",
            ArgumentValue=config_id,
        )
    return config_id


def _text(elem: ET.Element, name: str) -> str | None:
    node = elem.find(name)
    return None if node is None else node.text or ""


def _tag(node: ET.Element) -> tuple[str, str]:
    k, v = node.find("Key"), node.find("Value")
    if k is None or v is None:
        raise configs.malformed()
    return k.text or "", v.text or ""


def parse_config(root: ET.Element, config_id: str) -> MetricsConfig:
    """A MetricsConfiguration document (namespace stripped) for query ``id`` ``config_id``.

    MalformedXML: another root, no Id, a Filter with more than one predicate outside ``And``,
    an empty ``And``, a Tag without Key or Value; InvalidArgument: the document's Id differs
    from the query's. Tags follow S3's tag rules (configs.check_tag_pairs)."""
    if root.tag != "MetricsConfiguration":
        raise configs.malformed()
    doc_id = _text(root, "Id")
    if doc_id is None:
        raise configs.malformed()
    if doc_id != config_id:
        raise AwsError(
            "InvalidArgument",
            "The ID in the metrics configuration does not match the id query parameter.",
            ArgumentName="id",
            ArgumentValue=config_id,
        )
    prefix, tags, access_point = None, [], None
    flt = root.find("Filter")
    if flt is not None:
        preds = list(flt)
        if len(preds) > 1:
            raise configs.malformed()  # one predicate, or several inside And
        scope = flt
        if preds and preds[0].tag == "And":
            scope = preds[0]
            if not list(scope):
                raise configs.malformed()
        for node in scope:
            if node.tag == "Prefix":
                prefix = node.text or ""
            elif node.tag == "Tag":
                tags.append(_tag(node))
            elif node.tag == "AccessPointArn":
                access_point = node.text or ""
            else:
                raise configs.malformed()
        if tags:
            configs.check_tag_pairs(tags, bucket=True)
    return MetricsConfig(
        config_id, prefix, tuple(tags), access_point, render(config_id, prefix, tags, access_point)
    )


def render(
    config_id: str,
    prefix: str | None,
    tags: list[tuple[str, str]] | tuple[tuple[str, str], ...],
    access_point: str | None,
    root: bool = True,
) -> str:
    """The MetricsConfiguration element as GetBucketMetricsConfiguration answers it."""
    preds = []
    if prefix is not None:
        preds.append(f"<Prefix>{escape(prefix)}</Prefix>")
    preds += [f"<Tag><Key>{escape(k)}</Key><Value>{escape(v)}</Value></Tag>" for k, v in tags]
    if access_point is not None:
        preds.append(f"<AccessPointArn>{escape(access_point)}</AccessPointArn>")
    flt = "".join(preds)
    if len(preds) > 1:
        flt = f"<And>{flt}</And>"
    inner = f"<Id>{escape(config_id)}</Id>" + (f"<Filter>{flt}</Filter>" if preds else "")
    xmlns = f' xmlns="{NS}"' if root else ""
    return f"<MetricsConfiguration{xmlns}>{inner}</MetricsConfiguration>"


def with_config(docs: dict[str, str], cfg: MetricsConfig) -> dict[str, str]:
    """The bucket's documents with ``cfg`` stored (a full replacement of the same ID);
    TooManyConfigurations beyond 1,000 per bucket."""
    if cfg.id not in docs and len(docs) >= MAX_CONFIGS:
        raise AwsError(
            "TooManyConfigurations",
            "You are attempting to create a new configuration but have already reached the "
            "1,000-configuration limit.",
        )
    return {**docs, cfg.id: cfg.xml}


def list_page(docs: dict[str, str], token: str | None) -> str:
    """ListBucketMetricsConfigurationsResult for the stored ``docs`` (id -> document), 100 a
    page in ID order after ``token`` (the last ID of the previous page)."""
    ids = sorted(i for i in docs if token is None or i > token)
    page, more = ids[:LIST_PAGE], len(ids) > LIST_PAGE
    parts = [f'<ListMetricsConfigurationsResult xmlns="{NS}">']
    parts.append(f"<IsTruncated>{'true' if more else 'false'}</IsTruncated>")
    if token is not None:
        parts.append(f"<ContinuationToken>{escape(token)}</ContinuationToken>")
    if more:
        parts.append(f"<NextContinuationToken>{escape(page[-1])}</NextContinuationToken>")
    for i in page:
        parts.append(docs[i].replace(f' xmlns="{NS}"', "", 1))
    parts.append("</ListMetricsConfigurationsResult>")
    return "".join(parts)


def from_stored(docs: dict[str, str]) -> tuple[MetricsConfig, ...]:
    """The parsed configurations of a bucket's stored documents (id -> document)."""
    out = []
    for config_id, doc in sorted(docs.items()):
        root = ET.fromstring(doc)
        for el in root.iter():
            el.tag = el.tag.rsplit("}", 1)[-1]
        out.append(parse_config(root, config_id))
    return tuple(out)


def request_kind(method: str, key: str, operation: str) -> str | None:
    """Which of Get/Put/Delete/Head/Post/ListRequests a request adds to (None: only
    AllRequests). DeleteObjects is a delete; SelectObjectContent and DeleteObjects are not
    posts (metrics-dimensions.html)."""
    if operation in _LIST_OPS:
        return "ListRequests"
    if operation == "DeleteObjects":
        return "DeleteRequests"
    if method == "HEAD":
        return "HeadRequests"
    if method == "POST":
        return None if operation == "SelectObjectContent" else "PostRequests"
    if key and method in ("GET", "PUT", "DELETE"):
        return {"GET": "GetRequests", "PUT": "PutRequests", "DELETE": "DeleteRequests"}[method]
    return None


class RequestMetrics:
    """Per-minute cells of the request metrics, keyed by bucket and ``metric@FilterId``.

    :meth:`record` runs on S3's request path: a few dictionary updates per matching
    configuration, nothing for a bucket without any; :meth:`take` hands finished (and, if
    asked, open) minutes to the CloudWatch flush."""

    def __init__(self) -> None:
        self.cells = MetricCells()

    def record(
        self,
        now: float,
        bucket: str,
        matched: list[str],
        kind: str | None,
        status: int,
        uploaded: int | None,
        downloaded: int | None,
        latency_ms: float | None,
    ) -> None:
        """Count one request for each FilterId in ``matched``: AllRequests and its ``kind``,
        4xx/5xxErrors as 0 or 1 (so Average is the error rate), bytes moved when a body
        moved, both latencies in milliseconds when known."""
        # one cell dict per (bucket, minute), updated in place: this runs per request
        cell = self.cells.cells.setdefault((bucket, now - now % 60), {})
        err4 = 1.0 if 400 <= status < 500 else 0.0
        err5 = 1.0 if status >= 500 else 0.0

        def add(name: str, value: float) -> None:
            c = cell.get(name)
            if c is None:
                cell[name] = [value, 1.0, value, value]
                return
            c[0] += value
            c[1] += 1
            if value > c[2]:
                c[2] = value
            if value < c[3]:
                c[3] = value

        for fid in matched:
            add(f"AllRequests@{fid}", 1.0)
            if kind is not None:
                add(f"{kind}@{fid}", 1.0)
            add(f"4xxErrors@{fid}", err4)
            add(f"5xxErrors@{fid}", err5)
            if uploaded is not None:
                add(f"BytesUploaded@{fid}", float(uploaded))
            if downloaded is not None:
                add(f"BytesDownloaded@{fid}", float(downloaded))
            if latency_ms is not None:
                add(f"FirstByteLatency@{fid}", latency_ms)
                add(f"TotalRequestLatency@{fid}", latency_ms)

    def take(self, now: float, open_minutes: bool, alive: Container[str]) -> list[dict[str, Any]]:
        """PutMetricData entries (StatisticValues, dimensions BucketName and FilterId) of the
        finished minutes, and with ``open_minutes`` the current one so far."""
        data = metric_data(self.cells.take(now, open_minutes, alive), "BucketName", "FilterId")
        for d in data:
            d["Unit"] = _UNITS.get(str(d["MetricName"]), "Count")
        return data


def storage_data(
    usage: list[tuple[str, str, int, int]], buckets: list[str], day: float
) -> list[dict[str, Any]]:
    """The daily storage metrics stamped at ``day`` (00:00 UTC): BucketSizeBytes per
    StorageType present (StandardStorage always) and NumberOfObjects (AllStorageTypes) for
    every bucket. ``usage``: (bucket, storage class, objects, bytes) rows."""
    sizes: dict[str, dict[str, int]] = {b: {"StandardStorage": 0} for b in buckets}
    counts: dict[str, int] = dict.fromkeys(buckets, 0)
    for bucket, sclass, n, size in usage:
        if bucket not in sizes:
            continue
        stype = STORAGE_TYPES.get(sclass, "StandardStorage")
        sizes[bucket][stype] = sizes[bucket].get(stype, 0) + size
        counts[bucket] += n
    out: list[dict[str, Any]] = []

    def point(name: str, bucket: str, stype: str, value: float) -> dict[str, Any]:
        return {
            "MetricName": name,
            "Dimensions": [
                {"Name": "BucketName", "Value": bucket},
                {"Name": "StorageType", "Value": stype},
            ],
            "Timestamp": day,
            "Value": value,
            "Unit": _UNITS.get(name, "Count"),
        }

    for bucket in buckets:
        for stype, size in sorted(sizes[bucket].items()):
            out.append(point("BucketSizeBytes", bucket, stype, float(size)))
        out.append(point("NumberOfObjects", bucket, "AllStorageTypes", float(counts[bucket])))
    return out

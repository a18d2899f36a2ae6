"""The emulator's own Prometheus metrics, served by the gateway at ``GET /metrics`` (and
``/_bdlab/metrics``) in the text exposition format, on the gateway's loopback address.

Each :class:`~sim.emulator.gateway.Gateway` has its own ``CollectorRegistry``: several
emulators run in one test process and must not share series. Hot paths stay as they were:
the gateway records one observation per request (:meth:`GatewayMetrics.observe`), and
everything else is read when scraped from counters the providers keep anyway (the Kinesis and
Firehose metric cells' running totals, the CloudWatch alarms' states).

Series (names follow https://prometheus.io/docs/practices/naming/):

- ``bdlab_requests_total{service, operation, status}``  requests answered (counter)
- ``bdlab_request_duration_seconds{service}``  time to the response's headers (histogram)
- ``bdlab_s3_bytes_in_total`` / ``bdlab_s3_bytes_out_total{bucket}``  request / response
  body bytes of S3 calls (counters)
- ``bdlab_kinesis_records_in_total``, ``bdlab_kinesis_records_out_total``,
  ``bdlab_kinesis_bytes_in_total``, ``bdlab_kinesis_write_throttles_total``,
  ``bdlab_kinesis_read_throttles_total`` and the gauge ``bdlab_kinesis_iterator_age_seconds``
  per ``stream``
- ``bdlab_firehose_records_in_total``, ``bdlab_firehose_records_throttled_total``,
  ``bdlab_firehose_records_delivered_total``, ``bdlab_firehose_bytes_delivered_total`` and the
  gauge ``bdlab_firehose_data_freshness_seconds`` per ``delivery_stream``
- ``bdlab_cloudwatch_alarms{state}``  alarms per state (gauge, every state present)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from sim.emulator.metriccells import MetricCells

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
ALARM_STATES = ("OK", "ALARM", "INSUFFICIENT_DATA")

# (Prometheus name, help, provider metric names summed, kind); kind "last" is a gauge of the
# newest value, scaled by the factor.
_KINESIS: tuple[tuple[str, str, tuple[str, ...], str, float], ...] = (
    ("records_in", "Records accepted by PutRecord(s).", ("IncomingRecords",), "sum", 1),
    ("bytes_in", "Bytes accepted by PutRecord(s).", ("IncomingBytes",), "sum", 1),
    (
        "records_out",
        "Records returned by GetRecords and SubscribeToShard.",
        ("GetRecords.Records", "SubscribeToShardEvent.Records"),
        "sum",
        1,
    ),
    (
        "write_throttles",
        "Records refused with ProvisionedThroughputExceededException on write.",
        ("WriteProvisionedThroughputExceeded",),
        "sum",
        1,
    ),
    (
        "read_throttles",
        "GetRecords calls refused with ProvisionedThroughputExceededException.",
        ("ReadProvisionedThroughputExceeded",),
        "sum",
        1,
    ),
    (
        "iterator_age_seconds",
        "Age of the newest record the last GetRecords returned (AWS's IteratorAge).",
        ("GetRecords.IteratorAgeMilliseconds",),
        "last",
        0.001,
    ),
)
_FIREHOSE: tuple[tuple[str, str, tuple[str, ...], str, float], ...] = (
    ("records_in", "Records accepted by PutRecord(Batch).", ("IncomingRecords",), "sum", 1),
    ("records_throttled", "Records refused (throttled).", ("ThrottledRecords",), "sum", 1),
    (
        "records_delivered",
        "Records delivered to S3.",
        ("DeliveryToS3.Records",),
        "sum",
        1,
    ),
    ("bytes_delivered", "Bytes delivered to S3.", ("DeliveryToS3.Bytes",), "sum", 1),
    (
        "data_freshness_seconds",
        "Age of the oldest record in the stream at its last delivery (AWS's DataFreshness).",
        ("DeliveryToS3.DataFreshness",),
        "last",
        1,
    ),
)


class _CellsCollector(Collector):
    """Series of one provider's metric cells (running totals), labelled by resource."""

    def __init__(
        self,
        prefix: str,
        label: str,
        cells: Callable[[], MetricCells | None],
        table: tuple[tuple[str, str, tuple[str, ...], str, float], ...],
    ) -> None:
        self.prefix, self.label, self.cells, self.table = prefix, label, cells, table

    def collect(self) -> Iterator[Metric]:
        source = self.cells()
        totals = dict(source.totals) if source is not None else {}
        resources = sorted({r for r, _ in totals})
        for name, help_text, metrics, kind, scale in self.table:
            family: CounterMetricFamily | GaugeMetricFamily
            if kind == "sum":
                family = CounterMetricFamily(
                    f"{self.prefix}_{name}", help_text, labels=[self.label]
                )
            else:
                family = GaugeMetricFamily(f"{self.prefix}_{name}", help_text, labels=[self.label])
            for res in resources:
                found = [totals[(res, m)] for m in metrics if (res, m) in totals]
                if not found:
                    continue
                if kind == "sum":
                    family.add_metric([res], sum(t[0] for t in found) * scale)
                else:
                    family.add_metric([res], found[-1][2] * scale)
            yield family


class _AlarmsCollector(Collector):
    def __init__(self, states: Callable[[], Iterable[str]]) -> None:
        self.states = states

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "bdlab_cloudwatch_alarms", "CloudWatch alarms by state.", labels=["state"]
        )
        seen = list(self.states())
        for state in ALARM_STATES:
            family.add_metric([state], sum(s == state for s in seen))
        yield family


class GatewayMetrics:
    """One emulator's registry: request series observed by the gateway, provider series
    collected at scrape time from the callables given (each may answer None)."""

    def __init__(
        self,
        kinesis: Callable[[], MetricCells | None],
        firehose: Callable[[], MetricCells | None],
        alarm_states: Callable[[], Iterable[str]],
    ) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "bdlab_requests",
            "Requests answered by the emulator.",
            ["service", "operation", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "bdlab_request_duration_seconds",
            "Time from routing a request to its response's headers.",
            ["service"],
            registry=self.registry,
        )
        self.s3_in = Counter(
            "bdlab_s3_bytes_in",
            "Request body bytes of S3 calls.",
            ["bucket"],
            registry=self.registry,
        )
        self.s3_out = Counter(
            "bdlab_s3_bytes_out",
            "Response body bytes of S3 calls.",
            ["bucket"],
            registry=self.registry,
        )
        self.registry.register(_CellsCollector("bdlab_kinesis", "stream", kinesis, _KINESIS))
        self.registry.register(
            _CellsCollector("bdlab_firehose", "delivery_stream", firehose, _FIREHOSE)
        )
        self.registry.register(_AlarmsCollector(alarm_states))

    def observe(
        self,
        service: str,
        operation: str,
        status: int,
        seconds: float,
        bucket: str | None = None,
        bytes_in: int = 0,
        bytes_out: int = 0,
    ) -> None:
        """One answered request (``seconds`` to its headers; S3 body sizes in bytes)."""
        self.requests.labels(service, operation, str(status)).inc()
        self.latency.labels(service).observe(seconds)
        if service == "s3":
            label = bucket or ""
            if bytes_in:
                self.s3_in.labels(label).inc(bytes_in)
            if bytes_out:
                self.s3_out.labels(label).inc(bytes_out)

    def exposition(self) -> bytes:
        """The registry in Prometheus's text format (:data:`CONTENT_TYPE`)."""
        return generate_latest(self.registry)


def body_sizes(
    headers: dict[str, str], resp_headers: list[tuple[str, str]], body: Any
) -> tuple[int, int]:
    """(request, response) body bytes: a chunk-signed upload's decoded length where given,
    the response's content-length, or a bytes body's length (0 for a stream without one)."""
    raw_in = headers.get("x-amz-decoded-content-length") or headers.get("content-length") or "0"
    size_in = int(raw_in) if raw_in.isdigit() else 0
    size_out = 0
    for k, v in resp_headers:
        if k.lower() == "content-length" and v.isdigit():
            size_out = int(v)
            break
    else:
        if isinstance(body, bytes | bytearray):
            size_out = len(body)
    return size_in, size_out

"""The Prometheus -> CloudWatch bridge: scrape chosen series from a ``/metrics`` URL every N
seconds and publish them with PutMetricData once per period, the mapping the course teaches:

==============  ==========================================  ==============================
Prometheus      what the bridge sends per period            read back in CloudWatch as
==============  ==========================================  ==============================
counter         the increase (deltas between scrapes; a     ``Sum`` (per period)
                counter that went down restarted from 0)
gauge           StatisticValues over the period's samples   ``Maximum`` (also Minimum,
                                                            Average, SampleCount)
histogram       StatisticValues from the increase of        ``Average`` (Sum / SampleCount)
                ``_sum`` and ``_count``
labels          dimensions (only the labels listed, at      dimensions
                most 30; the other labels are summed or
                maxed away)
==============  ==========================================  ==============================

The mapping is data (:class:`Mapping` of :class:`Series`, or a TOML/JSON file with the same
keys, see monitoring/prom-bridge.toml). Values carry no Timestamp, so CloudWatch stamps them
when it receives them (bdlab's on the emulator clock). Clients come from ``sim.clients``: the
same bridge writes real CloudWatch on the ``aws`` profile.
https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricData.html
https://prometheus.io/docs/concepts/metric_types/
"""

from __future__ import annotations

import json
import threading
import time
import tomllib
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

MAX_DIMENSIONS = 30  # PutMetricData's limit per metric
MAX_DATA_PER_CALL = 1000  # PutMetricData's limit per request
KINDS = ("counter", "gauge", "histogram")


class MappingError(ValueError):
    """A mapping (file) that cannot work; the message names the entry and the fix."""


@dataclass(frozen=True)
class Series:
    """One Prometheus metric family to publish.

    ``metric``: the family's name (``_total`` may be given or not); ``name``: the CloudWatch
    MetricName (default: ``metric``); ``dimensions``: labels kept as dimensions (<= 30);
    ``match``: label values a sample must have; ``unit``: a CloudWatch unit; ``kind``:
    counter | gauge | histogram, default the family's ``# TYPE``; ``aggregate``: how samples
    that differ only in labels not kept combine, ``sum`` or ``max``.
    """

    metric: str
    name: str = ""
    dimensions: tuple[str, ...] = ()
    match: tuple[tuple[str, str], ...] = ()
    unit: str = "None"
    kind: str = ""
    aggregate: str = "sum"

    @property
    def family(self) -> str:
        return self.metric.removesuffix("_total")

    @property
    def cloudwatch_name(self) -> str:
        return self.name or self.metric


@dataclass(frozen=True)
class Mapping:
    """What to publish where: ``namespace``, scrape ``interval_s``, CloudWatch ``period_s``."""

    series: tuple[Series, ...]
    namespace: str = "bdlab/prometheus"
    interval_s: float = 15.0
    period_s: float = 60.0

    def __post_init__(self) -> None:
        for s in self.series:
            where = f"series {s.metric!r}"
            if len(s.dimensions) > MAX_DIMENSIONS:
                raise MappingError(f"{where}: {len(s.dimensions)} dimensions, CloudWatch takes 30")
            if s.kind and s.kind not in KINDS:
                raise MappingError(f"{where}: kind {s.kind!r} is not one of {', '.join(KINDS)}")
            if s.aggregate not in ("sum", "max"):
                raise MappingError(f"{where}: aggregate must be 'sum' or 'max'")
        if self.interval_s <= 0 or self.period_s < self.interval_s:
            raise MappingError("interval_s must be > 0 and period_s >= interval_s")


def mapping_from_dict(doc: dict[str, Any]) -> Mapping:
    """A :class:`Mapping` from a parsed TOML/JSON document; MappingError if malformed."""
    try:
        series = tuple(
            Series(
                metric=str(s["metric"]),
                name=str(s.get("name", "")),
                dimensions=tuple(str(d) for d in s.get("dimensions", ())),
                match=tuple(sorted((str(k), str(v)) for k, v in s.get("match", {}).items())),
                unit=str(s.get("unit", "None")),
                kind=str(s.get("kind", "")),
                aggregate=str(s.get("aggregate", "sum")),
            )
            for s in doc.get("series", [])
        )
        return Mapping(
            series,
            namespace=str(doc.get("namespace", "bdlab/prometheus")),
            interval_s=float(doc.get("interval_s", 15)),
            period_s=float(doc.get("period_s", 60)),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise MappingError(f"malformed mapping ({exc!r}): each [[series]] needs 'metric'") from None


def load_mapping(path: str | Path) -> Mapping:
    """A mapping file: TOML (``.toml``) or JSON. MappingError with the reason."""
    p = Path(path)
    try:
        text = p.read_text()
        doc = tomllib.loads(text) if p.suffix == ".toml" else json.loads(text)
    except OSError as exc:
        raise MappingError(f"cannot read mapping {p}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise MappingError(f"{p} does not parse: {exc}") from None
    return mapping_from_dict(doc)


# bdlab's own series: what `bdlab prom-bridge` publishes without --mapping.
DEFAULT_SERIES: tuple[Series, ...] = (
    Series("bdlab_producer_records_sent_total", "ProducerRecordsSent", ("stream",), unit="Count"),
    Series(
        "bdlab_producer_records_throttled_total",
        "ProducerRecordsThrottled",
        ("stream",),
        unit="Count",
    ),
    Series(
        "bdlab_consumer_millis_behind_latest",
        "ConsumerMillisBehindLatest",
        ("stream", "application"),
        unit="Milliseconds",
        aggregate="max",
    ),
    Series("bdlab_agent_bytes_behind", "AgentBytesBehind", ("flow",), unit="Bytes"),
    Series("bdlab_job_rows_processed_total", "JobRowsProcessed", ("job",), unit="Count"),
    Series("bdlab_job_batch_duration_seconds", "JobBatchDuration", ("job",), unit="Seconds"),
    Series("bdlab_requests_total", "EmulatorRequests", ("service",), unit="Count"),
    Series(
        "bdlab_kinesis_iterator_age_seconds",
        "IteratorAgeSeconds",
        ("stream",),
        unit="Seconds",
        aggregate="max",
    ),
    Series(
        "bdlab_firehose_data_freshness_seconds",
        "DataFreshness",
        ("delivery_stream",),
        unit="Seconds",
        aggregate="max",
    ),
)
DEFAULT_MAPPING = Mapping(DEFAULT_SERIES)

Key = tuple[int, tuple[tuple[str, str], ...]]  # (series index, dimension values)


@dataclass
class _Acc:
    """One (series, dimensions) cell of the open period."""

    values: list[float] = field(default_factory=list)  # deltas (counter) or samples (gauge)
    hist_sum: float = 0.0
    hist_count: float = 0.0


def read_samples(text: str, mapping: Mapping) -> dict[Key, tuple[str, float, float]]:
    """The mapped series of one exposition ``text``: key -> (kind, value, histogram count).
    Counters and gauges give (kind, value, 0); histograms ("histogram", _sum, _count)."""
    by_family: dict[str, list[int]] = {}
    for i, s in enumerate(mapping.series):
        by_family.setdefault(s.family, []).append(i)
    out: dict[Key, tuple[str, float, float]] = {}
    for fam in text_string_to_metric_families(text):
        name = fam.name.removesuffix("_total")
        for i in by_family.get(name, ()):
            s = mapping.series[i]
            kind = s.kind or fam.type
            if kind not in KINDS:  # untyped/summary: treated as a gauge
                kind = "gauge"
            for sample in fam.samples:
                labels = sample.labels
                if any(labels.get(k) != v for k, v in s.match):
                    continue
                if kind == "counter" and sample.name not in (fam.name, fam.name + "_total"):
                    continue  # the _created sample
                if kind == "gauge" and sample.name != fam.name:
                    continue
                if kind == "histogram" and not sample.name.endswith(("_sum", "_count")):
                    continue
                dims = tuple((d, labels[d]) for d in s.dimensions if labels.get(d))
                key = (i, dims)
                _, v, n = out.get(key, (kind, float("nan"), 0.0))
                if kind == "histogram":
                    if sample.name.endswith("_sum"):
                        v = sample.value if v != v else v + sample.value
                    else:
                        n += sample.value
                        v = 0.0 if v != v else v
                elif v != v:  # first sample of this key
                    v = sample.value
                elif s.aggregate == "max":
                    v = max(v, sample.value)
                else:
                    v += sample.value
                out[key] = (kind, v, n)
    return out


class Bridge:
    """Scrapes into the open period (:meth:`observe`) and turns it into PutMetricData entries
    (:meth:`take`). Plain Python: the tests drive it without a clock or a network."""

    def __init__(self, mapping: Mapping) -> None:
        self.mapping = mapping
        self._last: dict[Key, tuple[float, float]] = {}  # counter/histogram: previous scrape
        self._open: dict[Key, _Acc] = {}

    def observe(self, text: str) -> None:
        """Fold one scrape (Prometheus text format) into the open period."""
        for key, (kind, value, count) in read_samples(text, self.mapping).items():
            acc = self._open.setdefault(key, _Acc())
            if kind == "gauge":
                acc.values.append(value)
                continue
            prev = self._last.get(key)
            self._last[key] = (value, count)
            if prev is None:
                continue  # the first scrape is the baseline, as Prometheus's increase()
            if kind == "counter":
                # a counter that went down was restarted: it counted from 0 since
                acc.values.append(value - prev[0] if value >= prev[0] else value)
            else:
                reset = count < prev[1]
                acc.hist_count += count if reset else count - prev[1]
                acc.hist_sum += value if reset else value - prev[0]

    def take(self) -> list[dict[str, Any]]:
        """PutMetricData entries for the open period (then a new period opens). A counter
        that saw two scrapes gives its Sum even when 0; a histogram without new observations
        gives nothing (CloudWatch has no empty StatisticValues)."""
        out: list[dict[str, Any]] = []
        for (i, dims), acc in sorted(self._open.items()):
            s = self.mapping.series[i]
            if acc.hist_count > 0:
                mean = acc.hist_sum / acc.hist_count
                stats = {"SampleCount": acc.hist_count, "Sum": acc.hist_sum}
                stats.update(Minimum=mean, Maximum=mean)
            elif acc.values:
                stats = {
                    "SampleCount": float(len(acc.values)),
                    "Sum": float(sum(acc.values)),
                    "Minimum": float(min(acc.values)),
                    "Maximum": float(max(acc.values)),
                }
            else:
                continue
            out.append(
                {
                    "MetricName": s.cloudwatch_name,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in dims],
                    "StatisticValues": stats,
                    "Unit": s.unit,
                }
            )
        self._open = {}
        return out


def fetch(url: str, timeout: float = 10.0) -> str:
    """The exposition text at ``url``; OSError (with the URL) when it does not answer."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return str(r.read().decode("utf-8"))
    except OSError as exc:
        raise OSError(f"cannot scrape {url}: {exc}") from None


def publish(cloudwatch: Any, namespace: str, data: list[dict[str, Any]]) -> int:
    """PutMetricData in calls of at most 1,000 entries; returns the entries sent."""
    for start in range(0, len(data), MAX_DATA_PER_CALL):
        cloudwatch.put_metric_data(
            Namespace=namespace, MetricData=data[start : start + MAX_DATA_PER_CALL]
        )
    return len(data)


def run(
    urls: list[str],
    mapping: Mapping,
    cloudwatch: Any,
    *,
    stop: threading.Event | None = None,
    duration_s: float | None = None,
    report: Callable[[str], None] = lambda _line: None,
    scrape: Callable[[str], str] = fetch,
) -> int:
    """Scrape ``urls`` every ``mapping.interval_s`` and publish every ``mapping.period_s``
    (wall clock: Prometheus scrapes on it too) until ``stop`` or ``duration_s``; the open
    period is published on the way out. Returns the entries published. A target that does
    not answer is reported and skipped for that scrape."""
    stop = stop or threading.Event()
    bridges = {u: Bridge(mapping) for u in urls}
    started = time.monotonic()
    period_end = started + mapping.period_s
    sent = 0

    def flush() -> None:
        nonlocal sent
        data = [d for b in bridges.values() for d in b.take()]
        sent += publish(cloudwatch, mapping.namespace, data)
        report(f"published {len(data)} values to {mapping.namespace}")

    while True:
        for url, bridge in bridges.items():
            try:
                bridge.observe(scrape(url))
            except OSError as exc:
                report(str(exc))
        now = time.monotonic()
        if now >= period_end:
            flush()
            while period_end <= now:
                period_end += mapping.period_s
        if duration_s is not None and now - started >= duration_s:
            break
        if stop.wait(mapping.interval_s):
            break
    flush()
    return sent

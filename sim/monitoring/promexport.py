"""Prometheus metrics of the pipeline's components (producer, consumer, log agent, Spark jobs),
served on loopback with prometheus-client's own HTTP server.

A component keeps its counters as it always did (``ProducerStats``, ``ConsumerStats``, the
agent's status); the collectors here read them when scraped, so no hot path takes a lock for
Prometheus. Spark jobs report through :class:`JobMetrics` (a StreamingQueryListener for
streaming queries, :meth:`JobMetrics.batch` for batch jobs).

Series (https://prometheus.io/docs/practices/naming/), every one labelled as listed:

=============================================  =======  ======================================
``bdlab_producer_records_sent_total``          counter  stream; records acknowledged
``bdlab_producer_user_records_total``          counter  stream; user records in KPL aggregates
``bdlab_producer_records_retried_total``       counter  stream; entries resent
``bdlab_producer_records_throttled_total``     counter  stream; of those, throttled
``bdlab_producer_calls_total``                 counter  stream; PutRecords calls
``bdlab_consumer_records_total``               counter  stream, application
``bdlab_consumer_batches_total``               counter  stream, application
``bdlab_consumer_throttles_total``             counter  stream, application
``bdlab_consumer_millis_behind_latest``        gauge    stream, application, shard
``bdlab_agent_bytes_behind``                   gauge    flow, destination
``bdlab_agent_lines_pending``                  gauge    flow, destination
``bdlab_agent_records_sent_total``             counter  flow, destination
``bdlab_agent_records_throttled_total``        counter  flow, destination
``bdlab_job_rows_processed_total``             counter  job
``bdlab_job_batch_duration_seconds``           histo.   job
``bdlab_job_batches_total``                    counter  job
``bdlab_job_batch_rows``                       gauge    job; input rows of the last batch
``bdlab_job_input_rows_per_second``            gauge    job; streaming: arrival rate (Spark's)
``bdlab_job_processed_rows_per_second``        gauge    job; streaming: processing rate
``bdlab_job_watermark_lag_seconds``            gauge    job; streaming: batch time - watermark
``bdlab_job_quality_pass_ratio``               gauge    job; quality_stream: last batch, 0..1
``bdlab_job_quality_records_total``            counter  job; quality_stream: records checked
``bdlab_job_quality_failed_records_total``     counter  job, rule; quality_stream
=============================================  =======  ======================================

Gauges of a query appear once it reports them (a watermark only with withWatermark).
"""

from __future__ import annotations

import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

LOOPBACK = "127.0.0.1"


@dataclass
class MetricsServer:
    """A running /metrics endpoint: ``url`` is ``http://127.0.0.1:<port>/metrics``."""

    port: int
    registry: CollectorRegistry
    _server: Any
    _thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/metrics"

    def close(self) -> None:
        """Stop serving (idempotent)."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def serve_metrics(port: int = 0, registry: CollectorRegistry | None = None) -> MetricsServer:
    """Serve ``registry`` (default: a new one) at ``/metrics`` on 127.0.0.1:``port`` (0: any
    free port) from a daemon thread. OSError when the port is taken."""
    registry = registry if registry is not None else CollectorRegistry()
    try:
        server, thread = start_http_server(port, addr=LOOPBACK, registry=registry)
    except OSError as exc:
        raise OSError(
            f"cannot serve metrics on {LOOPBACK}:{port} ({exc.strerror}): choose another "
            "--metrics-port (0 picks a free one)"
        ) from None
    return MetricsServer(int(server.server_port), registry, server, thread)


def _family(kind: str, name: str, help_text: str, labels: list[str]) -> Any:
    return (CounterMetricFamily if kind == "counter" else GaugeMetricFamily)(
        name, help_text, labels=labels
    )


class _StatsCollector(Collector):
    """Families built by ``read`` at scrape time; a read that fails (a component stopping
    under us) yields nothing rather than breaking the scrape."""

    def __init__(self, read: Callable[[], list[Any]]) -> None:
        self.read = read

    def collect(self) -> Iterator[Metric]:
        try:
            families = self.read()
        except Exception:  # a scrape must never take the component down
            return
        yield from families


def watch_producer(producer: Any, registry: CollectorRegistry) -> None:
    """Export a :class:`sim.kinesis.producer.Producer`'s stats (read when scraped)."""
    labels = [producer.stream]

    def read() -> list[Any]:
        st = producer.stats
        out = []
        for name, help_text, v in (
            ("records_sent", "Records acknowledged by Kinesis.", st.sent),
            ("user_records", "User records packed into KPL aggregates.", st.user_records),
            ("records_retried", "Entries resent after a per-record failure.", st.retried),
            ("records_throttled", "Entries refused with throughput exceeded.", st.throttled),
            ("calls", "PutRecords calls made.", st.calls),
        ):
            fam = _family("counter", f"bdlab_producer_{name}", help_text, ["stream"])
            fam.add_metric(labels, v)
            out.append(fam)
        return out

    registry.register(_StatsCollector(read))


def watch_consumer(consumer: Any, registry: CollectorRegistry, application: str) -> None:
    """Export a :class:`sim.kinesis.consumer.Consumer`'s stats and per-shard lag
    (MillisBehindLatest of its last GetRecords, milliseconds)."""
    labels = [consumer.stream, application]

    def read() -> list[Any]:
        st = consumer.stats
        out = []
        for name, help_text, v in (
            ("records", "User records processed and checkpointed.", st.records),
            ("batches", "Batches processed.", st.batches),
            ("throttles", "GetRecords calls refused with throughput exceeded.", st.throttled),
        ):
            fam = _family("counter", f"bdlab_consumer_{name}", help_text, ["stream", "application"])
            fam.add_metric(labels, v)
            out.append(fam)
        lag = _family(
            "gauge",
            "bdlab_consumer_millis_behind_latest",
            "How far the last GetRecords was behind the shard's tip (ms).",
            ["stream", "application", "shard"],
        )
        for shard, ms in sorted(dict(st.millis_behind).items()):
            lag.add_metric([*labels, shard], ms)
        out.append(lag)
        return out

    registry.register(_StatsCollector(read))


def watch_agent(agent: Any, registry: CollectorRegistry) -> None:
    """Export a :class:`sim.logship.agent.Agent`'s lag and counters per flow."""

    def read() -> list[Any]:
        flows = agent.final_status().flows
        specs = (
            ("gauge", "bytes_behind", "Bytes of tracked files not yet acknowledged."),
            ("gauge", "lines_pending", "Complete lines not yet acknowledged."),
            ("counter", "records_sent", "Records acknowledged since start."),
            ("counter", "records_throttled", "Records refused with throughput exceeded."),
        )
        out = []
        for kind, name, help_text in specs:
            fam = _family(kind, f"bdlab_agent_{name}", help_text, ["flow", "destination"])
            field = "throttled" if name == "records_throttled" else name
            for f in flows:
                fam.add_metric([f.flow_id, f.destination], getattr(f, field))
            out.append(fam)
        return out

    registry.register(_StatsCollector(read))


class JobMetrics:
    """Rows processed and batch durations of one Spark job (label ``job``); for streaming
    queries also Spark's rates and watermark lag (:meth:`attach`), for quality checks the
    pass ratio and failures by rule (:meth:`quality`)."""

    def __init__(self, job: str, registry: CollectorRegistry) -> None:
        self.job = job
        self.url: str | None = None  # where they are served, when job_endpoint serves them
        self._listener: Any = None

        def counter(name: str, help_text: str, labels: tuple[str, ...] = ("job",)) -> Counter:
            return Counter(name, help_text, list(labels), registry=registry)

        def gauge(name: str, help_text: str) -> Gauge:
            return Gauge(name, help_text, ["job"], registry=registry)

        self.rows = counter("bdlab_job_rows_processed", "Input rows processed.")
        self.batches = counter("bdlab_job_batches", "Batches finished.")
        self.duration = Histogram(
            "bdlab_job_batch_duration_seconds",
            "Wall time of a (micro-)batch.",
            ["job"],
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
            registry=registry,
        )
        self.batch_rows = gauge("bdlab_job_batch_rows", "Input rows of the last batch.")
        self.input_rate = gauge(
            "bdlab_job_input_rows_per_second", "Rows arriving per second (last micro-batch)."
        )
        self.processed_rate = gauge(
            "bdlab_job_processed_rows_per_second", "Rows processed per second (last micro-batch)."
        )
        self.watermark_lag = gauge(
            "bdlab_job_watermark_lag_seconds",
            "Seconds between the last micro-batch's start and the event-time watermark.",
        )
        self.pass_ratio = gauge(
            "bdlab_job_quality_pass_ratio", "Share of the last batch's records that passed (0..1)."
        )
        self.checked = counter("bdlab_job_quality_records", "Records checked for quality.")
        self.failed = counter(
            "bdlab_job_quality_failed_records",
            "Records that broke a quality rule, by rule.",
            ("job", "rule"),
        )

    def record(self, rows: float, seconds: float) -> None:
        """One finished batch: ``rows`` input rows in ``seconds`` of wall time."""
        self.rows.labels(self.job).inc(rows)
        self.batches.labels(self.job).inc()
        self.duration.labels(self.job).observe(seconds)
        self.batch_rows.labels(self.job).set(rows)

    def record_progress(self, progress: Any) -> None:
        """One micro-batch from a StreamingQueryProgress (or anything with its attributes):
        numInputRows, batchDuration (ms), inputRowsPerSecond, processedRowsPerSecond,
        timestamp and eventTime["watermark"] (ISO 8601 text)."""
        self.record(float(progress.numInputRows), float(progress.batchDuration) / 1000)
        for gauge, value in (
            (self.input_rate, progress.inputRowsPerSecond),
            (self.processed_rate, progress.processedRowsPerSecond),
        ):
            if value is not None and value == value:  # Spark reports NaN before any data
                gauge.labels(self.job).set(float(value))
        lag = _watermark_lag(progress.timestamp, dict(progress.eventTime or {}).get("watermark"))
        if lag is not None:
            self.watermark_lag.labels(self.job).set(lag)

    def quality(self, total: int, good: int, failures: Mapping[str, int]) -> None:
        """One checked batch: ``total`` records, ``good`` of them passed, ``failures`` rule ->
        records that broke it. An empty batch leaves the pass ratio as it was."""
        if total:
            self.pass_ratio.labels(self.job).set(good / total)
        self.checked.labels(self.job).inc(total)
        for rule, n in failures.items():
            self.failed.labels(self.job, rule).inc(n)

    def batch(self) -> _Timed:
        """``with metrics.batch() as b: ...; b.rows = n``: times a batch job's run (recorded
        when the block finishes without an exception)."""
        return _Timed(self)

    def listener(self, query_name: str | None = None) -> Any:
        """A StreamingQueryListener (``spark.streams.addListener``) recording each
        micro-batch's progress (:meth:`record_progress`), of the query named ``query_name``
        only when given (a session may run several)."""
        from pyspark.sql.streaming import StreamingQueryListener

        metrics = self

        class _Listener(StreamingQueryListener):  # type: ignore[misc]
            def onQueryStarted(self, event: Any) -> None:  # noqa: N802 (Spark's names)
                pass

            def onQueryProgress(self, event: Any) -> None:  # noqa: N802
                p = event.progress
                if query_name is None or p.name == query_name:
                    metrics.record_progress(p)

            def onQueryIdle(self, event: Any) -> None:  # noqa: N802
                pass

            def onQueryTerminated(self, event: Any) -> None:  # noqa: N802
                pass

        return _Listener()

    def attach(self, spark: Any) -> str:
        """Listen to ``spark``'s streaming queries; returns the query name to give the job's
        query (``writer.queryName(...)``), whose progress alone is recorded. :meth:`detach`
        removes the listener."""
        self.detach(spark)
        name = f"{self.job}-{uuid.uuid4().hex[:8]}"
        self._listener = self.listener(name)
        spark.streams.addListener(self._listener)
        return name

    def detach(self, spark: Any) -> None:
        """Remove the listener :meth:`attach` added (idempotent)."""
        if self._listener is not None:
            spark.streams.removeListener(self._listener)
            self._listener = None


def _watermark_lag(batch_time: str | None, watermark: str | None) -> float | None:
    """Seconds from ``watermark`` to ``batch_time`` (both ISO 8601, Spark's progress); None
    without a watermark (Spark reports the epoch before the first one is known)."""
    if not batch_time or not watermark:
        return None
    try:
        t = datetime.fromisoformat(batch_time.replace("Z", "+00:00"))
        w = datetime.fromisoformat(watermark.replace("Z", "+00:00"))
    except ValueError:
        return None
    if w.timestamp() <= 0:
        return None
    return (t - w).total_seconds()


class _Timed:
    def __init__(self, metrics: JobMetrics) -> None:
        self.metrics = metrics
        self.rows = 0.0
        self._t0 = 0.0

    def __enter__(self) -> _Timed:
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:  # a failed run processed nothing that counts
            self.metrics.record(self.rows, time.perf_counter() - self._t0)


@contextmanager
def job_endpoint(job: str, port: int, linger_s: float = 0.0) -> Iterator[JobMetrics]:
    """Serve a :class:`JobMetrics` for ``job`` on 127.0.0.1:``port`` (0: any free port) while
    the block runs, then ``linger_s`` seconds more so a scrape (every 15 s by default) sees
    the final values of a job that just finished. The URL goes to stderr. OSError when the
    port is taken."""
    server = serve_metrics(port)
    print(f"{job}: metrics on {server.url}", file=sys.stderr, flush=True)
    metrics = JobMetrics(job, server.registry)
    metrics.url = server.url
    try:
        yield metrics
        if linger_s > 0:
            time.sleep(linger_s)
    finally:
        server.close()


@contextmanager
def batch_endpoint(job: str, port: int, linger_s: float = 0.0) -> Iterator[_Timed]:
    """:func:`job_endpoint` around a batch job's run: ``with batch_endpoint(...) as b: ...;
    b.rows = n`` records one batch of ``n`` input rows and the block's wall time."""
    with job_endpoint(job, port, linger_s) as metrics, metrics.batch() as timed:
        yield timed


def take_metrics_port(argv: list[str]) -> tuple[list[str], int | None]:
    """``argv`` without ``--metrics-port N`` (or ``--metrics-port=N``), and N (None if
    absent); for entry points with positional arguments (Spark jobs). ValueError when N is
    missing or not a port number."""
    rest: list[str] = []
    port: int | None = None
    it = iter(argv)
    for arg in it:
        if arg == "--metrics-port" or arg.startswith("--metrics-port="):
            raw = arg.partition("=")[2] if "=" in arg else next(it, "")
            if not raw.isdigit() or int(raw) > 65535:
                raise ValueError(f"--metrics-port needs a port number (0-65535), got {raw!r}")
            port = int(raw)
        else:
            rest.append(arg)
    return rest, port

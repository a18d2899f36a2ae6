"""Real-time analytics on a Kinesis stream (the course's Kinesis Data Analytics stand-in):
click events read with ``spark.kinesis_source``, revenue per country in tumbling or sliding
event-time windows with a watermark (events later than it are dropped, as Spark documents),
each finished window appended to a Delta table in the lake and sent to CloudWatch as a custom
metric (namespace ``bdlab/realtime``, metric ``Revenue``, dimension ``Country``).

    python -m spark.jobs.realtime STREAM s3a://lake/gold/realtime_revenue CHECKPOINT \
        [--available-now] [--metrics-port 9104]

``--metrics-port P`` serves Prometheus metrics of the query on 127.0.0.1:P/metrics (0: any
free port), label ``job="realtime"``: rows and duration per micro-batch, input and processing
rates, and the watermark's lag behind the batch time (``sim.monitoring.promexport.JobMetrics``,
fed by a StreamingQueryListener).

The transforms are pure (DataFrame -> DataFrame) and tested on small frames.
https://spark.apache.org/docs/latest/structured-streaming-programming-guide.html#handling-late-data-and-watermarking
"""

from __future__ import annotations

import sys
from typing import Any

EVENT_SCHEMA = (
    "event_id string, event_time timestamp, event_type string, country string, "
    "price double, quantity int"
)
NAMESPACE = "bdlab/realtime"


def parse_events(raw: Any) -> Any:
    """The Kinesis source's rows as click events (records that do not parse are dropped)."""
    from pyspark.sql import functions as F

    parsed = raw.select(F.from_json(F.col("data").cast("string"), EVENT_SCHEMA).alias("e"))
    return parsed.select("e.*").where(F.col("event_time").isNotNull())


def windowed_revenue(
    events: Any, window: str = "1 minute", slide: str | None = None, watermark: str = "2 minutes"
) -> Any:
    """Purchases per ``window`` (sliding by ``slide`` when given) and country: orders and
    revenue, with ``watermark`` of allowed lateness on event_time."""
    from pyspark.sql import functions as F

    w = F.window("event_time", window, slide) if slide else F.window("event_time", window)
    return (
        events.withWatermark("event_time", watermark)
        .where(F.col("event_type") == "purchase")
        .groupBy(w.alias("w"), "country")
        .agg(
            F.count(F.lit(1)).alias("orders"),
            F.round(F.sum(F.col("price") * F.col("quantity")), 2).alias("revenue"),
        )
        .select(
            F.col("w.start").alias("window_start"),
            F.col("w.end").alias("window_end"),
            "country",
            "orders",
            "revenue",
        )
    )


def metric_data(rows: list[Any]) -> list[dict[str, Any]]:
    """CloudWatch PutMetricData entries for finished windows (timestamped at the window's end)."""
    return [
        {
            "MetricName": "Revenue",
            "Dimensions": [{"Name": "Country", "Value": r["country"]}],
            "Timestamp": r["window_end"],
            "Value": float(r["revenue"] or 0.0),
            "Unit": "None",
        }
        for r in rows
    ]


def start(
    spark: Any,
    profile: Any,
    stream: str,
    delta_path: str,
    checkpoint: str,
    *,
    window: str = "1 minute",
    slide: str | None = None,
    watermark: str = "2 minutes",
    available_now: bool = False,
    starting_position: str = "TRIM_HORIZON",
    metrics: Any = None,
) -> Any:
    """Start the query: append each finished window to ``delta_path`` and to CloudWatch.
    ``metrics``: a ``JobMetrics`` that records each micro-batch's progress (the caller
    detaches it). Returns the StreamingQuery."""
    from sim import clients
    from spark.kinesis_source import options_for, register

    register(spark)
    raw = (
        spark.readStream.format("kinesis")
        .options(**options_for(profile, stream, startingPosition=starting_position))
        .load()
    )
    out = windowed_revenue(parse_events(raw), window, slide, watermark)

    def sink(batch: Any, batch_id: int) -> None:
        # two actions on one micro-batch: without the cache Spark would run the windowed
        # aggregation (and read the shards' rows) twice
        batch.persist()
        try:
            batch.write.format("delta").mode("append").save(delta_path)
            rows = [r.asDict() for r in batch.collect()]
        finally:
            batch.unpersist()
        cw = clients.client("cloudwatch", profile)
        data = metric_data(rows)
        for i in range(0, len(data), 1000):
            cw.put_metric_data(Namespace=NAMESPACE, MetricData=data[i : i + 1000])

    writer = (
        out.writeStream.outputMode("append")  # a window once, when the watermark passes it
        .foreachBatch(sink)
        .option("checkpointLocation", checkpoint)
    )
    writer = writer.trigger(availableNow=True) if available_now else writer
    if metrics is not None:  # Prometheus: a listener on this query's progress
        writer = writer.queryName(metrics.attach(spark))
    return writer.start()


def main(argv: list[str] | None = None) -> int:
    import argparse

    from spark import notebook  # the public entry: settings and profile resolved there

    p = argparse.ArgumentParser(prog="python -m spark.jobs.realtime", description=__doc__)
    p.add_argument("stream")
    p.add_argument("delta_path")
    p.add_argument("checkpoint")
    p.add_argument("--window", default="1 minute")
    p.add_argument("--slide", default=None)
    p.add_argument("--watermark", default="2 minutes")
    p.add_argument("--available-now", action="store_true")
    p.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        metavar="P",
        help="serve Prometheus metrics on 127.0.0.1:P/metrics (0: any free port)",
    )
    p.add_argument(
        "--metrics-linger",
        type=float,
        default=0.0,
        metavar="S",
        help="keep serving them S seconds after the query ends (for the last scrape)",
    )
    a = p.parse_args(argv)
    with _metrics(a.metrics_port, a.metrics_linger) as metrics:
        q = start(
            notebook.spark,
            notebook.profile,
            a.stream,
            a.delta_path,
            a.checkpoint,
            window=a.window,
            slide=a.slide,
            watermark=a.watermark,
            available_now=a.available_now,
            metrics=metrics,
        )
        try:
            q.awaitTermination()
        finally:
            if metrics is not None:
                metrics.detach(notebook.spark)
    return 0


def _metrics(port: int | None, linger_s: float) -> Any:
    """The job's Prometheus endpoint when a port is given, else a context giving None."""
    if port is None:
        from contextlib import nullcontext

        return nullcontext()
    from sim.monitoring.promexport import job_endpoint

    return job_endpoint("realtime", port, linger_s)


if __name__ == "__main__":
    sys.exit(main())

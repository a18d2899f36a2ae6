"""Gold job: daily revenue and orders by country from raw clickstream events.

Self-contained (only PySpark), so the same file runs as an EMR step:

    spark-submit daily_revenue.py s3://bucket/raw/events/ s3://bucket/gold/daily_revenue [parquet|delta]

``--metrics-port P`` serves Prometheus metrics of the run on 127.0.0.1:P/metrics (0: any free
port; ``bdlab_job_rows_processed_total``, the source's rows, and
``bdlab_job_batch_duration_seconds``, label ``job="daily_revenue"``) while it runs and
``--metrics-linger S`` seconds after; only then is bdlab's ``sim`` package needed.
"""

from __future__ import annotations

import sys
from contextlib import nullcontext
from types import SimpleNamespace
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F


def daily_revenue(events: DataFrame) -> DataFrame:
    """Purchases only; revenue = price * quantity; one row per (dt, country)."""
    purchases = events.where(F.col("event_type") == "purchase")
    day = F.date_format("event_time", "yyyy-MM-dd")
    dt = F.coalesce(F.col("dt").cast("string"), day) if "dt" in events.columns else day
    return (
        purchases.withColumn("dt", dt)
        .groupBy("dt", "country")
        .agg(
            F.count("*").alias("orders"),
            F.sum("quantity").alias("items"),
            F.round(F.sum(F.col("price") * F.col("quantity")), 2).alias("revenue"),
        )
        .orderBy("dt", F.desc("revenue"))
    )


def run(spark: Any, source: str, target: str, fmt: str = "delta") -> DataFrame:
    events = spark.read.parquet(source)
    result = daily_revenue(events)
    result.write.format(fmt).mode("overwrite").partitionBy("dt").save(target)
    return spark.read.format(fmt).load(target)


def main(argv: list[str] | None = None) -> int:
    """``daily_revenue.py SOURCE TARGET [parquet|delta] [--metrics-port P] [--metrics-linger
    S]``; 0 on success, 2 on a usage error."""
    import argparse

    ap = argparse.ArgumentParser(prog="daily_revenue.py", description="daily revenue by country")
    ap.add_argument("source", help="raw events as Parquet")
    ap.add_argument("target", help="where the table goes")
    ap.add_argument("format", nargs="?", default="delta", choices=("parquet", "delta"))
    ap.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        metavar="P",
        help="serve Prometheus metrics on 127.0.0.1:P/metrics (0: any free port)",
    )
    ap.add_argument(
        "--metrics-linger",
        type=float,
        default=0.0,
        metavar="S",
        help="keep serving them S seconds after the run (for the last scrape)",
    )
    a = ap.parse_args(argv)
    # Under spark-submit (local or EMR) the session's settings come from the submit command.
    spark = SparkSession.builder.appName("daily_revenue").getOrCreate()
    try:
        with _metrics(a.metrics_port, a.metrics_linger) as batch:
            out = run(spark, a.source, a.target, a.format)
            if a.metrics_port is not None:  # Parquet's row count comes from its footers: cheap
                batch.rows = spark.read.parquet(a.source).count()
    except OSError as e:  # the metrics port taken
        print(f"daily_revenue: {e}", file=sys.stderr)
        return 2
    print(f"daily_revenue: {out.count()} rows written to {a.target}")
    return 0


def _metrics(port: int | None, linger_s: float) -> Any:
    """Prometheus metrics of the run (``rows`` set by the caller); bdlab's sim package is
    imported only when they are asked for: the job runs on PySpark alone."""
    if port is None:
        return nullcontext(SimpleNamespace(rows=0))
    try:
        from sim.monitoring.promexport import batch_endpoint
    except ImportError:
        raise SystemExit("daily_revenue: --metrics-port needs bdlab's sim package") from None
    return batch_endpoint("daily_revenue", port, linger_s)


if __name__ == "__main__":
    sys.exit(main())

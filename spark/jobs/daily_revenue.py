"""Gold job: daily revenue and orders by country from raw clickstream events.

Self-contained (only PySpark), so the same file runs as an EMR step:

    spark-submit daily_revenue.py s3://bucket/raw/events/ s3://bucket/gold/daily_revenue [parquet|delta]
"""

from __future__ import annotations

import sys
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
    args = argv if argv is not None else sys.argv[1:]
    if len(args) not in (2, 3) or (len(args) == 3 and args[2] not in ("parquet", "delta")):
        print(
            "usage: daily_revenue.py <source parquet path> <target path> [parquet|delta]",
            file=sys.stderr,
        )
        return 2
    # Under spark-submit (local or EMR) the session's settings come from the submit command.
    spark = SparkSession.builder.appName("daily_revenue").getOrCreate()
    out = run(spark, args[0], args[1], args[2] if len(args) == 3 else "delta")
    print(f"daily_revenue: {out.count()} rows written to {args[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

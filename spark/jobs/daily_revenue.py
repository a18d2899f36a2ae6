"""Gold job: daily revenue and orders by country from raw clickstream events.

python -m spark.jobs.daily_revenue s3a://bucket/raw/events/ s3a://bucket/gold/daily_revenue
"""

from __future__ import annotations

import sys
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


def daily_revenue(events: DataFrame) -> DataFrame:
    """Purchases only; revenue = price * quantity; one row per (dt, country)."""
    purchases = events.where(F.col("event_type") == "purchase")
    dt = (
        F.coalesce(F.col("dt").cast("string"), F.date_format("event_time", "yyyy-MM-dd"))
        if "dt" in events.columns
        else F.date_format("event_time", "yyyy-MM-dd")
    )
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


def run(spark: Any, source: str, target: str) -> DataFrame:
    events = spark.read.parquet(source)
    result = daily_revenue(events)
    result.write.format("delta").mode("overwrite").partitionBy("dt").save(target)
    return spark.read.format("delta").load(target)


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 2:
        print("usage: daily_revenue <source parquet path> <target delta path>", file=sys.stderr)
        return 2
    from spark.session import get_session

    out = run(get_session(app_name="daily_revenue"), args[0], args[1])
    out.show(20, truncate=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())

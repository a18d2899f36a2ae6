"""Reference EMR step of lab 2.2.5 (a PySpark script the cluster runs).

    spark-submit hourly_job.py s3://<bucket>/raw/clicks/ s3://<bucket>/agg/hourly_clicks/

Reads the JSON Lines objects Firehose wrote (GZIP; Spark decompresses by the .gz extension)
under Hive-style partitions year=/month=/day=/hour= (Spark turns them into columns).
"""

import sys

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F


def hourly_clicks(events: DataFrame) -> DataFrame:
    """One row per (year, month, day, hour, event_type): events, and revenue of purchases."""
    purchase_price = F.when(F.col("event_type") == "purchase", F.col("price"))
    return events.groupBy("year", "month", "day", "hour", "event_type").agg(
        F.count("*").alias("events"),
        F.round(F.sum(purchase_price), 2).alias("revenue"),
    )


def main(source: str, target: str) -> None:
    spark = SparkSession.builder.appName("hourly-clicks").getOrCreate()
    events = spark.read.json(source)
    hourly_clicks(events).write.mode("overwrite").parquet(target)
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

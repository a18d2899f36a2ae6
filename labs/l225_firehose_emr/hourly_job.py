"""Lab 2.2.5, 3단계: the EMR step (a PySpark script the cluster runs).

    spark-submit hourly_job.py s3://<bucket>/raw/clicks/ s3://<bucket>/agg/hourly_clicks/

Reads the JSON Lines objects Firehose wrote (GZIP; Spark decompresses by the .gz extension)
under Hive-style partitions year=/month=/day=/hour= (Spark turns them into columns).
"""

import sys

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: F401 (3단계에서 씁니다)


def hourly_clicks(events: DataFrame) -> DataFrame:
    """One row per (year, month, day, hour, event_type): events, and revenue of purchases."""
    # TODO(3단계): events.groupBy("year", "month", "day", "hour", "event_type").agg(
    #                  F.count("*").alias("events"),
    #                  F.round(F.sum(F.when(F.col("event_type") == "purchase",
    #                                       F.col("price"))), 2).alias("revenue"))
    raise NotImplementedError("TODO 3단계: README.md의 '3단계'를 보고 hourly_clicks를 채우세요.")


def main(source: str, target: str) -> None:
    spark = SparkSession.builder.appName("hourly-clicks").getOrCreate()
    events = spark.read.json(source)
    hourly_clicks(events).write.mode("overwrite").parquet(target)
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

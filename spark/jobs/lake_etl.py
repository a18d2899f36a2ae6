"""Batch ETL of the lake: raw JSON -> bronze (Delta) -> silver (typed, clean, deduplicated)
-> gold aggregates (daily revenue by country, conversion funnel, top products).

Re-running it is safe: bronze and silver are MERGEd on ``event_id`` (late or repeated input
changes nothing twice), gold is recomputed for the days the run touched. Input lines that are
not valid JSON or drift from the schema go to a quarantine table with the reason, and the run
reports how many. Self-contained (only PySpark + Delta), so it also runs as an EMR step:

    spark-submit lake_etl.py s3://bucket/raw/events/ s3://bucket/lake/
"""

from __future__ import annotations

import json
import sys
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

EVENT_SCHEMA = T.StructType(
    [
        T.StructField("event_id", T.StringType()),
        T.StructField("event_time", T.StringType()),
        T.StructField("user_id", T.LongType()),
        T.StructField("session_id", T.StringType()),
        T.StructField("event_type", T.StringType()),
        T.StructField("product_id", T.IntegerType()),
        T.StructField("category", T.StringType()),
        T.StructField("price", T.DoubleType()),
        T.StructField("quantity", T.IntegerType()),
        T.StructField("country", T.StringType()),
        T.StructField("device", T.StringType()),
    ]
)
REQUIRED = ("event_id", "event_time", "event_type", "user_id")
EVENT_TYPES = ("view", "click", "add_to_cart", "purchase")
FUNNEL = ("view", "click", "add_to_cart", "purchase")


# ----------------------------------------------------------------- pure transforms
def parse(raw_lines: DataFrame, cache: bool = False) -> tuple[DataFrame, DataFrame]:
    """Split raw JSON lines (column ``value``, optional ``_source``) into parsed rows and
    quarantined ones, each quarantined row with a ``reason``."""
    known = F.array(*[F.lit(f.name) for f in EVENT_SCHEMA.fields])
    # Two parses per line (typed, and as a string map for keys and raw values) instead of one
    # per field: JSON parsing dominates this job.
    df = raw_lines.withColumn("_json", F.from_json("value", EVENT_SCHEMA, {"mode": "PERMISSIVE"}))
    is_obj = F.col("value").rlike(r"^\s*\{")
    df = df.withColumn("_map", F.when(is_obj, F.from_json("value", "map<string,string>")))
    df = df.withColumn("_keys", F.map_keys("_map"))
    checks = [
        (F.col("_map").isNull() | F.col("_json").isNull(), F.lit("malformed JSON")),
        (
            F.size(F.array_except(F.col("_keys"), known)) > 0,
            F.concat(
                F.lit("unexpected fields: "),
                F.array_join(F.array_except(F.col("_keys"), known), ","),
            ),
        ),
    ]
    for f in EVENT_SCHEMA.fields:  # present in the line, but not of the schema's type
        checks.append(
            (
                F.col("_map").getItem(f.name).isNotNull() & F.col(f"_json.{f.name}").isNull(),
                F.lit(f"mistyped field: {f.name} (expected {f.dataType.simpleString()})"),
            )
        )
    for name in REQUIRED:
        checks.append((F.col(f"_json.{name}").isNull(), F.lit(f"missing field: {name}")))
    checks.append(
        (
            F.try_to_timestamp(F.col("_json.event_time")).isNull(),
            F.lit("event_time is not a timestamp"),
        )
    )
    reason = F.lit(None).cast("string")
    for cond, text in reversed(checks):
        reason = F.when(cond, text).otherwise(reason)
    df = df.withColumn("reason", reason)
    if cache:  # one parse for both outputs, instead of one per action
        df = df.select(
            "value", "_json", "reason", *(["_source"] if "_source" in raw_lines.columns else [])
        ).cache()
    source = F.col("_source") if "_source" in raw_lines.columns else F.lit(None).cast("string")
    bad = df.where(F.col("reason").isNotNull()).select(
        F.col("value").alias("line"), "reason", source.alias("source")
    )
    good = df.where(F.col("reason").isNull()).select("_json.*", source.alias("_source"))
    return good, bad


def clean(parsed: DataFrame) -> DataFrame:
    """Silver rows: typed, normalised, invalid values dropped to null-safe defaults."""
    ts = F.try_to_timestamp(F.col("event_time"))
    return (
        parsed.withColumn("event_time", ts)
        .withColumn("dt", F.date_format(ts, "yyyy-MM-dd"))
        .withColumn("country", F.upper(F.trim("country")))
        .withColumn("event_type", F.lower(F.trim("event_type")))
        .withColumn("price", F.when(F.col("price") >= 0, F.col("price")))
        .withColumn("quantity", F.coalesce(F.col("quantity"), F.lit(0)))
        .where(F.col("event_type").isin(*EVENT_TYPES))
    )


def dedupe(events: DataFrame) -> DataFrame:
    """One row per event_id (at-least-once input repeats events); keeps the first seen."""
    return events.dropDuplicates(["event_id"])


def daily_revenue(silver: DataFrame) -> DataFrame:
    buys = silver.where(F.col("event_type") == "purchase")
    return buys.groupBy("dt", "country").agg(
        F.count("*").alias("orders"),
        F.sum("quantity").alias("items"),
        F.round(F.sum(F.col("price") * F.col("quantity")), 2).alias("revenue"),
    )


def funnel(silver: DataFrame) -> DataFrame:
    """Sessions reaching each funnel stage per day, and the conversion rate view -> purchase."""
    per = silver.groupBy("dt").pivot("event_type", list(FUNNEL)).agg(F.countDistinct("session_id"))
    per = per.na.fill(0, list(FUNNEL))
    return per.withColumn(
        "conversion", F.round(F.when(F.col("view") > 0, F.col("purchase") / F.col("view")), 4)
    )


def top_products(silver: DataFrame, n: int = 10) -> DataFrame:
    from pyspark.sql.window import Window

    buys = silver.where(F.col("event_type") == "purchase")
    agg = buys.groupBy("dt", "product_id", "category").agg(
        F.round(F.sum(F.col("price") * F.col("quantity")), 2).alias("revenue"),
        F.sum("quantity").alias("items"),
    )
    w = Window.partitionBy("dt").orderBy(F.desc("revenue"), "product_id")
    return agg.withColumn("rank", F.row_number().over(w)).where(F.col("rank") <= n)


# ---------------------------------------------------------------------- the run
def _merge(spark: Any, df: DataFrame, path: str, key: str, partition: str | None) -> None:
    from delta.tables import DeltaTable

    if not DeltaTable.isDeltaTable(spark, path):
        writer = df.write.format("delta")
        (writer.partitionBy(partition) if partition else writer).save(path)
        return
    target = DeltaTable.forPath(spark, path)
    (
        target.alias("t")
        .merge(df.alias("s"), f"t.{key} = s.{key}")
        .whenNotMatchedInsertAll()
        .execute()
    )


def _replace_days(df: DataFrame, path: str, days: list[str], spark: Any) -> None:
    from delta.tables import DeltaTable

    if not days:
        return
    if not DeltaTable.isDeltaTable(spark, path):
        df.write.format("delta").partitionBy("dt").save(path)
        return
    cond = "dt IN (" + ",".join(f"'{d}'" for d in days) + ")"
    (
        df.where(F.expr(cond))
        .write.format("delta")
        .mode("overwrite")
        .option("replaceWhere", cond)
        .save(path)
    )


def run(spark: Any, raw: str, lake: str) -> dict[str, Any]:
    """raw JSON lines at ``raw`` -> Delta tables under ``lake``; returns counts."""
    lake = lake.rstrip("/")
    lines = spark.read.text(raw).withColumn("_source", F.input_file_name())
    good, bad = parse(lines, cache=True)
    quarantined = bad.count()
    if quarantined:
        (
            bad.withColumn("quarantined_at", F.current_timestamp())
            .write.format("delta")
            .mode("append")
            .save(f"{lake}/quarantine/events")
        )
    _merge(spark, dedupe(good), f"{lake}/bronze/events", "event_id", None)
    silver_new = dedupe(clean(good))
    days = sorted(r.dt for r in silver_new.select("dt").distinct().collect())
    _merge(spark, silver_new, f"{lake}/silver/events", "event_id", "dt")
    silver = spark.read.format("delta").load(f"{lake}/silver/events")
    if days:
        touched = silver.where(F.col("dt").isin(days))
        _replace_days(daily_revenue(touched), f"{lake}/gold/daily_revenue", days, spark)
        _replace_days(funnel(touched), f"{lake}/gold/funnel", days, spark)
        _replace_days(top_products(touched), f"{lake}/gold/top_products", days, spark)
    result = {
        "parsed": good.count(),
        "quarantined": quarantined,
        "days": days,
        "silver_rows": silver.count(),
    }
    spark.catalog.clearCache()
    return result


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 2:
        print("usage: lake_etl.py <raw json path> <lake root>", file=sys.stderr)
        return 2
    spark = SparkSession.builder.appName("lake_etl").getOrCreate()
    out = run(spark, args[0], args[1])
    print("lake_etl:", json.dumps(out))
    if out["quarantined"]:
        print(
            f"lake_etl: {out['quarantined']} input lines quarantined under "
            f"{args[1].rstrip('/')}/quarantine/events (see column 'reason')"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Reference solution of lab 1.2.5 (CI runs it and checks it on the embedded profile)."""

from __future__ import annotations

import io
import json
import time
from typing import Any

from labs.harness import LabContext
from labs.l125_file_formats.lab import (
    CHART_KEY,
    FORMATS_PREFIX,
    PRUNE_DAY,
    RESULTS_KEY,
    SOURCE_PREFIX,
    VARIANTS,
    lab_bucket,
    prepare_data,
)


def write_all(ctx: LabContext, spark: Any) -> dict[str, float]:
    bucket = lab_bucket(ctx)
    source = spark.read.parquet(f"s3a://{bucket}/{SOURCE_PREFIX}").cache()
    source.count()
    times = {}
    for name, (fmt, options) in VARIANTS.items():
        t = time.perf_counter()
        (
            source.write.format(fmt)
            .options(**options)
            .mode("overwrite")
            .partitionBy("dt")
            .save(f"s3a://{bucket}/{FORMATS_PREFIX}{name}/")
        )
        times[name] = round(time.perf_counter() - t, 3)
    source.unpersist()
    return times


def _read(spark: Any, fmt: str, path: str) -> Any:
    reader = spark.read.format(fmt)
    if fmt == "csv":
        reader = reader.option("header", "true").option("inferSchema", "false")
    return reader.load(path)


def measure(ctx: LabContext, spark: Any, write_s: dict[str, float]) -> list[dict[str, Any]]:
    bucket = lab_bucket(ctx)
    s3 = ctx.client("s3")
    rows = []
    for name, (fmt, _options) in VARIANTS.items():
        prefix = f"{FORMATS_PREFIX}{name}/"
        objs = [
            o
            for p in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for o in p.get("Contents", [])
        ]
        data = [
            o
            for o in objs
            if "/dt=" in o["Key"] and not o["Key"].rsplit("/", 1)[1].startswith(("_", "."))
        ]
        path = f"s3a://{bucket}/{prefix}"
        t = time.perf_counter()
        full = _read(spark, fmt, path).groupBy("country").count().collect()
        full_s = time.perf_counter() - t
        day = _read(spark, fmt, path).where(f"dt = '{PRUNE_DAY}'")
        plan = spark._jvm.PythonSQLUtils.explainString(day._jdf.queryExecution(), "formatted")
        t = time.perf_counter()
        day_rows = day.count()
        day_s = time.perf_counter() - t
        rows.append(
            {
                "format": name,
                "bytes": sum(o["Size"] for o in data),
                "files": len(data),
                "files_in_day": sum(1 for o in data if f"/dt={PRUNE_DAY}/" in o["Key"]),
                "write_s": write_s[name],
                "query_all_s": round(full_s, 3),
                "query_day_s": round(day_s, 3),
                "day_rows": day_rows,
                "countries": len(full),
                "partition_filter_in_plan": "PartitionFilters: [" in plan and "dt" in plan,
            }
        )
    return rows


def report(ctx: LabContext, rows: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s3 = ctx.client("s3")
    bucket = lab_bucket(ctx)
    s3.put_object(
        Bucket=bucket,
        Key=RESULTS_KEY,
        Body=json.dumps(rows, indent=1).encode(),
        ContentType="application/json",
    )
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    names = [r["format"] for r in rows]
    for ax, key, title in zip(
        axes,
        ("bytes", "write_s", "query_all_s"),
        ("size (MB)", "write (s)", "query (s)"),
        strict=True,
    ):
        values = [r[key] / 1e6 if key == "bytes" else r[key] for r in rows]
        ax.barh(names, values, color="#3b7dd8")
        ax.set_title(title)
        ax.invert_yaxis()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    s3.put_object(Bucket=bucket, Key=CHART_KEY, Body=buf.getvalue(), ContentType="image/png")


def main(ctx: LabContext) -> dict[str, Any]:
    with ctx.step("준비: 원본 데이터"):
        prepare_data(ctx)
    with ctx.step("Spark 세션 시작"):
        spark = ctx.spark("lab-1.2.5")
    with ctx.step("1단계: 형식 여섯 가지로 쓰기"):
        write_s = write_all(ctx, spark)
    with ctx.step("2단계: 크기와 읽기 시간 재기"):
        rows = measure(ctx, spark, write_s)
    with ctx.step("3단계: 비교 보고서"):
        report(ctx, rows)
    return {
        "formats": len(rows),
        "smallest": min(rows, key=lambda r: r["bytes"])["format"],
        "comparison": rows,
    }

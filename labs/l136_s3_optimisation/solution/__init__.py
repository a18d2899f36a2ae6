"""Reference solution of lab 1.3.6 (CI runs it and checks it on the embedded profile)."""

from __future__ import annotations

import time
from typing import Any

from labs.harness import LabContext
from labs.l136_s3_optimisation.lab import (
    COMMIT_PREFIX,
    RESULTS_KEY,
    SMALL_PREFIX,
    SMALL_TASKS,
    SOURCE_PREFIX,
    aws_like_costs,
    delta_requests,
    lab_bucket,
    prepare_data,
    request_counts,
)


def _path(ctx: LabContext, prefix: str) -> str:
    return f"s3a://{lab_bucket(ctx)}/{prefix}"


def _active_files(spark: Any, path: str) -> int:
    return int(spark.sql(f"DESCRIBE DETAIL delta.`{path}`").collect()[0].numFiles)


def small_files(ctx: LabContext, spark: Any) -> int:
    src = spark.read.parquet(_path(ctx, SOURCE_PREFIX))
    path = _path(ctx, SMALL_PREFIX)
    src.repartition(SMALL_TASKS).write.format("delta").mode("overwrite").partitionBy("dt").save(
        path
    )
    return _active_files(spark, path)


def scan(ctx: LabContext, spark: Any) -> dict[str, Any]:
    before = request_counts(ctx)
    t = time.perf_counter()
    rows = (
        spark.read.format("delta")
        .load(_path(ctx, SMALL_PREFIX))
        .groupBy("country")
        .count()
        .collect()
    )
    seconds = time.perf_counter() - t
    return {
        "seconds": round(seconds, 3),
        "groups": len(rows),
        "requests": delta_requests(before, request_counts(ctx)),
    }


def compact(ctx: LabContext, spark: Any) -> int:
    from delta.tables import DeltaTable

    path = _path(ctx, SMALL_PREFIX)
    DeltaTable.forPath(spark, path).optimize().executeCompaction()
    return _active_files(spark, path)


def plans(ctx: LabContext, spark: Any) -> dict[str, bool]:
    df = spark.read.format("delta").load(_path(ctx, SMALL_PREFIX))

    def plan(q: Any) -> str:
        return str(spark._jvm.PythonSQLUtils.explainString(q._jdf.queryExecution(), "formatted"))

    by_day = plan(df.where("dt = '2026-04-07'"))
    by_country = plan(df.where("country = 'KR'"))
    return {
        "partition_filter": "PartitionFilters: [" in by_day and "2026-04-07" in by_day,
        "pushed_filter": "PushedFilters: [" in by_country and "country" in by_country,
    }


def committers(ctx: LabContext, spark: Any) -> dict[str, Any]:
    src = spark.read.parquet(_path(ctx, SOURCE_PREFIX))
    hconf = spark.sparkContext._jsc.hadoopConfiguration()
    out: dict[str, Any] = {}
    with aws_like_costs(ctx) as timing:
        for name in ("magic", "file"):
            hconf.set("fs.s3a.committer.name", name)
            before = request_counts(ctx)
            t = time.perf_counter()
            src.write.mode("overwrite").partitionBy("dt").parquet(
                _path(ctx, f"{COMMIT_PREFIX}{name}/")
            )
            out[name] = {
                "seconds": round(time.perf_counter() - t, 3),
                "requests": delta_requests(before, request_counts(ctx)),
            }
    hconf.set("fs.s3a.committer.name", "magic")
    out["timing"] = timing
    return out


def main(ctx: LabContext) -> dict[str, Any]:
    import json

    with ctx.step("준비: 원본 데이터"):
        prepare_data(ctx)
    with ctx.step("Spark 세션 시작"):
        spark = ctx.spark("lab-1.3.6")
    result: dict[str, Any] = {}
    with ctx.step("1단계: 작은 파일 많이 쓰기"):
        result["small_files"] = small_files(ctx, spark)
    with ctx.step("2단계: 스캔 (작은 파일)"):
        result["scan_small"] = scan(ctx, spark)
    with ctx.step("3단계: 압축 (OPTIMIZE)"):
        result["compacted_files"] = compact(ctx, spark)
    with ctx.step("2단계: 스캔 (압축 뒤)"):
        result["scan_compacted"] = scan(ctx, spark)
    with ctx.step("4단계: 실행 계획 (프루닝, 푸시다운)"):
        result["plans"] = plans(ctx, spark)
    with ctx.step("5단계: 커미터 비교"):
        result["committers"] = committers(ctx, spark)
    ctx.client("s3").put_object(
        Bucket=lab_bucket(ctx), Key=RESULTS_KEY, Body=json.dumps(result, indent=1).encode()
    )
    return result

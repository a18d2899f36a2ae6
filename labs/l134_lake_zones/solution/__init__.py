"""Reference solution of lab 1.3.4 (CI runs it and checks it on the embedded profile)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from labs.harness import LabContext
from labs.l134_lake_zones import lab as L


def upload_raw(ctx: LabContext, events: pa.Table) -> list[str]:
    s3 = ctx.client("s3")
    dates = pc.strftime(events["event_time"], format="%Y-%m-%d")
    keys = []
    for dt in sorted(pc.unique(dates).to_pylist()):
        key = f"{L.RAW_PREFIX}dt={dt}/events-0000.json"
        body = L.to_json_lines(events.filter(pc.equal(dates, dt)))
        s3.put_object(Bucket=L.lake_bucket(ctx), Key=key, Body=body)
        keys.append(key)
    return keys


def run_etl(ctx: LabContext, spark: Any) -> dict[str, Any]:
    from spark.jobs import lake_etl

    return dict(lake_etl.run(spark, L.raw_uri(ctx), L.lake_uri(ctx)))


def late_data(ctx: LabContext, spark: Any) -> dict[str, Any]:
    key = f"{L.RAW_PREFIX}dt={L.day(0)}/late-0001.json"
    ctx.client("s3").put_object(Bucket=L.lake_bucket(ctx), Key=key, Body=L.late_events())
    return run_etl(ctx, spark)


def zone_lifecycle(ctx: LabContext) -> None:
    ctx.client("s3").put_bucket_lifecycle_configuration(
        Bucket=L.lake_bucket(ctx),
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "raw-to-ia",
                    "Status": "Enabled",
                    "Filter": {"Prefix": "raw/"},
                    "Transitions": [{"Days": L.RAW_IA_DAYS, "StorageClass": "STANDARD_IA"}],
                },
                {
                    "ID": "quarantine-expire",
                    "Status": "Enabled",
                    "Filter": {"Prefix": "quarantine/files/"},
                    "Expiration": {"Days": L.QUARANTINE_EXPIRE_DAYS},
                },
            ]
        },
    )


def main(ctx: LabContext) -> dict[str, Any]:
    import json

    with ctx.step("준비: 레이크 버킷"):
        L.prepare_data(ctx)
    with ctx.step("1단계: raw/ 업로드"):
        upload_raw(ctx, L.sample_events())
    with ctx.step("Spark 세션 시작"):
        spark = ctx.spark("lab-1.3.4")
    with ctx.step("2단계: ETL (처음)"):
        result = {"first": run_etl(ctx, spark)}
    with ctx.step("2단계: ETL (같은 입력으로 다시)"):
        result["again"] = run_etl(ctx, spark)
    with ctx.step("3단계: 늦게 온 데이터"):
        result["late"] = late_data(ctx, spark)
    with ctx.step("4단계: 영역별 수명 주기"):
        zone_lifecycle(ctx)
    ctx.client("s3").put_object(
        Bucket=L.lake_bucket(ctx), Key=L.RESULTS_KEY, Body=json.dumps(result, indent=1).encode()
    )
    return result

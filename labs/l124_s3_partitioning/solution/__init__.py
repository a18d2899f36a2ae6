"""Reference solution of lab 1.2.4 (CI runs it and checks it on the embedded profile)."""

from __future__ import annotations

import gzip
import io
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson
import pyarrow.parquet as pq

from labs.harness import LabContext
from labs.l124_s3_partitioning.lab import (
    CURATED_PREFIX,
    RAW_IA_DAYS,
    RAW_PREFIX,
    REQUIRED_TAGS,
    fast_forward,
    lake_bucket,
    sample_events,
)
from sim import s3util


def create_bucket(ctx: LabContext) -> str:
    s3 = ctx.client("s3")
    bucket = lake_bucket(ctx)
    s3util.ensure_bucket(s3, bucket, ctx.profile.region)
    s3.put_bucket_tagging(
        Bucket=bucket,
        Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in REQUIRED_TAGS.items()]},
    )
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    return bucket


def event_dates(events: pa.Table) -> pa.Array:
    return pc.strftime(events["event_time"], format="%Y-%m-%d")


def upload_raw(ctx: LabContext, events: pa.Table) -> list[str]:
    s3 = ctx.client("s3")
    bucket = lake_bucket(ctx)
    dates = event_dates(events)
    keys = []
    for dt in sorted(pc.unique(dates).to_pylist()):
        day = events.filter(pc.equal(dates, dt))
        lines = day.to_pandas().to_json(
            orient="records", lines=True, date_format="iso", date_unit="us", force_ascii=False
        )
        key = f"{RAW_PREFIX}dt={dt}/events-0000.json.gz"
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=gzip.compress(lines.encode(), compresslevel=6),
            ContentType="application/x-ndjson",
            ContentEncoding="gzip",
        )
        keys.append(key)
    return keys


def write_curated(ctx: LabContext) -> list[str]:
    s3 = ctx.client("s3")
    bucket = lake_bucket(ctx)
    keys = []
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=RAW_PREFIX)
    for page in pages:
        for obj in page.get("Contents", []):
            dt = obj["Key"][len(RAW_PREFIX) :].split("/")[0].removeprefix("dt=")
            raw = gzip.decompress(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())
            table = pajson.read_json(io.BytesIO(raw))
            table = table.set_column(
                table.schema.get_field_index("event_time"),
                "event_time",
                pc.cast(table["event_time"], pa.timestamp("us", tz="UTC")),
            )
            buf = io.BytesIO()
            pq.write_table(table, buf, compression="snappy")
            key = f"{CURATED_PREFIX}dt={dt}/part-00000.snappy.parquet"
            s3.put_object(Bucket=bucket, Key=key, Body=buf.getvalue())
            keys.append(key)
    return keys


def lifecycle(ctx: LabContext) -> None:
    ctx.client("s3").put_bucket_lifecycle_configuration(
        Bucket=lake_bucket(ctx),
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "raw-to-ia",
                    "Status": "Enabled",
                    "Filter": {"Prefix": RAW_PREFIX},
                    "Transitions": [{"Days": RAW_IA_DAYS, "StorageClass": "STANDARD_IA"}],
                    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
                }
            ]
        },
    )
    fast_forward(ctx, RAW_IA_DAYS + 1)


def main(ctx: LabContext) -> dict[str, Any]:
    with ctx.step("준비: 클릭스트림 이벤트 생성"):
        events = sample_events()
    with ctx.step("1단계: 버킷 만들기"):
        bucket = create_bucket(ctx)
    with ctx.step("2단계: raw/ 업로드 (Hive 파티션)"):
        raw = upload_raw(ctx, events)
    with ctx.step("3단계: curated/ Parquet 쓰기"):
        curated = write_curated(ctx)
    with ctx.step("4단계: 수명 주기 규칙"):
        lifecycle(ctx)
    return {
        "bucket": bucket,
        "rows": events.num_rows,
        "raw_files": len(raw),
        "curated_files": len(curated),
    }

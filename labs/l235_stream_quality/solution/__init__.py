"""Reference solution of lab 2.3.5 (CI runs it and checks it on the embedded profile)."""

from __future__ import annotations

import json
from collections import Counter, OrderedDict
from datetime import UTC, datetime, timedelta
from typing import Any

from labs.harness import LabContext
from labs.l235_stream_quality.lab import (
    CLEAN_FIRST,
    CLEAN_SECOND,
    COUNTRIES,
    EVENT_TYPES,
    as_bytes,
    bad_records,
    checkpoint_dir,
    clean_events,
    lake_uri,
    pipeline_name,
    prepare,
    quarantine,
    send,
    stream_name,
)
from sim import s3util
from sim.dataquality import NAMESPACE, Rules
from spark.jobs import quality_stream


def rules() -> Rules:
    return Rules(
        required=("event_id", "event_time", "user_id", "event_type", "price", "country"),
        types={"event_time": "datetime", "user_id": "int", "price": "float", "quantity": "int"},
        ranges={"price": (0, 10_000), "quantity": (1, 100)},
        allowed={"country": COUNTRIES, "event_type": EVENT_TYPES},
        freshness_s=3600,  # freshness needs event_time typed as datetime (above)
        unique="event_id",
    )


def run_quality_job(
    ctx: LabContext,
    spark: Any,
    rules: Rules,
    seen: OrderedDict[Any, None],
    **change: Any,
) -> dict[str, Any]:
    """One run of the query: what is new in the stream, as one micro-batch (AvailableNow)."""
    options: dict[str, Any] = {
        "pipeline": pipeline_name(ctx),
        "good_format": "delta",
        "available_now": True,
        "seen": seen,
        **change,
    }
    q = quality_stream.start(
        spark,
        ctx.profile,
        stream_name(ctx),
        lake_uri(ctx),
        quarantine(ctx),
        checkpoint_dir(ctx),
        rules,
        **options,
    )
    q.awaitTermination()
    progress = q.lastProgress or {}
    return {"rows": int(progress.get("numInputRows", 0)), "batch": progress.get("batchId")}


def inject_bad(ctx: LabContext, sent: list[dict[str, Any]]) -> int:
    more = clean_events(CLEAN_SECOND, first=CLEAN_FIRST)
    return send(ctx, as_bytes(more) + bad_records(sent))


def report(ctx: LabContext) -> dict[str, Any]:
    now = datetime.now(UTC)
    points = ctx.client("cloudwatch").get_metric_statistics(
        Namespace=NAMESPACE,
        MetricName="PassRate",
        Dimensions=[{"Name": "Pipeline", "Value": pipeline_name(ctx)}],
        StartTime=now - timedelta(minutes=30),
        EndTime=now + timedelta(minutes=5),
        Period=60,
        Statistics=["Minimum", "Maximum"],
    )["Datapoints"]
    s3 = ctx.client("s3")
    bucket, prefix = quarantine(ctx)
    by_rule: Counter[str] = Counter()
    for obj in s3util.list_objects(s3, bucket, prefix):
        body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read().decode()
        by_rule.update(json.loads(line)["dq_rule"] for line in body.splitlines() if line)
    return {
        "pass_rate": [
            {"minute": p["Timestamp"].isoformat(), "min": p["Minimum"], "max": p["Maximum"]}
            for p in sorted(points, key=lambda p: p["Timestamp"])
        ],
        "quarantined": dict(sorted(by_rule.items())),
    }


def main(ctx: LabContext) -> dict[str, Any]:
    prepare(ctx)
    sent = clean_events(CLEAN_FIRST)
    send(ctx, as_bytes(sent))
    spark = ctx.spark()
    seen: OrderedDict[Any, None] = OrderedDict()
    first = run_quality_job(ctx, spark, rules(), seen)
    injected = inject_bad(ctx, sent)
    second = run_quality_job(ctx, spark, rules(), seen)
    return {"first_batch": first, "injected": injected, "second_batch": second, **report(ctx)}

"""Reference solution of lab 2.2.5 (CI runs it and checks it on the embedded profile)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from labs import streaming
from labs.harness import LabContext
from labs.l225_firehose_emr.lab import (
    AGG_PREFIX,
    BUFFER_S,
    ERROR_PREFIX,
    LOG_PREFIX,
    RAW_PREFIX,
    STEP_NAME,
    TAGS,
    bucket,
    delivery_stream,
    events,
    prepare,
    stream_arn,
    stream_name,
    upload_job,
)
from sim.kinesis.producer import Producer
from spark import emr

JOB = Path(__file__).with_name("hourly_job.py")
# Hive-style: Spark, Athena and Glue crawlers turn key=value folders into columns
HIVE = "year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/"


def create_delivery_stream(ctx: LabContext, role_arn: str, prefix: str = RAW_PREFIX + HIVE) -> None:
    ctx.client("firehose").create_delivery_stream(
        DeliveryStreamName=delivery_stream(ctx),
        DeliveryStreamType="KinesisStreamAsSource",
        KinesisStreamSourceConfiguration={
            "KinesisStreamARN": stream_arn(ctx),
            "RoleARN": role_arn,
        },
        ExtendedS3DestinationConfiguration={
            "RoleARN": role_arn,
            "BucketARN": f"arn:aws:s3:::{bucket(ctx)}",
            "Prefix": prefix,
            # a Prefix with expressions needs an ErrorOutputPrefix with the error type
            "ErrorOutputPrefix": f"{ERROR_PREFIX}!{{firehose:error-output-type}}/{HIVE}",
            "BufferingHints": {"SizeInMBs": 5, "IntervalInSeconds": BUFFER_S},
            "CompressionFormat": "GZIP",
        },
    )


def produce(ctx: LabContext, clicks: list[dict[str, Any]], newline: bool = True) -> int:
    end = b"\n" if newline else b""  # Firehose concatenates records as they are
    producer = Producer(ctx.client("kinesis"), stream_name(ctx))
    stats = producer.put((json.dumps(e).encode() + end, e["user_id"]) for e in clicks)
    return stats.sent


def run_emr(ctx: LabContext, script_uri: str) -> dict[str, str]:
    spec = emr.ClusterSpec(
        name="bdlab-lab225",
        log_uri=f"s3://{bucket(ctx)}/{LOG_PREFIX}",
        tags=TAGS,
        keep_alive=True,
        idle_timeout_s=3600,
    )
    cluster_id = emr.create_cluster(spec, ctx.profile)
    step = emr.SparkStep(
        name=STEP_NAME,
        script=script_uri,
        args=[f"s3://{bucket(ctx)}/{RAW_PREFIX}", f"s3://{bucket(ctx)}/{AGG_PREFIX}"],
    )
    step_id = emr.submit(cluster_id, [step], ctx.profile)[0]
    try:
        emr.wait_step(cluster_id, step_id, ctx.profile, timeout=900)
    finally:
        emr.terminate(cluster_id, ctx.profile)
    return {"cluster": cluster_id, "step": step_id}


def run(
    ctx: LabContext,
    prefix: str = RAW_PREFIX + HIVE,
    newline: bool = True,
    job: Path = JOB,
    with_emr: bool = True,
) -> dict[str, Any]:
    """The whole lab; the tests pass a broken prefix, records without newlines, a broken
    job, or stop before EMR."""
    role = prepare(ctx)
    create_delivery_stream(ctx, role, prefix)
    streaming.wait_active(ctx, delivery_stream(ctx))
    sent = produce(ctx, events(), newline)
    keys = streaming.deliver(ctx, delivery_stream(ctx), bucket(ctx), BUFFER_S)
    out: dict[str, Any] = {"sent": sent, "objects": len(keys)}
    if with_emr:
        out.update(run_emr(ctx, upload_job(ctx, job)))
    return out


def main(ctx: LabContext) -> dict[str, Any]:
    return run(ctx)

"""Lab 2.2.5 — Kinesis → Firehose → S3 → EMR (the learner's file).

Fill in the TODO steps below and hourly_job.py (see README.md), then:

    bdlab run 2.2.5      # runs main() below against the active profile
    bdlab check 2.2.5    # reads the stream, the delivery stream, S3 and the EMR step
"""

from __future__ import annotations

import json  # noqa: F401 (2단계에서 씁니다)
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from labs import streaming
from labs.harness import LabContext, LabInfo
from sim import s3util
from sim.kinesis.producer import Producer  # noqa: F401 (2단계에서 씁니다)

LAB = LabInfo(
    id="2.2.5",
    slug="l225_firehose_emr",
    title="Kinesis → Firehose → S3 → EMR",
    part=2,
    summary="Firehose가 Kinesis 스트림을 읽어 S3에 Hive 형식 파티션으로 쌓고, EMR 단계가 "
    "도착한 데이터를 시간별로 집계합니다.",
)

SEED = 225
EVENTS = 3_000
SHARDS = 2
START = datetime(2026, 3, 9, 9, 0, tzinfo=UTC)
EVENT_TYPES = ("view", "view", "view", "cart", "purchase")
BUFFER_S = 60
RAW_PREFIX = "raw/clicks/"
ERROR_PREFIX = "errors/"
AGG_PREFIX = "agg/hourly_clicks/"
JOB_KEY = "jobs/hourly_job.py"
LOG_PREFIX = "emr-logs/"
STEP_NAME = "hourly-clicks"
TAGS = {"project": "bdlab", "lab": "2.2.5"}
JOB_FILE = Path(__file__).with_name("hourly_job.py")


def bucket(ctx: LabContext) -> str:
    return ctx.name("pipeline")


def stream_name(ctx: LabContext) -> str:
    return ctx.name("clicks")


def delivery_stream(ctx: LabContext) -> str:
    return ctx.name("clicks-to-s3")


def events() -> list[dict[str, Any]]:
    """Given: the click events the web shop produces (deterministic)."""
    rng = random.Random(SEED)
    out = []
    for i in range(EVENTS):
        kind = rng.choice(EVENT_TYPES)
        out.append(
            {
                "event_id": f"e-{i:06d}",
                "user_id": f"u-{rng.randint(1, 300):04d}",
                "event_type": kind,
                "product_id": f"p-{rng.randint(1, 50):03d}",
                "price": round(rng.uniform(5, 200), 2),
                "event_time": (START + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        )
    return out


def prepare(ctx: LabContext) -> str:
    """Given: a fresh bucket, the Kinesis stream and the role Firehose assumes; its ARN."""
    reset(ctx)
    s3util.ensure_bucket(ctx.client("s3"), bucket(ctx), ctx.profile.region)
    kinesis = ctx.client("kinesis")
    kinesis.create_stream(StreamName=stream_name(ctx), ShardCount=SHARDS)
    kinesis.get_waiter("stream_exists").wait(
        StreamName=stream_name(ctx), WaiterConfig={"Delay": 1, "MaxAttempts": 120}
    )
    return streaming.firehose_role(ctx, ctx.name("firehose-role"), bucket(ctx))


def stream_arn(ctx: LabContext) -> str:
    summary = ctx.client("kinesis").describe_stream_summary(StreamName=stream_name(ctx))
    return str(summary["StreamDescriptionSummary"]["StreamARN"])


# --------------------------------------------------------------------------- TODO
def step1_delivery_stream(ctx: LabContext, role_arn: str) -> None:
    """1단계: Kinesis 스트림을 읽어 S3에 Hive 형식 파티션(GZIP)으로 쓰는 전송 스트림."""
    # TODO(1단계): firehose.create_delivery_stream(DeliveryStreamName=delivery_stream(ctx),
    #              DeliveryStreamType="KinesisStreamAsSource",
    #              KinesisStreamSourceConfiguration={"KinesisStreamARN": ..., "RoleARN": ...},
    #              ExtendedS3DestinationConfiguration={... "Prefix": "raw/clicks/year=!{...}/..."})
    raise NotImplementedError("TODO 1단계: README.md의 '1단계'를 보고 전송 스트림을 만드세요.")


def step2_produce(ctx: LabContext, clicks: list[dict[str, Any]]) -> int:
    """2단계: 이벤트를 Kinesis에 보냅니다 (한 레코드에 이벤트 하나, 끝에 줄바꿈)."""
    # TODO(2단계): Producer(ctx.client("kinesis"), stream_name(ctx)).put(
    #                  (json.dumps(e).encode() + b"\n", e["user_id"]) for e in clicks)
    raise NotImplementedError("TODO 2단계: README.md의 '2단계'를 보고 이벤트를 보내세요.")


def step4_emr(ctx: LabContext, script_uri: str) -> dict[str, str]:
    """4단계: 클러스터를 만들고 hourly_job.py를 스텝으로 돌린 뒤 클러스터를 끕니다."""
    # TODO(4단계): spark.emr의 create_cluster, submit(SparkStep(name=STEP_NAME, script=...,
    #              args=[원본, 결과])), wait_step, terminate
    raise NotImplementedError("TODO 4단계: README.md의 '4단계'를 보고 EMR 스텝을 돌리세요.")


# --------------------------------------------------------------------------- given
def upload_job(ctx: LabContext, job: Path = JOB_FILE) -> str:
    """Given: put the job script (3단계: hourly_job.py) in the bucket; its s3:// URI."""
    from spark import emr

    return emr.upload(job, f"s3://{bucket(ctx)}/{JOB_KEY}", ctx.profile)


def main(ctx: LabContext) -> dict[str, Any]:
    with ctx.step("준비: 버킷, Kinesis 스트림, Firehose 역할"):
        role = prepare(ctx)
    with ctx.step("1단계: 전송 스트림 (Kinesis → S3)"):
        step1_delivery_stream(ctx, role)
        streaming.wait_active(ctx, delivery_stream(ctx))
    with ctx.step("2단계: 이벤트 보내기"):
        sent = step2_produce(ctx, events())
    with ctx.step("S3에 닿을 때까지 기다리기 (버퍼 60초)"):
        keys = streaming.deliver(ctx, delivery_stream(ctx), bucket(ctx), BUFFER_S)
    with ctx.step("3단계: 잡 스크립트 업로드"):
        script = upload_job(ctx)
    with ctx.step("4단계: EMR 스텝으로 시간별 집계"):
        emr = step4_emr(ctx, script)
    return {"sent": sent, "objects": len(keys), **emr}


def reset(ctx: LabContext) -> dict[str, Any]:
    """Delete the lab's delivery stream, stream, role, clusters and bucket."""
    done: dict[str, Any] = {
        "delivery_stream": streaming.delete_delivery_stream(ctx, delivery_stream(ctx))
    }
    kinesis = ctx.client("kinesis")
    try:
        kinesis.delete_stream(StreamName=stream_name(ctx), EnforceConsumerDeletion=True)
        kinesis.get_waiter("stream_not_exists").wait(
            StreamName=stream_name(ctx), WaiterConfig={"Delay": 1, "MaxAttempts": 120}
        )
        done["stream"] = True
    except kinesis.exceptions.ResourceNotFoundException:
        done["stream"] = False
    emr = ctx.client("emr")
    for c in emr.list_clusters(ClusterStates=["STARTING", "BOOTSTRAPPING", "RUNNING", "WAITING"])[
        "Clusters"
    ]:
        tags = {
            t["Key"]: t["Value"]
            for t in emr.describe_cluster(ClusterId=c["Id"])["Cluster"].get("Tags", [])
        }
        if tags.get("lab") == LAB.id:
            emr.terminate_job_flows(JobFlowIds=[c["Id"]])
    done["role"] = streaming.delete_role(ctx, ctx.name("firehose-role"))
    done["objects"] = s3util.delete_bucket(ctx.client("s3"), bucket(ctx))
    return done

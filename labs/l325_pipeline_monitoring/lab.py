"""Lab 3.2.5 — 통합 파이프라인 모니터링 (the learner's file).

Fill in the four TODO steps (see README.md), then:

    bdlab run 3.2.5      # runs main() below against the active profile
    bdlab check 3.2.5    # reads the metrics, the metric filter, the alarms and the dashboard

Nothing here moves the emulator's clock or injects a fault: every check reads configuration
and data that exist as soon as ``bdlab run`` has finished (lab 3.2.6 makes the alarms fire).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from labs import streaming
from labs.harness import LabContext, LabInfo
from sim import s3util

LAB = LabInfo(
    id="3.2.5",
    slug="l325_pipeline_monitoring",
    title="통합 파이프라인 모니터링",
    part=3,
    summary="사용자 지정 지표, 로그 지표 필터, Kinesis·Firehose·EMR 경보와 CloudWatch "
    "대시보드로 파이프라인 전체를 한눈에 봅니다.",
)

SEED = 325
NAMESPACE = "BDLab/Clickstream"  # the pipeline's own metrics (never "AWS/...")
PIPELINE = "clickstream"  # the value of the Pipeline dimension
STAGES = ("ingest", "transform", "load")
BATCHES = 6  # micro-batches per stage in one run
RECORDS_METRIC = "RecordsProcessed"  # Unit Count
LATENCY_METRIC = "BatchLatency"  # Unit Milliseconds
ERROR_METRIC = "ErrorCount"  # published by the metric filter (2단계)
CLICKS = 120  # click events the producer sends through Kinesis and Firehose
SHARDS = 1
BUFFER_S = 60  # the delivery stream's buffer interval (seconds)
TAGS = {"project": "bdlab", "lab": "3.2.5"}
# (stage, batch) that fail in this run: an ERROR line in the log, 0 records processed
FAILED = {("transform", 2), ("load", 4), ("load", 5)}


def stream_name(ctx: LabContext) -> str:
    return ctx.name("clicks")


def delivery_stream(ctx: LabContext) -> str:
    return ctx.name("clicks-to-s3")


def bucket(ctx: LabContext) -> str:
    return ctx.name("monitoring")


def topic_name(ctx: LabContext) -> str:
    """The SNS topic every alarm notifies (lab 3.2.6 subscribes to it)."""
    return ctx.name("alerts")


def log_group(ctx: LabContext) -> str:
    """The application's log group (what the CloudWatch agent would ship its log file to)."""
    return f"/bdlab/{ctx.name('clickstream-app')}"


LOG_STREAM = "worker-1"
METRIC_FILTER = "errors"  # the metric filter's name (2단계)


def alarm_name(ctx: LabContext, kind: str) -> str:
    """``kind`` is one of ALARMS: the name each 3단계 alarm must have."""
    return ctx.name(kind)


ALARMS = ("kinesis-iterator-age", "firehose-data-freshness", "emr-step-failures")


def dashboard_name(ctx: LabContext) -> str:
    return ctx.name("pipeline")


@dataclass(frozen=True)
class Batch:
    """One micro-batch of one stage, as the pipeline reports it."""

    stage: str
    number: int
    records: int
    latency_ms: float
    failed: bool
    at: datetime  # when it finished (the metric's Timestamp)


def batches(at: datetime | None = None) -> list[Batch]:
    """Given: the run's micro-batches (deterministic values; ``at`` is when they finished,
    all at one instant so that one run lands in one minute of CloudWatch)."""
    rng = random.Random(SEED)
    when = at or datetime.now(UTC).replace(microsecond=0)
    latency = {"ingest": (40, 120), "transform": (300, 900), "load": (150, 600)}
    out = []
    for stage in STAGES:
        for n in range(1, BATCHES + 1):
            failed = (stage, n) in FAILED
            records = 0 if failed else rng.randint(150, 260)
            lo, hi = latency[stage]
            out.append(Batch(stage, n, records, float(rng.randint(lo, hi)), failed, when))
    return out


def expected_stats() -> dict[tuple[str, str], dict[str, float]]:
    """(metric, stage) -> the Minimum, Maximum and SampleCount one run produces (the checks'
    truth; values do not depend on the run's time)."""
    out: dict[tuple[str, str], dict[str, float]] = {}
    for stage in STAGES:
        mine = [b for b in batches(datetime(2026, 1, 1, tzinfo=UTC)) if b.stage == stage]
        for metric, values in (
            (RECORDS_METRIC, [float(b.records) for b in mine]),
            (LATENCY_METRIC, [b.latency_ms for b in mine]),
        ):
            out[(metric, stage)] = {
                "Minimum": min(values),
                "Maximum": max(values),
                "SampleCount": float(len(values)),
            }
    return out


def run_started(ctx: LabContext) -> datetime:
    """Given: this run's instant, the Kinesis stream's creation (``prepare`` recreates it),
    to the second. The batches are stamped with it: the service's clock, not this machine's,
    and one run lands in one minute of CloudWatch."""
    summary = ctx.client("kinesis").describe_stream_summary(StreamName=stream_name(ctx))
    created: datetime = summary["StreamDescriptionSummary"]["StreamCreationTimestamp"]
    return created.astimezone(UTC).replace(microsecond=0)


def app_log(run: list[Batch]) -> list[str]:
    """Given: the application's log lines (JSON, one a line) for the run's batches. Beware:
    a WARN line mentions "ERROR" and a DEBUG line "error"; only level ERROR is an error."""
    lines = [json.dumps({"level": "INFO", "message": "pipeline started", "pipeline": PIPELINE})]
    for b in run:
        doc: dict[str, Any] = {"stage": b.stage, "batch": b.number, "latency_ms": b.latency_ms}
        if b.failed:
            doc = {"level": "ERROR", **doc, "message": "batch failed: S3 SlowDown after 3 retries"}
        else:
            doc = {"level": "INFO", **doc, "records": b.records, "message": "batch done"}
        lines.append(json.dumps(doc))
        if (b.stage, b.number) == ("ingest", 3):
            lines.append(
                json.dumps(
                    {
                        "level": "WARN",
                        "stage": "ingest",
                        "message": "PutRecords retried after ERROR ProvisionedThroughputExceeded",
                    }
                )
            )
    lines.append(json.dumps({"level": "DEBUG", "message": "error_rate=0.17 retries=3"}))
    lines.append(json.dumps({"level": "INFO", "message": "pipeline finished"}))
    return lines


def expected_errors() -> int:
    return len(FAILED)


# --------------------------------------------------------------------------- given
@dataclass(frozen=True)
class Resources:
    topic_arn: str
    cluster_id: str


def prepare(ctx: LabContext) -> Resources:
    """Given: what the pipeline runs on, fresh: a Kinesis stream, a bucket and a delivery
    stream reading the stream into it, an EMR cluster (no steps: it only names the JobFlowId
    the step-failure alarm watches), the SNS topic of the alerts and the app's log group."""
    from spark import emr

    reset(ctx)
    kinesis = ctx.client("kinesis")
    kinesis.create_stream(StreamName=stream_name(ctx), ShardCount=SHARDS)
    kinesis.get_waiter("stream_exists").wait(
        StreamName=stream_name(ctx), WaiterConfig={"Delay": 1, "MaxAttempts": 120}
    )
    arn = kinesis.describe_stream_summary(StreamName=stream_name(ctx))["StreamDescriptionSummary"][
        "StreamARN"
    ]
    s3util.ensure_bucket(ctx.client("s3"), bucket(ctx), ctx.profile.region)
    role = streaming.firehose_role(ctx, ctx.name("firehose-role"), bucket(ctx))
    ctx.client("firehose").create_delivery_stream(
        DeliveryStreamName=delivery_stream(ctx),
        DeliveryStreamType="KinesisStreamAsSource",
        KinesisStreamSourceConfiguration={"KinesisStreamARN": arn, "RoleARN": role},
        ExtendedS3DestinationConfiguration={
            "RoleARN": role,
            "BucketARN": f"arn:aws:s3:::{bucket(ctx)}",
            "Prefix": "clicks/",
            "BufferingHints": {"SizeInMBs": 5, "IntervalInSeconds": BUFFER_S},
            "CompressionFormat": "GZIP",
        },
    )
    spec = emr.ClusterSpec(
        name="bdlab-lab325",
        core_count=0,  # a master node alone: this cluster runs no step in this lab
        keep_alive=True,
        idle_timeout_s=1800,
        tags=TAGS,
    )
    cluster_id = emr.create_cluster(spec, ctx.profile)
    topic_arn = str(ctx.client("sns").create_topic(Name=topic_name(ctx), Tags=_tags())["TopicArn"])
    logs = ctx.client("logs")
    logs.create_log_group(logGroupName=log_group(ctx), tags=TAGS)
    logs.create_log_stream(logGroupName=log_group(ctx), logStreamName=LOG_STREAM)
    streaming.wait_active(ctx, delivery_stream(ctx))
    return Resources(topic_arn, cluster_id)


def _tags() -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in TAGS.items()]


def run_pipeline(ctx: LabContext, publish: Any, at: datetime) -> dict[str, Any]:
    """Given: one run of the pipeline. Clicks go into Kinesis (Firehose takes them to S3),
    a consumer reads them (GetRecords: Kinesis publishes IteratorAge), then each stage's
    micro-batches are processed and ``publish(ctx, batch)`` (1단계) reports every batch."""
    kinesis = ctx.client("kinesis")
    rng = random.Random(SEED)
    clicks = [
        {"user_id": f"u{rng.randint(1, 40):03d}", "page": rng.choice(["/", "/cart", "/item"])}
        for _ in range(CLICKS)
    ]
    sent = 0
    for i in range(0, len(clicks), 500):
        chunk = clicks[i : i + 500]
        r = kinesis.put_records(
            StreamName=stream_name(ctx),
            Records=[
                {"Data": json.dumps(c).encode() + b"\n", "PartitionKey": c["user_id"]}
                for c in chunk
            ],
        )
        sent += len(chunk) - r["FailedRecordCount"]
    read = 0
    for shard in kinesis.list_shards(StreamName=stream_name(ctx))["Shards"]:
        it = kinesis.get_shard_iterator(
            StreamName=stream_name(ctx), ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while it:
            r = kinesis.get_records(ShardIterator=it, Limit=1000)
            read += len(r["Records"])
            if not r["Records"] and r.get("MillisBehindLatest", 0) == 0:
                break
            it = r.get("NextShardIterator")
    keys = streaming.deliver(ctx, delivery_stream(ctx), bucket(ctx), BUFFER_S)
    run = batches(at)
    for b in run:
        publish(ctx, b)
    return {"clicks_sent": sent, "clicks_read": read, "objects": len(keys), "batches": len(run)}


def ship_logs(ctx: LabContext, lines: list[str], at: datetime) -> int:
    """Given: send the app's log lines to its log group, as the CloudWatch agent would (one
    PutLogEvents; the events are stamped ``at`` plus a millisecond each, in order)."""
    base = int(at.timestamp() * 1000)
    ctx.client("logs").put_log_events(
        logGroupName=log_group(ctx),
        logStreamName=LOG_STREAM,
        logEvents=[{"timestamp": base + i, "message": m} for i, m in enumerate(lines)],
    )
    return len(lines)


# --------------------------------------------------------------------------- TODO
def step1_publish_batch_metrics(ctx: LabContext, batch: Batch) -> None:
    """1단계: 배치 하나의 처리 건수와 지연 시간을 사용자 지정 지표로 보냅니다."""
    # TODO(1단계): cloudwatch.put_metric_data(Namespace=NAMESPACE, MetricData=[
    #              {"MetricName": RECORDS_METRIC, "Dimensions": [Pipeline, Stage], "Unit": "Count",
    #               "Value": ..., "Timestamp": batch.at, "StorageResolution": ...}, {... 지연 ...}])
    raise NotImplementedError("TODO 1단계: README.md의 '1단계'를 보고 지표를 보내세요.")


def step2_metric_filter(ctx: LabContext) -> None:
    """2단계: 앱 로그에서 level이 ERROR인 줄을 세는 지표 필터를 만듭니다."""
    # TODO(2단계): logs.put_metric_filter(logGroupName=log_group(ctx), filterName=METRIC_FILTER,
    #              filterPattern=..., metricTransformations=[{"metricNamespace": NAMESPACE,
    #              "metricName": ERROR_METRIC, "metricValue": "1", "defaultValue": 0}])
    raise NotImplementedError("TODO 2단계: README.md의 '2단계'를 보고 지표 필터를 만드세요.")


def step3_alarms(ctx: LabContext, res: Resources) -> None:
    """3단계: Kinesis IteratorAge, Firehose DataFreshness, EMR 스텝 실패 경보 세 개."""
    # TODO(3단계): cloudwatch.put_metric_alarm(AlarmName=alarm_name(ctx, "kinesis-iterator-age"),
    #              ..., AlarmActions=[res.topic_arn], TreatMissingData=...) 를 세 번
    raise NotImplementedError("TODO 3단계: README.md의 '3단계'를 보고 경보를 만드세요.")


def step4_dashboard(ctx: LabContext, res: Resources) -> None:
    """4단계: 지표와 경보를 한 화면에 모은 CloudWatch 대시보드."""
    # TODO(4단계): cloudwatch.put_dashboard(DashboardName=dashboard_name(ctx),
    #              DashboardBody=json.dumps({"widgets": [...]}))
    raise NotImplementedError("TODO 4단계: README.md의 '4단계'를 보고 대시보드를 만드세요.")


def main(ctx: LabContext) -> dict[str, Any]:
    with ctx.step("준비: Kinesis, Firehose, EMR 클러스터, SNS 주제, 로그 그룹"):
        res = prepare(ctx)
    at = run_started(ctx)  # the instant this run's batches are stamped with
    with ctx.step("1단계: 파이프라인을 돌리며 배치마다 지표 보내기"):
        out = run_pipeline(ctx, step1_publish_batch_metrics, at)
    with ctx.step("2단계: 로그 지표 필터"):
        step2_metric_filter(ctx)
    with ctx.step("앱 로그를 CloudWatch Logs로 보내기"):
        out["log_lines"] = ship_logs(ctx, app_log(batches(at)), at)
    with ctx.step("3단계: 경보 세 개"):
        step3_alarms(ctx, res)
    with ctx.step("4단계: 대시보드"):
        step4_dashboard(ctx, res)
    return {**out, "cluster": res.cluster_id, "topic": res.topic_arn}


def reset(ctx: LabContext) -> dict[str, Any]:
    """Delete the lab's alarms, dashboard, log group, topic, delivery stream, stream, cluster,
    role and bucket. Metrics stay: CloudWatch cannot delete them (they age out)."""
    cw = ctx.client("cloudwatch")
    names = [alarm_name(ctx, k) for k in ALARMS]
    have = [a["AlarmName"] for a in cw.describe_alarms(AlarmNames=names)["MetricAlarms"]]
    if have:
        cw.delete_alarms(AlarmNames=have)
    done: dict[str, Any] = {"alarms": len(have)}
    try:
        cw.delete_dashboards(DashboardNames=[dashboard_name(ctx)])
        done["dashboard"] = True
    except (cw.exceptions.DashboardNotFoundError, cw.exceptions.ResourceNotFound):
        done["dashboard"] = False
    logs = ctx.client("logs")
    try:
        logs.delete_log_group(logGroupName=log_group(ctx))
        done["log_group"] = True
    except logs.exceptions.ResourceNotFoundException:
        done["log_group"] = False
    sns = ctx.client("sns")
    topic = next(
        (
            t["TopicArn"]
            for page in sns.get_paginator("list_topics").paginate()
            for t in page["Topics"]
            if t["TopicArn"].rsplit(":", 1)[-1] == topic_name(ctx)
        ),
        None,
    )
    if topic:
        sns.delete_topic(TopicArn=topic)
    done["topic"] = bool(topic)
    done["delivery_stream"] = streaming.delete_delivery_stream(ctx, delivery_stream(ctx))
    kinesis = ctx.client("kinesis")
    try:
        kinesis.delete_stream(StreamName=stream_name(ctx), EnforceConsumerDeletion=True)
        kinesis.get_waiter("stream_not_exists").wait(
            StreamName=stream_name(ctx), WaiterConfig={"Delay": 1, "MaxAttempts": 120}
        )
        done["stream"] = True
    except kinesis.exceptions.ResourceNotFoundException:
        done["stream"] = False
    done["clusters"] = lab_clusters(ctx)
    if done["clusters"]:
        ctx.client("emr").terminate_job_flows(JobFlowIds=done["clusters"])
    done["role"] = streaming.delete_role(ctx, ctx.name("firehose-role"))
    done["objects"] = s3util.delete_bucket(ctx.client("s3"), bucket(ctx))
    return done


def lab_clusters(ctx: LabContext) -> list[str]:
    """Ids of this lab's EMR clusters that are still alive (tag lab=3.2.5)."""
    emr = ctx.client("emr")
    out = []
    states = ["STARTING", "BOOTSTRAPPING", "RUNNING", "WAITING"]
    for page in emr.get_paginator("list_clusters").paginate(ClusterStates=states):
        for c in page["Clusters"]:
            tags = {
                t["Key"]: t["Value"]
                for t in emr.describe_cluster(ClusterId=c["Id"])["Cluster"].get("Tags", [])
            }
            if tags.get("lab") == LAB.id:
                out.append(str(c["Id"]))
    return out

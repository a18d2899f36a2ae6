"""Checks of lab 2.2.5, in order. Each docstring's first line is what the learner sees.

They read real state only: the delivery stream's description, every record in the Kinesis
stream, the objects Firehose wrote (gunzipped, line by line), the EMR cluster's steps and the
step's Parquet output (read with pyarrow).
"""

from __future__ import annotations

import gzip
import io
import json
import re
from collections import Counter
from typing import Any

from labs.harness import CheckFailed, LabContext, check
from labs.l225_firehose_emr.lab import (
    AGG_PREFIX,
    EVENTS,
    LAB,
    RAW_PREFIX,
    STEP_NAME,
    bucket,
    delivery_stream,
    stream_name,
)
from sim import s3util
from sim.kinesis.reader import read_all

HIVE = re.compile(
    rf"^{RAW_PREFIX}year=(?P<year>\d{{4}})/month=(?P<month>\d\d)/day=(?P<day>\d\d)/"
    r"hour=(?P<hour>\d\d)/[^/]+$"
)
GROUP = ("year", "month", "day", "hour", "event_type")


def _cache(ctx: LabContext) -> dict[str, Any]:
    return ctx.options.setdefault("_l225", {})  # type: ignore[no-any-return]


def _description(ctx: LabContext) -> dict[str, Any] | None:
    cache = _cache(ctx)
    if "desc" not in cache:
        fh = ctx.client("firehose")
        try:
            cache["desc"] = fh.describe_delivery_stream(DeliveryStreamName=delivery_stream(ctx))[
                "DeliveryStreamDescription"
            ]
        except fh.exceptions.ResourceNotFoundException:
            cache["desc"] = None
    return cache["desc"]  # type: ignore[no-any-return]


def _objects(ctx: LabContext, prefix: str) -> list[dict[str, Any]]:
    s3 = ctx.client("s3")
    try:
        return s3util.list_objects(s3, bucket(ctx), prefix)
    except s3.exceptions.NoSuchBucket:
        return []


def _raw(ctx: LabContext) -> list[tuple[str, bytes]]:
    """(key, gunzipped body) of every object under raw/clicks/."""
    cache = _cache(ctx)
    if "raw" not in cache:
        s3 = ctx.client("s3")
        out = []
        for o in _objects(ctx, RAW_PREFIX):
            body = s3.get_object(Bucket=bucket(ctx), Key=o["Key"])["Body"].read()
            out.append((o["Key"], gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body))
        cache["raw"] = out
    return list(cache["raw"])


def _delivered(ctx: LabContext) -> list[tuple[dict[str, str], dict[str, Any]]]:
    """(partition values, event) of every line in the delivered objects."""
    out = []
    for key, body in _raw(ctx):
        m = HIVE.match(key)
        part = m.groupdict() if m else {}
        for line in body.splitlines():
            if line.strip():
                out.append((part, json.loads(line)))
    return out


@check(1)
def delivery_stream_reads_kinesis(ctx: LabContext) -> None:
    """전송 스트림이 Kinesis 스트림을 원본으로 읽는다 (KinesisStreamAsSource)"""
    desc = _description(ctx)
    if desc is None:
        raise CheckFailed(
            f"전송 스트림 {delivery_stream(ctx)}",
            "없음",
            "`bdlab run 2.2.5`로 실습을 실행하세요 (1단계가 전송 스트림을 만듭니다).",
        )
    kind = desc.get("DeliveryStreamType")
    source = desc.get("Source", {}).get("KinesisStreamSourceDescription", {})
    want = ctx.client("kinesis").describe_stream_summary(StreamName=stream_name(ctx))[
        "StreamDescriptionSummary"
    ]["StreamARN"]
    if kind != "KinesisStreamAsSource" or source.get("KinesisStreamARN") != want:
        raise CheckFailed(
            f"KinesisStreamAsSource, 원본 {want}",
            f"{kind}, 원본 {source.get('KinesisStreamARN') or '없음'}",
            'DeliveryStreamType="KinesisStreamAsSource"와 KinesisStreamSourceConfiguration의 '
            "KinesisStreamARN(stream_arn(ctx))을 쓰세요. DirectPut이면 Kinesis를 읽지 않습니다.",
        )
    if desc.get("DeliveryStreamStatus") != "ACTIVE":
        raise CheckFailed(
            "ACTIVE", str(desc.get("DeliveryStreamStatus")), "ACTIVE가 될 때까지 기다리세요."
        )


@check(2)
def hive_partitions_gzip(ctx: LabContext) -> None:
    """S3에 raw/clicks/year=/month=/day=/hour=/ (Hive 형식) GZIP 객체가 있다"""
    objs = _objects(ctx, "")
    raw = [o["Key"] for o in objs if o["Key"].startswith(RAW_PREFIX)]
    if not raw:
        where = sorted({o["Key"].split("/")[0] for o in objs}) or ["없음"]
        raise CheckFailed(
            f"s3://{bucket(ctx)}/{RAW_PREFIX} 아래 객체",
            f"없음 (버킷의 최상위: {', '.join(where)})",
            "Prefix를 'raw/clicks/year=!{timestamp:yyyy}/month=!{timestamp:MM}/"
            "day=!{timestamp:dd}/hour=!{timestamp:HH}/'로 두세요. 객체가 하나도 없다면 "
            "전송 스트림을 만들기 전에 보낸 이벤트는 읽지 않는다는 점(LATEST부터)을 "
            "떠올리세요.",
        )
    flat = [k for k in raw if not HIVE.match(k)]
    if flat:
        raise CheckFailed(
            "raw/clicks/year=YYYY/month=MM/day=DD/hour=HH/<파일>",
            flat[0],
            "Firehose의 기본 키(YYYY/MM/dd/HH/)는 Spark·Athena가 열로 읽지 못합니다. "
            "Prefix에 'year=!{timestamp:yyyy}/month=!{timestamp:MM}/...'처럼 key=값을 쓰세요.",
        )
    s3 = ctx.client("s3")
    head = s3.get_object(Bucket=bucket(ctx), Key=raw[0], Range="bytes=0-1")["Body"].read()
    if head != b"\x1f\x8b" or not raw[0].endswith(".gz"):
        raise CheckFailed(
            "GZIP 객체 (.gz)",
            raw[0].rsplit("/", 1)[1],
            'CompressionFormat="GZIP"으로 두세요: 저장 용량과 S3 읽기 비용이 줄고, Spark는 '
            ".gz 확장자를 보고 알아서 풉니다.",
        )


@check(3)
def every_event_delivered_once(ctx: LabContext) -> None:
    """스트림의 이벤트 3,000건이 S3에 한 줄에 하나씩, 빠짐·중복 없이 있다"""
    try:
        lines = _delivered(ctx)
    except ValueError:
        raise CheckFailed(
            "한 줄에 JSON 하나 (JSON Lines)",
            '한 줄에 여러 JSON이 붙어 있음 ({"event_id": ...}{"event_id": ...})',
            "Firehose는 레코드를 구분자 없이 이어 붙입니다. 2단계에서 레코드마다 끝에 "
            'b"\\n"을 붙이세요 (json.dumps(e).encode() + b"\\n").',
        ) from None
    in_stream = Counter(
        json.loads(r.data)["event_id"] for r in read_all(ctx.client("kinesis"), stream_name(ctx))
    )
    got = Counter(e.get("event_id") for _, e in lines)
    if len(in_stream) != EVENTS:
        raise CheckFailed(
            f"Kinesis 스트림에 이벤트 {EVENTS}건",
            f"{len(in_stream)}건",
            "2단계에서 events()의 이벤트를 모두 Producer.put()으로 보내세요.",
        )
    missing = sum((in_stream - got).values())
    extra = sum((got - in_stream).values())
    if missing:
        raise CheckFailed(
            f"{EVENTS}건 모두 S3에",
            f"{missing}건 빠짐",
            "Kinesis를 원본으로 하는 Firehose는 만들어진 뒤(LATEST)부터 읽습니다. 전송 "
            "스트림을 먼저 만들고 ACTIVE가 된 뒤에 이벤트를 보내세요.",
        )
    if extra:
        raise CheckFailed(
            "이벤트마다 한 번",
            f"{extra}건 중복",
            "`bdlab run 2.2.5`를 다시 실행하면 처음부터 시작합니다.",
        )


def _step(ctx: LabContext) -> dict[str, Any] | None:
    """The newest `hourly-clicks` step of this lab's clusters made after the delivery stream
    (an older run's step does not count)."""
    desc = _description(ctx)
    if desc is None:
        return None
    since = desc["CreateTimestamp"]
    emr = ctx.client("emr")
    steps = []
    for c in emr.list_clusters()["Clusters"]:
        tags = {
            t["Key"]: t["Value"]
            for t in emr.describe_cluster(ClusterId=c["Id"])["Cluster"].get("Tags", [])
        }
        if tags.get("lab") != LAB.id:
            continue
        for s in emr.list_steps(ClusterId=c["Id"])["Steps"]:
            if s["Name"] == STEP_NAME and s["Status"]["Timeline"]["CreationDateTime"] >= since:
                steps.append((s["Status"]["Timeline"]["CreationDateTime"], c["Id"], s["Id"]))
    if not steps:
        return None
    _, cluster_id, step_id = max(steps)
    return dict(emr.describe_step(ClusterId=cluster_id, StepId=step_id)["Step"])


@check(4)
def emr_step_completed(ctx: LabContext) -> None:
    """EMR 클러스터의 hourly-clicks 스텝이 COMPLETED"""
    step = _step(ctx)
    if step is None:
        raise CheckFailed(
            f"'{STEP_NAME}' 스텝 (태그 lab={LAB.id}인 클러스터)",
            "없음",
            "4단계에서 ClusterSpec(tags=TAGS, log_uri=...)로 클러스터를 만들고 "
            f"SparkStep(name={STEP_NAME!r}, ...)을 submit하세요.",
        )
    state = step["Status"]["State"]
    if state != "COMPLETED":
        fd = step["Status"].get("FailureDetails", {})
        cause = fd.get("Reason") or fd.get("Message") or ""
        raise CheckFailed(
            "COMPLETED",
            f"{state} {cause}".strip(),
            "`bdlab emr logs <클러스터> <스텝>`으로 stderr를 보세요. 3단계 hourly_job.py의 "
            "hourly_clicks가 NotImplementedError면 아직 채우지 않은 것입니다.",
        )


@check(5)
def hourly_aggregate_matches(ctx: LabContext) -> None:
    """agg/hourly_clicks/ 의 (시간, 이벤트 종류)별 건수가 S3에 도착한 이벤트와 같다"""
    import pyarrow.parquet as pq

    s3 = ctx.client("s3")
    rows: list[dict[str, Any]] = []
    for o in _objects(ctx, AGG_PREFIX):
        if o["Key"].endswith(".parquet"):
            body = s3.get_object(Bucket=bucket(ctx), Key=o["Key"])["Body"].read()
            rows += pq.read_table(io.BytesIO(body)).to_pylist()
    if not rows:
        raise CheckFailed(
            f"s3://{bucket(ctx)}/{AGG_PREFIX} 의 Parquet",
            "없음",
            f"스텝의 두 번째 인자(결과 위치)를 s3://{bucket(ctx)}/{AGG_PREFIX}로 주세요.",
        )
    missing_cols = [c for c in (*GROUP, "events") if c not in rows[0]]
    if missing_cols:
        raise CheckFailed(
            "열 year, month, day, hour, event_type, events",
            f"빠진 열: {', '.join(missing_cols)}",
            "hourly_clicks에서 groupBy('year', 'month', 'day', 'hour', 'event_type') 후 "
            "count를 events로 이름 붙이세요. year= 같은 파티션 폴더는 Spark가 열로 읽습니다.",
        )
    want: Counter[tuple[str, ...]] = Counter()
    for part, e in _delivered(ctx):
        want[tuple(str(int(part[k])) for k in GROUP[:4]) + (e["event_type"],)] += 1
    got = {
        tuple(str(int(r[k])) for k in GROUP[:4]) + (str(r["event_type"]),): int(r["events"])
        for r in rows
    }
    if got != dict(want):
        wrong = sorted(set(want) ^ set(got) | {k for k in want if want[k] != got.get(k)})
        k = wrong[0]
        raise CheckFailed(
            f"{'/'.join(k[:4])} {k[4]}: {want.get(k, 0)}건",
            f"{got.get(k, 0)}건 (틀린 칸 {len(wrong)}개)",
            "시간별(year, month, day, hour) × event_type별로 모든 이벤트를 세세요. "
            "purchase만 세거나 hour를 빼면 어긋납니다.",
        )

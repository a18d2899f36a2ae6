"""Checks of lab 2.1.3, in order. Each docstring's first line is what the learner sees.

They read real state only: the stream's description and tags, its shards and their lineage,
every record read back from TRIM_HORIZON (which shard holds it, its partition key, its
data), and the AWS/Kinesis metrics the stream published to CloudWatch.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from labs.harness import CheckFailed, LabContext, check
from labs.l213_kinesis_streams.lab import (
    BURST,
    EVENTS,
    PHASE_BURST,
    PHASE_COUNTRY,
    PHASE_RESHARD,
    PHASE_USER,
    RESHARD_KEYS,
    RESHARD_PER_KEY,
    SHARDS,
    TAGS,
    TARGET_SHARDS,
    stream_name,
)
from sim.kinesis.reader import StreamRecord, read_all

HOT_SHARE = 0.75  # country keys: one of two shards takes at least this share
EVEN_SHARE = 0.6  # user_id keys: no shard of two takes more than this


def _summary(ctx: LabContext) -> dict[str, Any] | None:
    kinesis = ctx.client("kinesis")
    try:
        return dict(
            kinesis.describe_stream_summary(StreamName=stream_name(ctx))["StreamDescriptionSummary"]
        )
    except kinesis.exceptions.ResourceNotFoundException:
        return None


def _records(ctx: LabContext) -> dict[str, list[tuple[StreamRecord, dict[str, Any]]]]:
    """Every record of the stream by phase, with its parsed data (read once per check run)."""
    cache = ctx.options.setdefault("_l213_records", {})
    if "all" not in cache:
        by_phase: dict[str, list[tuple[StreamRecord, dict[str, Any]]]] = defaultdict(list)
        for r in read_all(ctx.client("kinesis"), stream_name(ctx)):
            try:
                body = json.loads(r.data)
            except ValueError:
                body = {}
            by_phase[str(body.get("phase", "?"))].append((r, body))
        cache["all"] = dict(by_phase)
    return dict(cache["all"])


def _original_shards(ctx: LabContext) -> list[str]:
    """The shards the stream was created with (those without parents)."""
    shards = ctx.client("kinesis").list_shards(StreamName=stream_name(ctx))["Shards"]
    return sorted(s["ShardId"] for s in shards if "ParentShardId" not in s)


@check(1)
def stream_active(ctx: LabContext) -> None:
    """스트림이 ACTIVE이고 프로비저닝 모드이며 태그(project=bdlab, lab=2.1.3)가 붙어 있다"""
    summary = _summary(ctx)
    if summary is None:
        raise CheckFailed(
            f"스트림 {stream_name(ctx)}",
            "없음",
            "1단계에서 kinesis.create_stream(StreamName=stream_name(ctx), ShardCount=2, ...)을 "
            "부르세요.",
        )
    if summary["StreamStatus"] != "ACTIVE":
        raise CheckFailed(
            "StreamStatus ACTIVE",
            summary["StreamStatus"],
            "get_waiter('stream_exists').wait(StreamName=...)로 ACTIVE가 될 때까지 기다리세요.",
        )
    mode = summary.get("StreamModeDetails", {}).get("StreamMode")
    if mode != "PROVISIONED":
        raise CheckFailed(
            "StreamMode PROVISIONED",
            str(mode),
            "이 실습은 샤드 수를 직접 정합니다: StreamModeDetails={'StreamMode': 'PROVISIONED'}",
        )
    tags = {
        t["Key"]: t["Value"]
        for t in ctx.client("kinesis").list_tags_for_stream(StreamName=stream_name(ctx))["Tags"]
    }
    missing = {k: v for k, v in TAGS.items() if tags.get(k) != v}
    if missing:
        raise CheckFailed(
            f"태그 {TAGS}",
            f"태그 {tags or '없음'}",
            "kinesis.add_tags_to_stream(StreamName=..., Tags=TAGS)로 태그를 다세요.",
        )


@check(2)
def hot_key_seen(ctx: LabContext) -> None:
    """국가 코드 키로 보낸 2,000건이 모두 있고, 한 샤드에 몰려 있다 (핫 샤드)"""
    got = _records(ctx).get(PHASE_COUNTRY, [])
    ids = {b.get("event_id") for _, b in got}
    if len(ids) != EVENTS:
        raise CheckFailed(
            f"phase={PHASE_COUNTRY} 레코드 {EVENTS}건 (서로 다른 event_id)",
            f"{len(ids)}건",
            "2단계에서 sample_events()의 모든 이벤트를 record(e, PHASE_COUNTRY)로 보내세요. "
            "PutRecords가 실패라고 답한 레코드는 다시 보내야 합니다.",
        )
    wrong = [r.partition_key for r, b in got if r.partition_key != b.get("country")]
    if wrong:
        raise CheckFailed(
            "파티션 키 = 국가 코드 (예: KR)",
            f"다른 키 {len(wrong)}건 (예: {wrong[0]!r})",
            "2단계는 일부러 PartitionKey=e['country']로 보내 핫 키를 만들어 보는 단계입니다.",
        )
    per_shard = Counter(r.shard_id for r, _ in got)
    top = max(per_shard.values()) / len(got)
    if top < HOT_SHARE:
        raise CheckFailed(
            f"한 샤드에 {HOT_SHARE:.0%} 이상",
            f"샤드별 {dict(per_shard)}",
            f"스트림을 샤드 {SHARDS}개로 만들었는지 확인하세요 (키 해시 범위가 반씩 나뉩니다).",
        )


@check(3)
def keys_spread_evenly(ctx: LabContext) -> None:
    """user_id 키로 보낸 2,000건이 모두 있고 두 샤드에 고르게 나뉘어 있다"""
    got = _records(ctx).get(PHASE_USER, [])
    ids = {b.get("event_id") for _, b in got}
    if len(ids) != EVENTS:
        raise CheckFailed(
            f"phase={PHASE_USER} 레코드 {EVENTS}건",
            f"{len(ids)}건",
            "3단계에서 같은 이벤트를 record(e, PHASE_USER)로 다시 보내세요.",
        )
    wrong = [r.partition_key for r, b in got if r.partition_key != str(b.get("user_id"))]
    if wrong:
        raise CheckFailed(
            "파티션 키 = str(user_id)",
            f"다른 키 {len(wrong)}건 (예: {wrong[0]!r})",
            "종류가 많고 고르게 퍼진 값(사용자 ID)을 키로 쓰면 MD5 해시가 샤드에 고르게 "
            "나뉩니다: PartitionKey=str(e['user_id'])",
        )
    per_shard = Counter(r.shard_id for r, _ in got)
    top = max(per_shard.values()) / len(got)
    if top > EVEN_SHARE or len(per_shard) < SHARDS:
        raise CheckFailed(
            f"어느 샤드도 {EVEN_SHARE:.0%}를 넘지 않음",
            f"샤드별 {dict(per_shard)}",
            "3단계 레코드는 리샤딩(4단계) 전에 보내야 처음 두 샤드에 나뉩니다.",
        )


@check(4)
def resharded_in_order(ctx: LabContext) -> None:
    """샤드가 4개로 늘었고, 리샤딩 중에 보낸 레코드가 빠짐없이 키마다 순서대로 있다"""
    kinesis = ctx.client("kinesis")
    latest = kinesis.list_shards(StreamName=stream_name(ctx), ShardFilter={"Type": "AT_LATEST"})
    open_now = len(latest["Shards"])
    if open_now != TARGET_SHARDS:
        raise CheckFailed(
            f"열린 샤드 {TARGET_SHARDS}개",
            f"{open_now}개",
            "kinesis.update_shard_count(StreamName=..., TargetShardCount=4, "
            "ScalingType='UNIFORM_SCALING') 후 stream_exists 웨이터로 기다리세요.",
        )
    parents = _original_shards(ctx)
    children = [s for s in latest["Shards"] if s.get("ParentShardId") in parents]
    if len(children) != TARGET_SHARDS:
        raise CheckFailed(
            "새 샤드 4개가 모두 처음 샤드들의 자식",
            f"자식 샤드 {len(children)}개",
            "스트림을 지우고 다시 만들지 말고, 있는 스트림에서 UpdateShardCount를 부르세요.",
        )
    got = _records(ctx).get(PHASE_RESHARD, [])
    expected = RESHARD_KEYS * RESHARD_PER_KEY
    per_key: dict[str, list[int]] = defaultdict(list)
    for _, b in got:
        per_key[str(b.get("user"))].append(int(b.get("n", -1)))
    total = len({(k, n) for k, ns in per_key.items() for n in ns})
    if total != expected:
        raise CheckFailed(
            f"phase={PHASE_RESHARD} 레코드 {expected}건",
            f"{total}건",
            "리샤딩 중에도 PutRecords는 계속 받습니다. 실패한 항목(ErrorCode)을 다시 보냈는지 "
            "확인하세요.",
        )
    in_parents = sum(1 for r, _ in got if r.shard_id in parents)
    if in_parents == 0 or in_parents == len(got):
        raise CheckFailed(
            "리샤딩 전 레코드는 부모 샤드에, 리샤딩 중·후 레코드는 자식 샤드에",
            f"부모 샤드에 {in_parents}건, 자식 샤드에 {len(got) - in_parents}건",
            "앞 절반을 보낸 뒤, 나머지를 보내는 동안 update_shard_count를 부르세요.",
        )
    # read in lineage order (parents first): each key's counter must only go up
    for key, ns in sorted(per_key.items()):
        firsts = list(dict.fromkeys(ns))
        if firsts != sorted(firsts):
            i = next(j for j in range(1, len(firsts)) if firsts[j] < firsts[j - 1])
            raise CheckFailed(
                f"{key}의 레코드가 보낸 순서대로",
                f"{firsts[i - 1]} 다음에 {firsts[i]}",
                "재시도하면 같은 키의 레코드 순서가 바뀔 수 있습니다. Producer(..., ordered=True)는 "
                "키마다 한 번에 하나씩, 앞의 것이 성공한 뒤에 다음 것을 보냅니다.",
            )


def _throttled_metric(ctx: LabContext, since: datetime) -> float:
    points = ctx.client("cloudwatch").get_metric_statistics(
        Namespace="AWS/Kinesis",
        MetricName="WriteProvisionedThroughputExceeded",
        Dimensions=[{"Name": "StreamName", "Value": stream_name(ctx)}],
        StartTime=since,
        # relative to the stream's own (emulator clock) time: that clock may run days ahead
        EndTime=since + timedelta(days=1),
        Period=60,
        Statistics=["Sum"],
    )["Datapoints"]
    return float(sum(p["Sum"] for p in points))


@check(5)
def burst_retried_without_loss(ctx: LabContext) -> None:
    """몰아 보낸 6,000건이 빠짐도 중복도 없이 들어갔고, 스로틀링이 실제로 일어났다"""
    got = _records(ctx).get(PHASE_BURST, [])
    ids = Counter(b.get("burst_id") for _, b in got)
    dupes = sum(n - 1 for n in ids.values() if n > 1)
    if len(ids) != BURST:
        raise CheckFailed(
            f"phase={PHASE_BURST} 레코드 {BURST}건",
            f"{len(ids)}건 ({BURST - len(ids)}건 빠짐)",
            "PutRecords는 일부만 실패해도 HTTP 200입니다. 응답의 FailedRecordCount와 레코드별 "
            "ErrorCode(ProvisionedThroughputExceededException)를 보고 실패한 항목만 다시 "
            "보내세요.",
        )
    if dupes:
        raise CheckFailed(
            "중복 0건",
            f"중복 {dupes}건",
            "전체 배치를 다시 보내면 이미 성공한 레코드가 또 들어갑니다. 실패한 항목만 다시 "
            "보내세요.",
        )
    summary = _summary(ctx) or {}
    created = summary.get("StreamCreationTimestamp") or datetime.now(UTC) - timedelta(days=1)
    deadline = time.monotonic() + 20  # metrics reach CloudWatch within seconds (AWS: ~1 min)
    seen = _throttled_metric(ctx, created - timedelta(minutes=1))
    while seen == 0 and time.monotonic() < deadline:
        time.sleep(1)
        seen = _throttled_metric(ctx, created - timedelta(minutes=1))
    if seen == 0:
        raise CheckFailed(
            "CloudWatch AWS/Kinesis WriteProvisionedThroughputExceeded > 0",
            "0 (스로틀링 없음)",
            f"{BURST}건을 한꺼번에(1초 안에) 보내야 샤드당 초당 1,000건 한도를 넘습니다. "
            "AWS에서는 지표가 1~2분 늦게 보이니 잠시 뒤 다시 확인하세요.",
        )

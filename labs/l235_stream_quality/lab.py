"""Lab 2.3.5 — 스트리밍 데이터 품질 모니터링 (the learner's file).

Fill in the four TODO steps (see README.md), then:

    bdlab run 2.3.5      # runs main() below against the active profile
    bdlab check 2.3.5    # reads the stream, the lake, the quarantine and CloudWatch
"""

from __future__ import annotations

import json
import random
import shutil
import time
from collections import OrderedDict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from labs.harness import LabContext, LabInfo
from sim import s3util
from sim.dataquality import Rules
from sim.kinesis.producer import Producer

LAB = LabInfo(
    id="2.3.5",
    slug="l235_stream_quality",
    title="스트리밍 데이터 품질 모니터링",
    part=2,
    summary="주문·클릭 이벤트 스트림에 품질 규칙을 걸고, 나쁜 레코드를 격리하며, "
    "CloudWatch 통과율(PassRate)이 떨어지는 것을 봅니다.",
)

SHARDS = 2
SEED = 235
CLEAN_FIRST = 200  # clean events sent before the first micro-batch
CLEAN_SECOND = 90  # clean events sent with the bad ones (the second micro-batch)
LAKE_PREFIX = "lake/orders"  # the Delta table of good events
QUARANTINE_PREFIX = "quarantine/orders/"  # bad records as JSON lines, with their rule
COUNTRIES = ("KR", "US", "JP", "DE", "GB")
EVENT_TYPES = ("view", "click", "add_to_cart", "purchase")
DEVICES = ("mobile", "desktop", "tablet")
STALE_S = 3 * 3600  # how old the stale event is (the freshness rule allows one hour)

# What each kind of bad record breaks: the rule name the quality job writes into the
# quarantine (dq_rule) and into the FailedRecords metric's Rule dimension.
BAD_RULES = {
    "missing": "required:user_id",  # no user_id
    "type": "type:price",  # price "free"
    "range": "range:price",  # price -5 and 99,999
    "country": "allowed:country",  # country "XX"
    "eventtype": "allowed:event_type",  # event_type "refund?"
    "stale": "freshness:event_time",  # three hours old
    "json": "json",  # not JSON at all
    "duplicate": "unique:event_id",  # an event sent again
}
BAD_TOTAL = 10  # missing 1, type 1, range 2, country 1, eventtype 1, stale 1, json 2, duplicate 1


def stream_name(ctx: LabContext) -> str:
    return ctx.name("orders")


def lake_bucket(ctx: LabContext) -> str:
    return ctx.name("lake")


def lake_uri(ctx: LabContext) -> str:
    """Where the quality job appends good events (a Delta table)."""
    return f"s3a://{lake_bucket(ctx)}/{LAKE_PREFIX}"


def quarantine(ctx: LabContext) -> tuple[str, str]:
    """(bucket, prefix) of the quarantine: one JSON-lines object per micro-batch."""
    return lake_bucket(ctx), QUARANTINE_PREFIX


def pipeline_name(ctx: LabContext) -> str:
    """The Pipeline dimension of the quality metrics in CloudWatch (namespace bdlab/quality)."""
    return ctx.name("orders")


def lab_dir(ctx: LabContext) -> Path:
    """This lab's local folder (inside the bdlab state folder): the query's checkpoint."""
    return ctx.settings.state_path / "labs" / "l235"


def checkpoint_dir(ctx: LabContext) -> str:
    """Spark's checkpoint: which records of each shard the query has taken."""
    return str(lab_dir(ctx) / "checkpoint")


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


def clean_events(n: int, first: int = 0, now: float | None = None) -> list[dict[str, Any]]:
    """Given: ``n`` good order/click events (ids o-000000 ...), happening just now."""
    rng = random.Random(SEED + first)
    at = time.time() if now is None else now
    return [
        {
            "event_id": f"o-{i:06d}",
            "event_time": _iso(at - rng.uniform(0, 30)),
            "user_id": rng.randint(1, 5_000),
            "event_type": rng.choice(EVENT_TYPES),
            "product_id": rng.randint(1, 500),
            "price": round(rng.uniform(1, 500), 2),
            "quantity": rng.randint(1, 5),
            "country": rng.choice(COUNTRIES),
            "device": rng.choice(DEVICES),
        }
        for i in range(first, first + n)
    ]


def bad_records(sent: list[dict[str, Any]], now: float | None = None) -> list[bytes]:
    """Given: the bad records of step 3 (see BAD_RULES), as the stream's bytes. ``sent`` are
    events already sent: one of them comes again (the duplicate)."""
    at = time.time() if now is None else now
    base = clean_events(1, first=900_000, now=at)[0]

    def bad(kind: str, n: int = 0, **change: Any) -> bytes:
        doc = {**base, "event_id": f"bad-{kind}-{n}", **change}
        return json.dumps({k: v for k, v in doc.items() if v is not None}).encode()

    return [
        bad("missing", user_id=None),
        bad("type", price="free"),
        bad("range", 0, price=-5.0),
        bad("range", 1, price=99_999.0),
        bad("country", country="XX"),
        bad("eventtype", event_type="refund?"),
        bad("stale", event_time=_iso(at - STALE_S)),
        b"<html><body>502 Bad Gateway</body></html>",
        b'{"event_id": "bad-json-1", "event_time": "20',  # cut off mid-record
        json.dumps(sent[7]).encode(),  # the same event, sent again (at-least-once)
    ]


def send(ctx: LabContext, records: list[bytes]) -> int:
    """Given: put ``records`` into the stream (partition key: the record's position)."""
    stats = Producer(ctx.client("kinesis"), stream_name(ctx)).put(
        (data, f"k{i}") for i, data in enumerate(records)
    )
    return int(stats.sent)


def as_bytes(events: list[dict[str, Any]]) -> list[bytes]:
    return [json.dumps(e).encode() for e in events]


# --------------------------------------------------------------------------- TODO
def step1_rules() -> Rules:
    """1단계: 주문·클릭 이벤트의 품질 규칙을 데이터(Rules)로 적습니다."""
    # TODO(1단계): Rules(required=(...), types={...}, ranges={...}, allowed={...},
    #              freshness_s=..., unique=...)  — README.md의 표를 보세요.
    raise NotImplementedError("TODO 1단계: README.md의 '1단계'를 보고 품질 규칙을 적으세요.")


def step2_run_quality_job(
    ctx: LabContext, spark: Any, rules: Rules, seen: OrderedDict[Any, None]
) -> dict[str, Any]:
    """2단계: 품질 작업(Kinesis -> Spark -> 레이크 + 격리 구역)을 한 번 돌려, 스트림에 새로
    들어온 레코드를 마이크로 배치 하나로 처리합니다."""
    # TODO(2단계): q = quality_stream.start(spark, ctx.profile, stream_name(ctx), lake_uri(ctx),
    #              quarantine(ctx), checkpoint_dir(ctx), rules, pipeline=pipeline_name(ctx),
    #              good_format="delta", available_now=True, seen=seen)
    #              q.awaitTermination(); {"rows": q.lastProgress["numInputRows"]}를 반환합니다.
    raise NotImplementedError("TODO 2단계: README.md의 '2단계'를 보고 품질 작업을 돌리세요.")


def step3_inject_bad(ctx: LabContext, sent: list[dict[str, Any]]) -> int:
    """3단계: 깨끗한 이벤트 90건과 나쁜 레코드 10건(bad_records)을 스트림에 넣습니다.
    ``sent``는 준비 단계에서 보낸 이벤트입니다 (그중 하나가 중복으로 다시 옵니다)."""
    # TODO(3단계): more = clean_events(CLEAN_SECOND, first=CLEAN_FIRST)
    #              return send(ctx, as_bytes(more) + bad_records(sent))
    raise NotImplementedError("TODO 3단계: README.md의 '3단계'를 보고 나쁜 레코드를 넣으세요.")


def step4_report(ctx: LabContext) -> dict[str, Any]:
    """4단계: CloudWatch의 PassRate와 격리 구역의 규칙별 건수를 읽어 보여 줍니다."""
    # TODO(4단계): cloudwatch.get_metric_statistics(Namespace="bdlab/quality",
    #              MetricName="PassRate", Dimensions=[{"Name": "Pipeline", ...}], ...)와
    #              s3의 quarantine/orders/ 아래 JSON 줄의 dq_rule을 세어 반환합니다.
    raise NotImplementedError("TODO 4단계: README.md의 '4단계'를 보고 지표와 격리 구역을 보세요.")


# --------------------------------------------------------------------------- given
def prepare(ctx: LabContext) -> None:
    """Given: a fresh stream, an empty lake bucket and no checkpoint."""
    reset(ctx)
    kinesis = ctx.client("kinesis")
    kinesis.create_stream(StreamName=stream_name(ctx), ShardCount=SHARDS)
    kinesis.get_waiter("stream_exists").wait(
        StreamName=stream_name(ctx), WaiterConfig={"Delay": 1, "MaxAttempts": 120}
    )
    kinesis.add_tags_to_stream(
        StreamName=stream_name(ctx), Tags={"project": "bdlab", "lab": LAB.id}
    )
    s3util.ensure_bucket(ctx.client("s3"), lake_bucket(ctx), ctx.profile.region)


def main(ctx: LabContext) -> dict[str, Any]:
    with ctx.step("준비: 스트림, 레이크 버킷, 깨끗한 이벤트 200건"):
        prepare(ctx)
        sent = clean_events(CLEAN_FIRST)
        send(ctx, as_bytes(sent))
    with ctx.step("1단계: 품질 규칙"):
        rules = step1_rules()
    with ctx.step("Spark 세션 시작"):
        spark = ctx.spark()
    seen: OrderedDict[Any, None] = OrderedDict()  # recent event ids, kept between the runs
    with ctx.step("2단계: 품질 작업 (깨끗한 마이크로 배치)"):
        first = step2_run_quality_job(ctx, spark, rules, seen)
    with ctx.step("3단계: 나쁜 레코드 넣기"):
        injected = step3_inject_bad(ctx, sent)
    with ctx.step("2단계 다시: 다음 마이크로 배치"):
        second = step2_run_quality_job(ctx, spark, rules, seen)
    with ctx.step("4단계: 품질 지표와 격리 구역 보기"):
        report = step4_report(ctx)
    return {"first_batch": first, "injected": injected, "second_batch": second, **report}


def reset(ctx: LabContext) -> dict[str, Any]:
    """Delete the lab's stream, its bucket (lake and quarantine) and the query's checkpoint.
    CloudWatch keeps metric data (it has no delete): the checks read only this run's."""
    done: dict[str, Any] = {}
    kinesis = ctx.client("kinesis")
    try:
        kinesis.delete_stream(StreamName=stream_name(ctx), EnforceConsumerDeletion=True)
        kinesis.get_waiter("stream_not_exists").wait(
            StreamName=stream_name(ctx), WaiterConfig={"Delay": 1, "MaxAttempts": 120}
        )
        done["stream"] = True
    except kinesis.exceptions.ResourceNotFoundException:
        done["stream"] = False
    done["objects"] = s3util.delete_bucket(ctx.client("s3"), lake_bucket(ctx))
    if lab_dir(ctx).exists():
        shutil.rmtree(lab_dir(ctx))
    return done

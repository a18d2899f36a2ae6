"""Lab 1.3.4 — 레이크 영역(raw/bronze/silver/gold)과 대용량 배치 ETL (the learner's file).

Fill in the four TODO steps (see README.md), then:

    bdlab run 1.3.4      # runs main() below against the active profile
    bdlab check 1.3.4    # checks what is really in S3 now
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from labs.harness import LabContext, LabInfo
from sim import s3util
from sim.datagen import clickstream

LAB = LabInfo(
    id="1.3.4",
    slug="l134_lake_zones",
    title="레이크 영역과 대용량 배치 ETL",
    part=1,
    summary="원본(raw)을 bronze/silver/gold Delta 테이블로 만드는 배치 ETL을 돌리고, "
    "격리(quarantine)와 멱등성, 늦게 온 데이터, 영역별 수명 주기를 확인합니다.",
)

START = datetime(2026, 3, 2, tzinfo=UTC)
DAYS = 3
ROWS = 20_000
SEED = 134
RAW_PREFIX = "raw/events/"
ZONES = ("bronze/events", "silver/events", "quarantine/events")
GOLD = ("gold/daily_revenue", "gold/funnel", "gold/top_products")
RESULTS_KEY = "results/lake_zones.json"
RAW_IA_DAYS = 30
QUARANTINE_EXPIRE_DAYS = 30


def lake_bucket(ctx: LabContext) -> str:
    return ctx.name("zones")


def raw_uri(ctx: LabContext) -> str:
    return f"s3a://{lake_bucket(ctx)}/{RAW_PREFIX}"


def lake_uri(ctx: LabContext) -> str:
    """The lake's root: the zones are bronze/, silver/, gold/ and quarantine/ under it."""
    return f"s3a://{lake_bucket(ctx)}"


def sample_events() -> pa.Table:
    return clickstream.generate(ROWS, START, DAYS, seed=SEED)


def day(i: int) -> str:
    return (START + timedelta(days=i)).strftime("%Y-%m-%d")


def to_json_lines(events: pa.Table) -> bytes:
    df = events.to_pandas()
    df["event_time"] = df["event_time"].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return str(df.to_json(orient="records", lines=True)).encode()


def _line(event_id: str, when: str, **kw: Any) -> str:
    row = {
        "event_id": event_id,
        "event_time": when,
        "user_id": 7,
        "session_id": "s-partner",
        "event_type": "purchase",
        "product_id": 1,
        "category": "books",
        "price": 12.5,
        "quantity": 1,
        "country": "KR",
        "device": "desktop",
    }
    row.update(kw)
    return json.dumps(row)


def prepare_data(ctx: LabContext) -> None:
    """Given: the bucket, and two files other teams dropped into raw/: a partner's export
    whose schema drifted (an extra field), and a file with two broken lines among good ones."""
    s3 = ctx.client("s3")
    bucket = lake_bucket(ctx)
    s3util.ensure_bucket(s3, bucket, ctx.profile.region)
    when = f"{day(0)}T09:00:00Z"
    drift = "\n".join(_line(f"p{i}", when, coupon="SPRING") for i in range(10))
    s3.put_object(Bucket=bucket, Key=f"{RAW_PREFIX}dt={day(0)}/partner-0001.json", Body=drift)
    mixed = [_line(f"m{i}", f"{day(1)}T10:00:00Z") for i in range(20)]
    mixed[5] = '{"event_id": "m5", "event_time": '  # cut off mid-line
    mixed[9] = _line("m9", f"{day(1)}T10:00:00Z", price="free")
    s3.put_object(
        Bucket=bucket, Key=f"{RAW_PREFIX}dt={day(1)}/mixed-0001.json", Body="\n".join(mixed)
    )


def late_events() -> bytes:
    """Given: a late file: two events that happened on day 0 but arrived now, and three repeats
    of events the lake already has (at-least-once delivery)."""
    old = sample_events().slice(0, 3)
    late = [_line(f"late{i}", f"{day(0)}T23:5{i}:00Z", price=100.0) for i in range(2)]
    return to_json_lines(old) + ("\n".join(late) + "\n").encode()


# --------------------------------------------------------------------------- TODO
def step1_upload_raw(ctx: LabContext, events: pa.Table) -> list[str]:
    """1단계: 이벤트를 날짜(UTC)별 JSON Lines로 raw/events/dt=YYYY-MM-DD/events-0000.json 에 올립니다."""
    raise NotImplementedError("TODO 1단계: README.md의 '1단계'를 보세요.")


def step2_run_etl(ctx: LabContext, spark: Any) -> dict[str, Any]:
    """2단계: spark/jobs/lake_etl.py의 run()으로 raw -> bronze -> silver -> gold를 만듭니다."""
    raise NotImplementedError("TODO 2단계: README.md의 '2단계'를 보세요.")


def step3_late_data(ctx: LabContext, spark: Any) -> dict[str, Any]:
    """3단계: 늦게 온 파일(late_events())을 raw에 올리고 ETL을 다시 돌립니다."""
    raise NotImplementedError("TODO 3단계: README.md의 '3단계'를 보세요.")


def step4_zone_lifecycle(ctx: LabContext) -> None:
    """4단계: raw/는 30일 뒤 STANDARD_IA, quarantine/files/는 30일 뒤 삭제하는 수명 주기 규칙.

    quarantine/events는 Delta 테이블이라 규칙을 걸면 안 됩니다 (README의 4단계)."""
    raise NotImplementedError("TODO 4단계: README.md의 '4단계'를 보세요.")


# --------------------------------------------------------------------------- run
def main(ctx: LabContext) -> dict[str, Any]:
    with ctx.step("준비: 레이크 버킷"):
        prepare_data(ctx)
    with ctx.step("1단계: raw/ 업로드"):
        step1_upload_raw(ctx, sample_events())
    with ctx.step("Spark 세션 시작"):
        spark = ctx.spark("lab-1.3.4")
    with ctx.step("2단계: ETL (처음)"):
        result = {"first": step2_run_etl(ctx, spark)}
    with ctx.step("2단계: ETL (같은 입력으로 다시)"):
        result["again"] = step2_run_etl(ctx, spark)  # same input: nothing should change
    with ctx.step("3단계: 늦게 온 데이터"):
        result["late"] = step3_late_data(ctx, spark)
    with ctx.step("4단계: 영역별 수명 주기"):
        step4_zone_lifecycle(ctx)
    ctx.client("s3").put_object(
        Bucket=lake_bucket(ctx), Key=RESULTS_KEY, Body=json.dumps(result, indent=1).encode()
    )
    return result


def reset(ctx: LabContext) -> int:
    """Delete the lab's bucket and everything in it; returns objects removed."""
    return s3util.delete_bucket(ctx.client("s3"), lake_bucket(ctx))

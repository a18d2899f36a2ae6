"""Checks of lab 1.3.4, in order. Each docstring's first line is what the learner sees.

They read real state only: keys in S3, the Delta tables' transaction logs and data files
(read with pyarrow, without Spark), the bucket's lifecycle rules and the run's results file.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from typing import Any

import pyarrow.compute as pc

from labs import deltalog
from labs.harness import CheckFailed, LabContext, check
from labs.l134_lake_zones.lab import (
    DAYS,
    GOLD,
    QUARANTINE_EXPIRE_DAYS,
    RAW_IA_DAYS,
    RAW_PREFIX,
    RESULTS_KEY,
    ROWS,
    ZONES,
    lake_bucket,
)
from sim import s3util

_HIVE_KEY = re.compile(r"^dt=(\d{4}-\d{2}-\d{2})/[^/]+$")
# 20 lines in the mixed file, 2 of them broken; 2 late events (3 late repeats add nothing)
EXPECTED_SILVER = ROWS + 18 + 2


def _table(ctx: LabContext, prefix: str) -> deltalog.DeltaState:
    s3 = ctx.client("s3")
    try:
        state = deltalog.read(s3, lake_bucket(ctx), prefix)
    except s3.exceptions.NoSuchBucket:
        state = None
    if state is None:
        raise CheckFailed(
            f"Delta 테이블 s3://{lake_bucket(ctx)}/{prefix}/ (_delta_log 포함)",
            "없음",
            "2단계에서 lake_etl.run(spark, raw_uri(ctx), lake_uri(ctx))를 불렀는지, "
            "`bdlab run 1.3.4`가 끝까지 돌았는지 확인하세요.",
        )
    return state


def _results(ctx: LabContext) -> dict[str, Any]:
    s3 = ctx.client("s3")
    try:
        body = s3.get_object(Bucket=lake_bucket(ctx), Key=RESULTS_KEY)["Body"].read()
    except (s3.exceptions.NoSuchKey, s3.exceptions.NoSuchBucket):
        raise CheckFailed(
            f"s3://{lake_bucket(ctx)}/{RESULTS_KEY}",
            "없음",
            "`bdlab run 1.3.4`가 끝까지 돌아야 결과가 저장됩니다.",
        ) from None
    return dict(json.loads(body))


@check(1)
def raw_is_hive_partitioned(ctx: LabContext) -> None:
    """raw/events/ 아래 모든 파일이 dt=YYYY-MM-DD/ 파티션에 있다 (3일 치)"""
    s3 = ctx.client("s3")
    try:
        objs = s3util.list_objects(s3, lake_bucket(ctx), RAW_PREFIX)
    except s3.exceptions.NoSuchBucket:
        objs = []
    days: dict[str, int] = defaultdict(int)
    bad = []
    for o in objs:
        m = _HIVE_KEY.match(o["Key"][len(RAW_PREFIX) :])
        if m is None:
            bad.append(o["Key"])
        else:
            days[m.group(1)] += 1
    if bad:
        raise CheckFailed(
            f"모든 키가 {RAW_PREFIX}dt=YYYY-MM-DD/<파일> 형태",
            f"형태가 다른 키 {len(bad)}개 (예: {bad[0]})",
            "1단계에서 event_time의 UTC 날짜로 나눠 'dt=<날짜>/' 경로에 올리세요.",
        )
    if len(days) < DAYS:
        raise CheckFailed(
            f"dt 파티션 {DAYS}개", f"{len(days)}개 {sorted(days)}", "1단계를 완성하세요."
        )


@check(2)
def zones_are_delta_tables(ctx: LabContext) -> None:
    """bronze, silver, gold(3개), quarantine 영역이 모두 Delta 테이블이다"""
    for prefix in (*ZONES, *GOLD):
        _table(ctx, prefix)
    silver = _table(ctx, "silver/events")
    if silver.partition_columns != ["dt"]:
        raise CheckFailed(
            "silver/events는 dt로 파티셔닝", f"파티션 열 {silver.partition_columns}", ""
        )
    odd = [p for p in silver.files if not _HIVE_KEY.match(p)]
    if odd:
        raise CheckFailed("silver 파일이 dt=YYYY-MM-DD/ 아래", f"예외 {odd[:2]}", "")


@check(3)
def bad_input_is_quarantined(ctx: LabContext) -> None:
    """스키마가 바뀐 파일은 통째로, 깨진 줄은 이유와 함께 quarantine에 있다"""
    s3 = ctx.client("s3")
    bucket = lake_bucket(ctx)
    kept = [o["Key"] for o in s3util.list_objects(s3, bucket, "quarantine/files/")]
    if not any(k.endswith("/partner-0001.json") for k in kept):
        raise CheckFailed(
            "quarantine/files/batch=N/partner-0001.json (원본 그대로)",
            f"{kept or '없음'}",
            "ETL이 raw 파일을 미리 훑어보고(샘플) 스키마가 다른 파일을 통째로 격리합니다. "
            "raw_uri(ctx)를 입력으로 넘겼는지 확인하세요.",
        )
    state = _table(ctx, "quarantine/events")
    rows = deltalog.read_rows(s3, bucket, "quarantine/events", state).to_pylist()
    reasons = sorted(str(r["reason"]) for r in rows)
    want = ["malformed JSON", "mistyped field: price (expected double)"]
    if [r for r in reasons if not r.startswith("file:")] != want or len(rows) != 3:
        raise CheckFailed(
            f"줄 단위 이유 {want} + 파일 하나",
            f"{reasons}",
            "같은 입력으로 두 번 돌려도 격리가 두 번 쌓이면 안 됩니다 (멱등성).",
        )


@check(4)
def bronze_keeps_every_line(ctx: LabContext) -> None:
    """bronze는 격리된 파일을 뺀 raw의 모든 줄을 한 번씩, 출처(_source)와 함께 담는다"""
    s3 = ctx.client("s3")
    bucket = lake_bucket(ctx)
    quarantined = {
        o["Key"].rsplit("/", 1)[1] for o in s3util.list_objects(s3, bucket, "quarantine/files/")
    }
    lines = 0
    for o in s3util.list_objects(s3, bucket, RAW_PREFIX):
        if o["Key"].rsplit("/", 1)[1] in quarantined:
            continue
        body = s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
        lines += sum(1 for x in body.splitlines() if x.strip())
    bronze = _table(ctx, "bronze/events")
    if "_source" not in bronze.schema or "_batch" not in bronze.schema:
        raise CheckFailed("bronze 열에 _source, _batch", f"{bronze.schema}", "")
    if bronze.num_records() != lines:
        raise CheckFailed(
            f"bronze {lines}행 (raw의 줄 수)",
            f"{bronze.num_records()}행",
            "같은 파일을 두 번 읽으면 bronze에 중복이 쌓입니다. lake_etl은 이미 읽은 파일을 "
            "커밋 정보(userMetadata)로 기억합니다: 출력 경로를 바꾸지 마세요.",
        )


@check(5)
def silver_is_deduplicated(ctx: LabContext) -> None:
    """silver에는 이벤트가 event_id마다 한 번씩, 늦게 온 이벤트까지 들어 있다"""
    s3 = ctx.client("s3")
    state = _table(ctx, "silver/events")
    rows = deltalog.read_rows(s3, lake_bucket(ctx), "silver/events", state)
    ids = rows["event_id"] if rows.num_rows else []
    distinct = len(pc.unique(ids)) if rows.num_rows else 0
    if rows.num_rows != distinct:
        raise CheckFailed(
            "event_id 중복 없음", f"{rows.num_rows}행에 서로 다른 id {distinct}개", ""
        )
    if rows.num_rows != EXPECTED_SILVER:
        late = "late0" in set(ids.to_pylist()) if rows.num_rows else False
        raise CheckFailed(
            f"{EXPECTED_SILVER}행 (원본 {ROWS} + 섞인 파일의 정상 줄 18 + 늦은 이벤트 2)",
            f"{rows.num_rows}행",
            "3단계의 늦은 파일이 반영되지 않았습니다: raw에 올린 뒤 ETL을 다시 돌렸나요?"
            if not late
            else "",
        )


@check(6)
def gold_matches_silver(ctx: LabContext) -> None:
    """gold 일별 매출이 silver에서 다시 계산한 값과 같다 (늦은 데이터 반영 포함)"""
    s3 = ctx.client("s3")
    bucket = lake_bucket(ctx)
    silver = deltalog.read_rows(s3, bucket, "silver/events", _table(ctx, "silver/events"))
    buys = silver.filter(pc.equal(silver["event_type"], "purchase"))
    amount = pc.multiply(buys["price"], pc.cast(buys["quantity"], "double"))
    want: dict[str, float] = defaultdict(float)
    for dt, a in zip(buys["dt"].to_pylist(), amount.to_pylist(), strict=True):
        want[dt] += a or 0.0
    gold_state = _table(ctx, "gold/daily_revenue")
    gold = deltalog.read_rows(s3, bucket, "gold/daily_revenue", gold_state)
    got: dict[str, float] = defaultdict(float)
    for dt, r in zip(gold["dt"].to_pylist(), gold["revenue"].to_pylist(), strict=True):
        got[dt] += r or 0.0
    tolerance = 0.01 * gold.num_rows + 0.01  # gold rounds each (day, country) to cents
    off = [d for d, v in want.items() if abs(got.get(d, 0.0) - v) > tolerance]
    if off or set(got) != set(want):
        raise CheckFailed(
            f"날짜별 매출 {dict(sorted((d, round(v, 2)) for d, v in want.items()))}",
            f"gold {dict(sorted((d, round(v, 2)) for d, v in got.items()))}",
            "늦은 데이터로 silver가 바뀐 날짜는 gold도 다시 계산돼야 합니다 (replaceWhere).",
        )


@check(7)
def reruns_change_nothing(ctx: LabContext) -> None:
    """같은 입력으로 다시 돌리면 아무것도 바뀌지 않는다 (멱등성)"""
    res = _results(ctx)
    again = res.get("again", {})
    if again.get("new_files") != 0 or again.get("days") != []:
        raise CheckFailed(
            "두 번째 실행: new_files 0, days []",
            f"new_files {again.get('new_files')}, days {again.get('days')}",
            "main()이 2단계를 두 번 부릅니다. 두 번째에는 새 파일이 없어야 합니다.",
        )
    silver = _table(ctx, "silver/events")
    if len(silver.commits) != 2:
        raise CheckFailed(
            "silver 커밋 2개 (처음 쓰기 + 늦은 데이터 MERGE)",
            f"{len(silver.commits)}개: {[c.get('operation') for c in silver.commits]}",
            "다시 돌릴 때 silver에 커밋이 생기면 같은 데이터를 또 처리한 것입니다.",
        )


@check(8)
def zone_lifecycle(ctx: LabContext) -> None:
    """raw/는 30일 뒤 STANDARD_IA로, quarantine/files/는 30일 뒤 삭제되고, Delta 테이블에는 만료 규칙이 없다"""
    s3 = ctx.client("s3")
    try:
        rules = s3.get_bucket_lifecycle_configuration(Bucket=lake_bucket(ctx))["Rules"]
    except s3.exceptions.ClientError:
        rules = []
    on = [r for r in rules if r.get("Status") == "Enabled"]

    def prefix(r: dict[str, Any]) -> str:
        return str(r.get("Filter", {}).get("Prefix", r.get("Prefix", "")))

    raw_ok = any(
        prefix(r) == "raw/"
        and any(
            t.get("StorageClass") == "STANDARD_IA" and t.get("Days", 0) >= RAW_IA_DAYS
            for t in r.get("Transitions", [])
        )
        for r in on
    )
    q_ok = any(
        prefix(r) == "quarantine/files/"
        and r.get("Expiration", {}).get("Days") == QUARANTINE_EXPIRE_DAYS
        for r in on
    )
    tables = ("bronze/events/", "silver/events/", "gold/", "quarantine/events/")
    harmful = [
        (r.get("ID"), prefix(r))
        for r in on
        if "Expiration" in r and any(t.startswith(prefix(r)) for t in tables)
    ]
    if harmful:
        raise CheckFailed(
            "Delta 테이블(bronze/silver/gold, quarantine/events)에 만료 규칙 없음",
            f"Delta 테이블을 지우는 규칙 {harmful}",
            "이 규칙은 _delta_log와 데이터 파일을 지워 테이블을 깨뜨립니다. 만료는 "
            "quarantine/files/처럼 Delta가 아닌 객체에만 거세요.",
        )
    if not (raw_ok and q_ok):
        raise CheckFailed(
            f"raw/ -> STANDARD_IA {RAW_IA_DAYS}일, quarantine/files/ 만료 {QUARANTINE_EXPIRE_DAYS}일",
            f"규칙 {[(r.get('ID'), prefix(r)) for r in on] or '없음'}",
            "4단계: put_bucket_lifecycle_configuration에 규칙 두 개를 넣으세요. "
            "bronze/silver/gold는 Delta 로그가 파일을 가리키므로 수명 주기로 지우면 안 됩니다.",
        )

"""Checks of lab 2.3.4, in order. Each docstring's first line is what the learner sees.

They read real state only: the delivery stream's description, the Glue table, and the
objects in the lab's bucket (Parquet read with pyarrow, error documents as Firehose writes
them). The truth is the lab's deterministic order generator.
"""

from __future__ import annotations

import base64
import io
import json
import re
from collections import Counter
from typing import Any

from labs.harness import CheckFailed, LabContext, check
from labs.l234_realtime_etl.lab import (
    DATA_PREFIX,
    ERROR_PREFIX,
    GLUE_TABLE,
    MALFORMED,
    SCHEMA,
    bucket,
    delivery_stream,
    expected_rows,
    glue_database,
)
from sim import s3util

PARTITION = re.compile(
    rf"^{DATA_PREFIX}category=(?P<category>[^/]+)/dt=(?P<dt>[^/]+)/[^/]+$"
)  # orders/category=books/dt=2026-03-10/<stream>-1-<time>-<uuid>.parquet


def _cache(ctx: LabContext) -> dict[str, Any]:
    return ctx.options.setdefault("_l234", {})  # type: ignore[no-any-return]


def _objects(ctx: LabContext) -> list[dict[str, Any]]:
    cache = _cache(ctx)
    if "objects" not in cache:
        s3 = ctx.client("s3")
        try:
            cache["objects"] = s3util.list_objects(s3, bucket(ctx))
        except s3.exceptions.NoSuchBucket:
            cache["objects"] = []
    return list(cache["objects"])


def _body(ctx: LabContext, key: str) -> bytes:
    cache = _cache(ctx).setdefault("bodies", {})
    if key not in cache:
        cache[key] = ctx.client("s3").get_object(Bucket=bucket(ctx), Key=key)["Body"].read()
    return bytes(cache[key])


def _rows(ctx: LabContext) -> list[tuple[str, dict[str, Any]]]:
    """(key, row) of every row in the Parquet objects under orders/."""
    import pyarrow.parquet as pq

    cache = _cache(ctx)
    if "rows" not in cache:
        rows = []
        for o in _objects(ctx):
            if o["Key"].startswith(DATA_PREFIX):
                table = pq.read_table(io.BytesIO(_body(ctx, o["Key"])))
                rows += [(o["Key"], r) for r in table.to_pylist()]
        cache["rows"] = rows
    return list(cache["rows"])


def _errors(ctx: LabContext, kind: str) -> list[dict[str, Any]]:
    docs = []
    for o in _objects(ctx):
        if o["Key"].startswith(f"{ERROR_PREFIX}{kind}/"):
            docs += [json.loads(x) for x in _body(ctx, o["Key"]).splitlines() if x.strip()]
    return docs


@check(1)
def stream_configured(ctx: LabContext) -> None:
    """전송 스트림이 Lambda 변환, Parquet 변환, 동적 파티셔닝으로 설정되어 있다"""
    fh = ctx.client("firehose")
    try:
        desc = fh.describe_delivery_stream(DeliveryStreamName=delivery_stream(ctx))
    except fh.exceptions.ResourceNotFoundException:
        raise CheckFailed(
            f"전송 스트림 {delivery_stream(ctx)}",
            "없음",
            "`bdlab run 2.3.4`로 실습을 끝까지 실행하세요 (3단계가 전송 스트림을 만듭니다).",
        ) from None
    d = desc["DeliveryStreamDescription"]
    dest = d["Destinations"][0].get("ExtendedS3DestinationDescription", {})
    processors = {p["Type"] for p in dest.get("ProcessingConfiguration", {}).get("Processors", [])}
    conversion = dest.get("DataFormatConversionConfiguration", {})
    serializer = conversion.get("OutputFormatConfiguration", {}).get("Serializer", {})
    missing = []
    if "Lambda" not in processors:
        missing.append("Lambda 프로세서")
    if not dest.get("DynamicPartitioningConfiguration", {}).get("Enabled"):
        missing.append("동적 파티셔닝")
    if "MetadataExtraction" not in processors:
        missing.append("MetadataExtraction(JQ) 프로세서")
    if not conversion.get("Enabled") or "ParquetSerDe" not in serializer:
        missing.append("Parquet 변환(ParquetSerDe)")
    if missing:
        raise CheckFailed(
            "Lambda + MetadataExtraction + 동적 파티셔닝 + Parquet 변환",
            f"빠진 것: {', '.join(missing)}",
            "README.md '3단계'의 ExtendedS3DestinationConfiguration을 보세요: "
            "ProcessingConfiguration, DynamicPartitioningConfiguration, "
            "DataFormatConversionConfiguration 세 가지가 모두 필요합니다.",
        )
    schema_cfg = conversion.get("SchemaConfiguration", {})
    if (schema_cfg.get("DatabaseName"), schema_cfg.get("TableName")) != (
        glue_database(ctx),
        GLUE_TABLE,
    ):
        raise CheckFailed(
            f"SchemaConfiguration: {glue_database(ctx)}.{GLUE_TABLE}",
            f"{schema_cfg.get('DatabaseName')}.{schema_cfg.get('TableName')}",
            "Parquet 변환은 Glue 테이블의 열로 스키마를 정합니다: 2단계에서 만든 "
            "glue_database(ctx)와 GLUE_TABLE을 쓰세요.",
        )


@check(2)
def glue_schema(ctx: LabContext) -> None:
    """Glue 테이블 orders의 열과 타입이 주문 데이터와 맞다"""
    glue = ctx.client("glue")
    try:
        table = glue.get_table(DatabaseName=glue_database(ctx), Name=GLUE_TABLE)["Table"]
    except glue.exceptions.EntityNotFoundException:
        raise CheckFailed(
            f"Glue 테이블 {glue_database(ctx)}.{GLUE_TABLE}",
            "없음",
            "2단계에서 glue.create_database와 glue.create_table을 부르세요.",
        ) from None
    got = {c["Name"].lower(): c["Type"].lower() for c in table["StorageDescriptor"]["Columns"]}
    wrong = [f"{n} {t}" for n, t in SCHEMA.items() if got.get(n) != t]
    if wrong:
        found = ", ".join(f"{n} {got.get(n, '없음')}" for n in SCHEMA if got.get(n) != SCHEMA[n])
        raise CheckFailed(
            ", ".join(wrong),
            found,
            "Parquet 파일의 열 타입은 Glue 열 타입 그대로입니다. price와 revenue는 계산할 "
            "수 있게 double, event_time은 timestamp, quantity는 int로 두세요.",
        )


@check(3)
def partitioned_by_category_and_order_date(ctx: LabContext) -> None:
    """주문이 Parquet으로 orders/category=.../dt=(주문 날짜)/ 에 나뉘어 있다"""
    data = [o for o in _objects(ctx) if o["Key"].startswith(DATA_PREFIX)]
    if not data:
        errors = sorted({o["Key"].split("/")[1] for o in _objects(ctx) if "/" in o["Key"]})
        raise CheckFailed(
            f"s3://{bucket(ctx)}/{DATA_PREFIX} 아래 Parquet 파일",
            f"없음 (오류 접두사: {', '.join(errors) or '없음'})",
            "주문이 모두 오류 접두사로 갔다면 그 문서의 errorCode/errorMessage를 읽어 보세요. "
            "1단계 transform.py가 예외를 던지면 배치 전체가 processing-failed로 갑니다.",
        )
    bad = [o["Key"] for o in data if not PARTITION.match(o["Key"])]
    if bad:
        raise CheckFailed(
            "orders/category=<카테고리>/dt=<YYYY-MM-DD>/ 형태의 키",
            bad[0],
            "Prefix를 'orders/category=!{partitionKeyFromQuery:category}/"
            "dt=!{partitionKeyFromQuery:dt}/'로 두세요 (Hive 형식 key=value).",
        )
    not_parquet = [o["Key"] for o in data if not _body(ctx, o["Key"]).startswith(b"PAR1")]
    if not_parquet:
        raise CheckFailed(
            "Parquet 파일 (PAR1로 시작)",
            not_parquet[0],
            "DataFormatConversionConfiguration을 Enabled로, Serializer를 ParquetSerDe로 두세요.",
        )
    for key, row in _rows(ctx):
        m = PARTITION.match(key)
        assert m is not None
        when = row.get("event_time")
        day = when.strftime("%Y-%m-%d") if when is not None else None
        if m["category"] != row.get("category") or m["dt"] != day:
            raise CheckFailed(
                f"{row.get('order_id')}: category={row.get('category')}/dt={day}",
                key.rsplit("/", 1)[0] + "/",
                "dt는 주문 시각(event_time)의 날짜여야 합니다. !{timestamp:...}는 Firehose에 "
                "도착한 시각이라 모든 주문이 오늘 날짜로 갑니다: MetadataExtraction의 JQ에 "
                "dt: .event_time[0:10]을 넣고 !{partitionKeyFromQuery:dt}를 쓰세요.",
            )


@check(4)
def every_order_once_transformed(ctx: LabContext) -> None:
    """진짜 주문이 모두 한 번씩, 변환된 값으로(국가 대문자, 숫자 가격, revenue) 있다"""
    want = expected_rows()
    rows = [r for _, r in _rows(ctx)]
    seen = Counter(str(r.get("order_id")) for r in rows)
    missing = [o for o in want if o not in seen]
    if missing:
        raise CheckFailed(
            f"주문 {len(want)}건",
            f"{len(missing)}건 없음 (예: {missing[0]})",
            "빠진 주문은 오류 접두사(errors/processing-failed/, errors/format-conversion-"
            "failed/)에 이유와 함께 있습니다. 읽을 수 없는 레코드 하나 때문에 handler가 "
            "예외를 던지면 그 배치 전체가 실패합니다: 그 레코드만 ProcessingFailed로 답하세요.",
        )
    twice = [o for o, n in seen.items() if n > 1]
    if twice:
        raise CheckFailed(
            "주문마다 한 번",
            f"{len(twice)}건 중복 (예: {twice[0]})",
            "`bdlab run 2.3.4`를 다시 실행하면 처음부터 시작합니다.",
        )
    for r in rows:
        w = want.get(str(r.get("order_id")))
        if w is None:
            continue  # check 5 looks at what should not be there
        if (
            r.get("country") != w["country"]
            or r.get("revenue") is None
            or abs(float(r["revenue"]) - w["revenue"]) > 0.005
        ):
            raise CheckFailed(
                f"{w['order_id']}: country={w['country']}, revenue={w['revenue']}",
                f"country={r.get('country')}, revenue={r.get('revenue')}",
                "1단계 transform.py에서 country를 .upper()로, price를 float로 바꾸고 "
                "revenue = round(price * quantity, 2)를 더하세요.",
            )


@check(5)
def test_orders_dropped(ctx: LabContext) -> None:
    """테스트 주문("test": true)은 오류가 아니라 Dropped로 버려졌다"""
    want = expected_rows()
    extra = sorted({str(r.get("order_id")) for _, r in _rows(ctx)} - set(want))
    if extra:
        raise CheckFailed(
            "테스트 주문 0건",
            f"{len(extra)}건 (예: {extra[0]})",
            '1단계 transform.py에서 "test": true 인 주문에 result "Dropped"로 답하세요.',
        )
    failed = []
    for doc in _errors(ctx, "processing-failed"):
        try:
            raw = json.loads(base64.b64decode(doc.get("rawData", "")))
        except ValueError:
            continue
        if isinstance(raw, dict) and raw.get("test"):
            failed.append(raw.get("order_id"))
    if failed:
        raise CheckFailed(
            "테스트 주문은 Dropped (오류 접두사에 없음)",
            f"processing-failed에 {len(failed)}건",
            '버리는 것은 오류가 아닙니다: "ProcessingFailed"가 아니라 "Dropped"로 답하세요.',
        )


@check(6)
def malformed_records_in_error_prefix(ctx: LabContext) -> None:
    """JSON이 아닌 레코드 3건이 errors/processing-failed/ 에 이유와 함께 있다"""
    docs = _errors(ctx, "processing-failed")
    raws: Counter[bytes] = Counter()
    for d in docs:
        try:
            raws[base64.b64decode(d.get("rawData", ""))] += 1
        except ValueError:
            continue
    missing = [m for m in MALFORMED if raws[m] < 1]
    if missing:
        other = sorted(
            {o["Key"].split("/")[1] for o in _objects(ctx) if o["Key"].startswith(ERROR_PREFIX)}
        )
        raise CheckFailed(
            f"errors/processing-failed/ 에 {len(MALFORMED)}건",
            f"{len(MALFORMED) - len(missing)}건 (오류 접두사: {', '.join(other) or '없음'})",
            '1단계 transform.py에서 json.loads가 실패한 레코드에 result "ProcessingFailed"와 '
            "원래 data를 그대로 답하세요. ErrorOutputPrefix에 "
            "!{firehose:error-output-type}이 있어야 종류별로 나뉩니다.",
        )

"""Checks of lab 1.2.5, in order. Each docstring's first line is what the learner sees.

The results JSON is only trusted after it is checked against S3 itself: the files, their
magic bytes and codecs, their sizes and the source data.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq

from labs.harness import CheckFailed, LabContext, check
from labs.l125_file_formats.lab import (
    CHART_KEY,
    DAYS,
    FORMATS_PREFIX,
    PRUNE_DAY,
    RESULTS_KEY,
    SOURCE_PREFIX,
    START,
    VARIANTS,
    lab_bucket,
)
from sim import s3util
from sim.datagen.clickstream import dates

FIELDS = (
    "format",
    "bytes",
    "files",
    "write_s",
    "query_all_s",
    "query_day_s",
    "day_rows",
    "partition_filter_in_plan",
)


def _results(ctx: LabContext) -> dict[str, dict[str, Any]]:
    s3 = ctx.client("s3")
    try:
        rows = json.loads(s3.get_object(Bucket=lab_bucket(ctx), Key=RESULTS_KEY)["Body"].read())
    except s3.exceptions.NoSuchKey:
        raise CheckFailed(
            f"s3://{lab_bucket(ctx)}/{RESULTS_KEY}",
            "없음",
            "3단계에서 측정 결과 목록을 JSON으로 올리세요.",
        ) from None
    except s3.exceptions.NoSuchBucket:
        raise CheckFailed(
            f"버킷 {lab_bucket(ctx)}", "버킷 없음", "`bdlab run 1.2.5`를 먼저 실행하세요."
        ) from None
    except ValueError:
        raise CheckFailed(
            "결과 JSON (형식별 항목의 목록)",
            f"{RESULTS_KEY}를 JSON으로 읽을 수 없음",
            "3단계에서 json.dumps(rows)로 만든 JSON을 올리세요.",
        ) from None
    return {r.get("format"): r for r in rows if isinstance(r, dict)}


def _data_files(ctx: LabContext, name: str) -> list[dict[str, Any]]:
    objs = s3util.list_objects(ctx.client("s3"), lab_bucket(ctx), f"{FORMATS_PREFIX}{name}/")
    return [
        o
        for o in objs
        if "/dt=" in o["Key"] and not o["Key"].rsplit("/", 1)[1].startswith(("_", "."))
    ]


def _head(ctx: LabContext, key: str, n: int = 64) -> bytes:
    body = ctx.client("s3").get_object(Bucket=lab_bucket(ctx), Key=key, Range=f"bytes=0-{n - 1}")
    return bytes(body["Body"].read())


@check(1)
def results_complete(ctx: LabContext) -> None:
    """측정 결과 JSON에 형식 8가지가 모두, 필요한 항목과 함께 있다"""
    res = _results(ctx)
    missing = [n for n in VARIANTS if n not in res]
    if missing:
        raise CheckFailed(
            f"형식 {len(VARIANTS)}개: {', '.join(VARIANTS)}",
            f"빠진 형식: {missing}",
            "VARIANTS의 모든 항목을 저장하고 측정하세요.",
        )
    for name, row in res.items():
        lacking = [f for f in FIELDS if f not in row]
        if lacking:
            raise CheckFailed(
                f"{name}의 항목 {FIELDS}",
                f"빠진 항목 {lacking}",
                "README의 2단계 표에 있는 항목을 모두 넣으세요.",
            )


@check(2)
def every_format_partitioned(ctx: LabContext) -> None:
    """형식마다 데이터가 dt=YYYY-MM-DD 파티션 4개로 S3에 있다"""
    want = set(dates(START, DAYS))
    for name in VARIANTS:
        files = _data_files(ctx, name)
        got = {o["Key"].split("/dt=")[1].split("/")[0] for o in files}
        if got != want:
            raise CheckFailed(
                f"{name}: 파티션 {sorted(want)}",
                f"{sorted(got) or '파일 없음'}",
                "partitionBy('dt')로 formats/<이름>/ 아래에 쓰세요.",
            )


@check(3)
def files_are_what_they_claim(ctx: LabContext) -> None:
    """파일이 실제로 그 형식과 압축 코덱이다 (매직 바이트, Parquet 코덱, Delta 로그)"""
    s3 = ctx.client("s3")
    bucket = lab_bucket(ctx)
    codec = {"parquet_snappy": "SNAPPY", "parquet_zstd": "ZSTD", "parquet_gzip": "GZIP"}
    for name, (fmt, _opts) in VARIANTS.items():
        key = _data_files(ctx, name)[0]["Key"]
        head = _head(ctx, key)
        ok = {
            "csv": head.startswith(b"event_id") or b"event_id," in head,
            "json": head.lstrip().startswith(b"{"),
            "parquet": head.startswith(b"PAR1"),
            "orc": head.startswith(b"ORC"),
            "avro": head.startswith(b"Obj\x01"),
            "delta": head.startswith(b"PAR1"),
        }[fmt]
        if not ok:
            raise CheckFailed(
                f"{name}: {fmt} 파일",
                f"{key}의 앞부분 {head[:8]!r}",
                f"spark.write.format('{fmt}')로 썼는지 확인하세요.",
            )
        if name in codec:
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            meta = pq.ParquetFile(io.BytesIO(body)).metadata
            got = {meta.row_group(0).column(j).compression for j in range(meta.num_columns)}
            if got != {codec[name]}:
                raise CheckFailed(
                    f"{name}: 코덱 {codec[name]}",
                    f"{sorted(got)}",
                    "option('compression', ...)으로 코덱을 정하세요.",
                )
    log = s3.list_objects_v2(Bucket=bucket, Prefix=f"{FORMATS_PREFIX}delta/_delta_log/")
    if not log.get("KeyCount"):
        raise CheckFailed(
            "formats/delta/_delta_log/", "없음", "format('delta')로 쓰면 트랜잭션 로그가 생깁니다."
        )


@check(4)
def sizes_are_measured(ctx: LabContext) -> None:
    """보고한 크기와 파일 수가 S3에 실제로 있는 것과 같다"""
    res = _results(ctx)
    for name in VARIANTS:
        files = _data_files(ctx, name)
        real = sum(o["Size"] for o in files)
        row = res[name]
        if abs(int(row["bytes"]) - real) > max(1024, real // 100) or row["files"] != len(files):
            raise CheckFailed(
                f"{name}: {real:,} 바이트, 파일 {len(files)}개",
                f"{row['bytes']:,} 바이트, 파일 {row['files']}개",
                "list_objects_v2로 formats/<이름>/dt=... 아래 데이터 파일의 "
                "Size를 더하세요 (_SUCCESS, _delta_log 제외).",
            )


@check(5)
def columnar_is_smaller(ctx: LabContext) -> None:
    """압축한 열 기반 형식(Parquet, ORC)이 CSV와 JSON보다 작다"""
    res = _results(ctx)
    text = min(res["csv"]["bytes"], res["json"]["bytes"])
    big = [
        n
        for n in ("parquet_snappy", "parquet_zstd", "parquet_gzip", "orc")
        if res[n]["bytes"] >= text
    ]
    if big:
        raise CheckFailed(
            f"열 기반 형식 < {text:,} 바이트",
            f"더 큰 형식: {big}",
            "압축 옵션이 빠졌는지 확인하세요.",
        )


@check(6)
def pruning_reads_one_day(ctx: LabContext) -> None:
    """dt 조건 조회가 파티션 필터로 그 날짜만 읽고 행 수가 원본과 같다"""
    s3 = ctx.client("s3")
    bucket = lab_bucket(ctx)
    src = f"{SOURCE_PREFIX}dt={PRUNE_DAY}/part-00000.snappy.parquet"
    table = pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=src)["Body"].read()))
    want = table.num_rows
    assert pc.min(table["event_time"]).as_py() is not None
    for name, row in _results(ctx).items():
        if name not in VARIANTS:
            continue
        if not row["partition_filter_in_plan"]:
            raise CheckFailed(
                f"{name}: 실행 계획에 PartitionFilters",
                "없음",
                "where(\"dt = '...'\")처럼 파티션 열로 거르고 explain으로 확인하세요.",
            )
        if row["day_rows"] != want:
            raise CheckFailed(
                f"{name}: {PRUNE_DAY}의 행 {want}",
                f"{row['day_rows']}",
                "하루 조회는 dt 조건으로 그날의 행만 세어야 합니다.",
            )


@check(7)
def chart_saved(ctx: LabContext) -> None:
    """비교 그래프(PNG)가 results/ 아래에 있다"""
    try:
        head = _head(ctx, CHART_KEY, 8)
    except ctx.client("s3").exceptions.NoSuchKey:
        head = b""
    if head != b"\x89PNG\r\n\x1a\n":
        raise CheckFailed(
            f"s3://{lab_bucket(ctx)}/{CHART_KEY} (PNG)",
            "없거나 PNG가 아님",
            "matplotlib로 fig.savefig(buf, format='png') 후 put_object 하세요.",
        )

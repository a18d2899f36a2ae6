"""Lab 1.2.5 — 파일 형식 성능 비교 (the learner's file).

bdlab run 1.2.5      # writes the same data in every format, measures, saves results + chart
bdlab check 1.2.5
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from labs.harness import LabContext, LabInfo
from sim import s3util

LAB = LabInfo(
    id="1.2.5",
    slug="l125_file_formats",
    title="파일 형식 성능 비교",
    part=1,
    summary="같은 데이터를 CSV, JSON, Parquet(snappy/zstd/gzip), ORC, Avro, Delta로 저장해 "
    "크기, 쓰기/조회 시간, 파티션 프루닝을 비교합니다.",
)

START = datetime(2026, 3, 2, tzinfo=UTC)
DAYS = 4
ROWS = 120_000
SEED = 125
SOURCE_PREFIX = "source/events/"
FORMATS_PREFIX = "formats/"
RESULTS_KEY = "results/format_comparison.json"
CHART_KEY = "results/format_comparison.png"
# name -> (Spark format, write options). Every variant is partitioned by dt.
VARIANTS: dict[str, tuple[str, dict[str, str]]] = {
    "csv": ("csv", {"header": "true"}),
    "json": ("json", {}),
    "parquet_snappy": ("parquet", {"compression": "snappy"}),
    "parquet_zstd": ("parquet", {"compression": "zstd"}),
    "parquet_gzip": ("parquet", {"compression": "gzip"}),
    "orc": ("orc", {"compression": "zlib"}),
    "avro": ("avro", {"compression": "snappy"}),
    "delta": ("delta", {}),
}
PRUNE_DAY = "2026-03-03"


def lab_bucket(ctx: LabContext) -> str:
    return ctx.name("formats")


def prepare_data(ctx: LabContext) -> None:
    """Given: the source events as Parquet in s3://<bucket>/source/events/dt=*/."""
    s3 = ctx.client("s3")
    s3util.ensure_bucket(s3, lab_bucket(ctx), ctx.profile.region)
    s3util.put_daily_parquet(s3, lab_bucket(ctx), SOURCE_PREFIX, ROWS, START, DAYS, SEED)


# --------------------------------------------------------------------------- TODO
def step1_write_all(ctx: LabContext, spark: Any) -> dict[str, float]:
    """1단계: 원본을 읽어 VARIANTS의 형식마다 s3a://<버킷>/formats/<이름>/ 에 dt로 파티셔닝해
    쓰고, 형식별 쓰기 시간(초)을 돌려줍니다."""
    raise NotImplementedError("TODO 1단계: README.md의 '1단계'를 보고 형식마다 저장하세요.")


def step2_measure(ctx: LabContext, spark: Any, write_s: dict[str, float]) -> list[dict[str, Any]]:
    """2단계: 형식마다 크기(바이트, 파일 수), 전체 조회 시간, dt 하루 조회 시간과
    파티션 프루닝 여부를 재서 행 목록으로 돌려줍니다."""
    raise NotImplementedError("TODO 2단계: README.md의 '2단계'를 보고 측정하세요.")


def step3_report(ctx: LabContext, rows: list[dict[str, Any]]) -> None:
    """3단계: 결과를 results/format_comparison.json 과 막대그래프 PNG로 S3에 저장합니다."""
    raise NotImplementedError("TODO 3단계: README.md의 '3단계'를 보고 결과를 저장하세요.")


def main(ctx: LabContext) -> dict[str, Any]:
    with ctx.step("준비: 원본 데이터"):
        prepare_data(ctx)
    with ctx.step("Spark 세션 시작"):
        spark = ctx.spark("lab-1.2.5")
    with ctx.step("1단계: 형식 여섯 가지로 쓰기"):
        write_s = step1_write_all(ctx, spark)
    with ctx.step("2단계: 크기와 읽기 시간 재기"):
        rows = step2_measure(ctx, spark, write_s)
    with ctx.step("3단계: 비교 보고서"):
        step3_report(ctx, rows)
    return {"formats": len(rows)}


def reset(ctx: LabContext) -> int:
    """Delete the lab's bucket and everything in it; returns objects removed."""
    return s3util.delete_bucket(ctx.client("s3"), lab_bucket(ctx))

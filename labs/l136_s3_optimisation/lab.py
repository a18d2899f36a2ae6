"""Lab 1.3.6 — S3 읽기/쓰기 최적화 (the learner's file).

bdlab run 1.3.6
bdlab check 1.3.6
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from labs.harness import LabContext, LabInfo
from sim import s3util

LAB = LabInfo(
    id="1.3.6",
    slug="l136_s3_optimisation",
    title="S3 읽기/쓰기 최적화",
    part=1,
    summary="작은 파일 문제와 Delta OPTIMIZE, 파티션 프루닝과 조건 푸시다운, 커밋터 선택을 "
    "에뮬레이터의 요청 수로 확인합니다.",
)

START = datetime(2026, 4, 6, tzinfo=UTC)
DAYS = 4
ROWS = 60_000
SEED = 136
SOURCE_PREFIX = "source/events/"
SMALL_PREFIX = "tables/events_small/"
COMMIT_PREFIX = "commit/"
RESULTS_KEY = "results/s3_optimisation.json"
SMALL_TASKS = 40  # repartition(40) x 4 days -> ~160 small files


def lab_bucket(ctx: LabContext) -> str:
    return ctx.name("opt")


@contextmanager
def aws_like_costs(ctx: LabContext) -> Iterator[str]:
    """Given: inside this block S3 requests take the time they take on AWS (about 30 ms each,
    88 MB/s, and a COPY as long as rewriting the data), so the measurement shows AWS's
    direction; on a local disk a copy costs nothing. Yields what timed the block: "aws-model"
    (the emulator's cost model) or "real" (real AWS); the model is switched off afterwards."""
    if not ctx.can("cost_model"):
        yield "real" if not ctx.profile.uses_emulator else "local"
        return
    admin = ctx.admin("cost_model")
    admin.set_costs("aws")
    try:
        yield "aws-model"
    finally:
        admin.set_costs("off")


def request_counts(ctx: LabContext) -> dict[str, int] | None:
    """S3 requests per operation on the lab bucket, from the emulator (None elsewhere: real
    AWS has S3 request metrics in CloudWatch instead)."""
    if not ctx.can("request_counts"):
        return None
    counts = ctx.admin("request_counts").requests()
    tag = f"s3:{lab_bucket(ctx)} "
    return {k[len(tag) :]: v for k, v in counts.items() if k.startswith(tag)}


def delta_requests(before: dict[str, int] | None, after: dict[str, int] | None) -> dict[str, int]:
    if before is None or after is None:
        return {}
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


def prepare_data(ctx: LabContext) -> None:
    """Given: the source events as Parquet in s3://<bucket>/source/events/dt=*/."""
    s3 = ctx.client("s3")
    s3util.ensure_bucket(s3, lab_bucket(ctx), ctx.profile.region)
    s3util.put_daily_parquet(s3, lab_bucket(ctx), SOURCE_PREFIX, ROWS, START, DAYS, SEED)


# --------------------------------------------------------------------------- TODO
def step1_small_files(ctx: LabContext, spark: Any) -> int:
    """1단계: 원본을 repartition(SMALL_TASKS) 해서 Delta로 dt 파티셔닝해 쓰면 작은 파일이
    많이 생깁니다. 만든 데이터 파일 수를 돌려줍니다."""
    raise NotImplementedError("TODO 1단계: README.md의 '1단계'를 보세요.")


def step2_scan(ctx: LabContext, spark: Any) -> dict[str, Any]:
    """2단계: 전체 스캔 쿼리 하나의 시간과 S3 요청 수(request_counts 차이)를 잽니다."""
    raise NotImplementedError("TODO 2단계: README.md의 '2단계'를 보세요.")


def step3_compact(ctx: LabContext, spark: Any) -> int:
    """3단계: Delta OPTIMIZE로 작은 파일을 합치고, 남은(활성) 파일 수를 돌려줍니다."""
    raise NotImplementedError("TODO 3단계: README.md의 '3단계'를 보세요.")


def step4_plans(ctx: LabContext, spark: Any) -> dict[str, bool]:
    """4단계: dt 조건은 PartitionFilters, country 조건은 PushedFilters로 계획에 나타나는지."""
    raise NotImplementedError("TODO 4단계: README.md의 '4단계'를 보세요.")


def step5_committers(ctx: LabContext, spark: Any) -> dict[str, Any]:
    """5단계: 같은 데이터를 magic 커밋터와 file(이름 바꾸기) 커밋터로 써서 요청 수와 시간을
    비교합니다. 시간은 `with aws_like_costs(ctx) as timing:` 안에서 재세요."""
    raise NotImplementedError("TODO 5단계: README.md의 '5단계'를 보세요.")


def main(ctx: LabContext) -> dict[str, Any]:
    with ctx.step("준비: 원본 데이터"):
        prepare_data(ctx)
    with ctx.step("Spark 세션 시작"):
        spark = ctx.spark("lab-1.3.6")
    result: dict[str, Any] = {}
    with ctx.step("1단계: 작은 파일 많이 쓰기"):
        result["small_files"] = step1_small_files(ctx, spark)
    with ctx.step("2단계: 스캔 (작은 파일)"):
        result["scan_small"] = step2_scan(ctx, spark)
    with ctx.step("3단계: 압축 (OPTIMIZE)"):
        result["compacted_files"] = step3_compact(ctx, spark)
    with ctx.step("2단계: 스캔 (압축 뒤)"):
        result["scan_compacted"] = step2_scan(ctx, spark)
    with ctx.step("4단계: 실행 계획 (프루닝, 푸시다운)"):
        result["plans"] = step4_plans(ctx, spark)
    with ctx.step("5단계: 커미터 비교"):
        result["committers"] = step5_committers(ctx, spark)
    ctx.client("s3").put_object(
        Bucket=lab_bucket(ctx), Key=RESULTS_KEY, Body=json.dumps(result, indent=1).encode()
    )
    return result


def reset(ctx: LabContext) -> int:
    """Delete the lab's bucket and everything in it; returns objects removed."""
    return s3util.delete_bucket(ctx.client("s3"), lab_bucket(ctx))

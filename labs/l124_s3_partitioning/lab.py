"""Lab 1.2.4 — S3 버킷 생성 및 파티셔닝된 데이터 저장 (the learner's file).

Fill in the three TODO steps (see README.md), then:

    bdlab run 1.2.4      # runs main() below against the active profile
    bdlab check 1.2.4    # checks what is really in S3 now
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from labs.harness import LabContext, LabInfo
from sim import s3util
from sim.datagen import clickstream

LAB = LabInfo(
    id="1.2.4",
    slug="l124_s3_partitioning",
    title="S3 버킷 생성 및 파티셔닝된 데이터 저장",
    part=1,
    summary="데이터 레이크 버킷을 만들고 raw/curated 영역에 Hive 스타일 파티션으로 저장합니다.",
)

# The dataset every learner gets (deterministic, so the checks know what to expect).
START = datetime(2026, 1, 12, tzinfo=UTC)
DAYS = 7
ROWS = 70_000
SEED = 124

RAW_PREFIX = "raw/clickstream/"
CURATED_PREFIX = "curated/clickstream/"
REQUIRED_TAGS = {"project": "bdlab", "lab": "1.2.4"}
RAW_IA_DAYS = 30  # raw objects move to STANDARD_IA after this many days (AWS's minimum)


def sample_events() -> pa.Table:
    """The clickstream sample of this lab: ROWS events over DAYS days from START."""
    return clickstream.generate(ROWS, START, DAYS, seed=SEED)


def lake_bucket(ctx: LabContext) -> str:
    """The lake bucket's name (unique per account, since bucket names are global on AWS)."""
    return ctx.name("lake")


# --------------------------------------------------------------------------- TODO
def step1_create_bucket(ctx: LabContext) -> None:
    """1단계: 레이크 버킷을 만들고 태그, 기본 암호화(SSE-S3), 퍼블릭 액세스 차단을 설정합니다."""
    s3 = ctx.client("s3")  # noqa: F841  (use it below)
    bucket = lake_bucket(ctx)  # noqa: F841
    # TODO(1단계): s3.create_bucket(...), s3.put_bucket_tagging(...),
    #              s3.put_bucket_encryption(...), s3.put_public_access_block(...)
    raise NotImplementedError("TODO 1단계: README.md의 '1단계'를 보고 버킷을 만드세요.")


def step2_upload_raw(ctx: LabContext, events: pa.Table) -> None:
    """2단계: 원본 이벤트를 날짜별로 나눠 raw/clickstream/dt=YYYY-MM-DD/ 아래에 올립니다."""
    # TODO(2단계): event_time의 날짜(UTC)별로 행을 나누고, JSON Lines(gzip)로
    #              raw/clickstream/dt=<날짜>/events-0000.json.gz 에 put_object 하세요.
    raise NotImplementedError("TODO 2단계: README.md의 '2단계'를 보고 raw 영역에 올리세요.")


def step3_write_curated(ctx: LabContext) -> None:
    """3단계: raw를 읽어 Parquet(snappy)로 바꿔 curated/clickstream/dt=YYYY-MM-DD/ 에 씁니다."""
    # TODO(3단계): raw 파티션마다 읽어서 pyarrow.parquet로 snappy 압축 Parquet를 만들고
    #              curated/clickstream/dt=<날짜>/part-00000.snappy.parquet 에 올리세요.
    #              (dt 값은 경로에만 두고 파일 안에는 넣지 않습니다.)
    raise NotImplementedError("TODO 3단계: README.md의 '3단계'를 보고 curated 영역을 만드세요.")


# --------------------------------------------------------------------------- run
def step4_lifecycle(ctx: LabContext) -> None:
    """4단계: raw/ 객체를 30일 뒤 STANDARD_IA로 옮기는 수명 주기 규칙을 넣고 시간을 빨리 감습니다."""
    # TODO(4단계): s3.put_bucket_lifecycle_configuration(...)로 raw/ 접두사 규칙을 넣은 뒤
    #              fast_forward(ctx, RAW_IA_DAYS + 1) 를 부르세요.
    raise NotImplementedError("TODO 4단계: README.md의 '4단계'를 보고 수명 주기 규칙을 넣으세요.")


def fast_forward(ctx: LabContext, days: int) -> None:
    """Given: on the embedded emulator, apply this lab bucket's lifecycle rules now as they
    would apply ``days`` from now, so a 30-day rule can be seen at work. Only this bucket
    looks ahead: the shared clock does not move, so no other lab's data ages. Real S3
    applies rules once a day, by itself."""
    if not ctx.can("lifecycle_now"):
        print(f"{ctx.profile.name}: S3 applies lifecycle rules asynchronously (within 1-2 days)")
        return
    ctx.admin("lifecycle_now").run_lifecycle(bucket=lake_bucket(ctx), ahead_days=days)


def main(ctx: LabContext) -> dict[str, Any]:
    with ctx.step("준비: 클릭스트림 이벤트 생성"):
        events = sample_events()
    with ctx.step("1단계: 버킷 만들기"):
        step1_create_bucket(ctx)
    with ctx.step("2단계: raw/ 업로드 (Hive 파티션)"):
        step2_upload_raw(ctx, events)
    with ctx.step("3단계: curated/ Parquet 쓰기"):
        step3_write_curated(ctx)
    with ctx.step("4단계: 수명 주기 규칙"):
        step4_lifecycle(ctx)
    return {"bucket": lake_bucket(ctx), "rows": events.num_rows}


def reset(ctx: LabContext) -> int:
    """Delete the lab's bucket and everything in it; returns the number of objects removed."""
    return s3util.delete_bucket(ctx.client("s3"), lake_bucket(ctx))

"""Checks of lab 1.3.6, in order. Each docstring's first line is what the learner sees.

The Delta table's own log tells the files before and after OPTIMIZE; the committers' output is
read back from S3; the reported request counts are checked for plausibility against both.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pyarrow.parquet as pq

from labs.harness import CheckFailed, LabContext, check
from labs.l136_s3_optimisation.lab import (
    COMMIT_PREFIX,
    DAYS,
    RESULTS_KEY,
    ROWS,
    SMALL_PREFIX,
    SMALL_TASKS,
    lab_bucket,
)
from sim import s3util


def _results(ctx: LabContext) -> dict[str, Any]:
    s3 = ctx.client("s3")
    try:
        return dict(
            json.loads(s3.get_object(Bucket=lab_bucket(ctx), Key=RESULTS_KEY)["Body"].read())
        )
    except (s3.exceptions.NoSuchKey, s3.exceptions.NoSuchBucket):
        raise CheckFailed(
            f"s3://{lab_bucket(ctx)}/{RESULTS_KEY}",
            "없음",
            "`bdlab run 1.3.6`이 끝까지 돌아야 결과가 저장됩니다.",
        ) from None


def _delta_versions(ctx: LabContext) -> list[list[dict[str, Any]]]:
    """The actions of each commit of the small-files table, in version order."""
    s3 = ctx.client("s3")
    prefix = f"{SMALL_PREFIX}_delta_log/"
    keys = sorted(
        o["Key"]
        for o in s3util.list_objects(s3, lab_bucket(ctx), prefix)
        if o["Key"].endswith(".json")
    )
    out = []
    for key in keys:
        body = s3.get_object(Bucket=lab_bucket(ctx), Key=key)["Body"].read().decode()
        out.append([json.loads(line) for line in body.splitlines() if line.strip()])
    return out


def _active(versions: list[list[dict[str, Any]]], upto: int) -> set[str]:
    files: set[str] = set()
    for actions in versions[: upto + 1]:
        for a in actions:
            if "add" in a:
                files.add(a["add"]["path"])
            elif "remove" in a:
                files.discard(a["remove"]["path"])
    return files


@check(1)
def small_files_problem_made(ctx: LabContext) -> None:
    """작은 파일이 많은 Delta 테이블을 만들었다 (첫 커밋의 파일이 100개 이상)"""
    versions = _delta_versions(ctx)
    if not versions:
        raise CheckFailed(
            f"s3://{lab_bucket(ctx)}/{SMALL_PREFIX}_delta_log/",
            "없음",
            "1단계에서 format('delta')로 tables/events_small/ 에 쓰세요.",
        )
    first = _active(versions, 0)
    if len(first) < 100:
        raise CheckFailed(
            "첫 버전의 파일 100개 이상",
            f"{len(first)}개",
            f"repartition({SMALL_TASKS}) 후 partitionBy('dt')로 써서 작은 파일 문제를 재현하세요.",
        )


@check(2)
def compaction_done(ctx: LabContext) -> None:
    """OPTIMIZE 뒤 활성 파일이 파티션마다 몇 개로 줄었다"""
    versions = _delta_versions(ctx)
    ops = [a["commitInfo"].get("operation") for v in versions for a in v if "commitInfo" in a]
    if "OPTIMIZE" not in ops:
        raise CheckFailed(
            "Delta 이력에 OPTIMIZE 커밋",
            f"작업들: {ops}",
            "DeltaTable.forPath(spark, path).optimize().executeCompaction()",
        )
    now = _active(versions, len(versions) - 1)
    if len(now) > 2 * DAYS:
        raise CheckFailed(
            f"활성 파일 {2 * DAYS}개 이하",
            f"{len(now)}개",
            "OPTIMIZE가 파티션마다 파일을 합쳤는지 DESCRIBE DETAIL로 확인하세요.",
        )
    res = _results(ctx)
    if res.get("small_files") != len(_active(versions, 0)) or res.get("compacted_files") != len(
        now
    ):
        raise CheckFailed(
            f"보고한 파일 수 {len(_active(versions, 0))} -> {len(now)}",
            f"{res.get('small_files')} -> {res.get('compacted_files')}",
            "DESCRIBE DETAIL의 numFiles를 보고하세요.",
        )


@check(3)
def fewer_requests_after_compaction(ctx: LabContext) -> None:
    """같은 스캔의 S3 GET 요청이 압축(OPTIMIZE) 뒤에 크게 줄었다"""
    res = _results(ctx)
    before = res.get("scan_small", {}).get("requests", {})
    after = res.get("scan_compacted", {}).get("requests", {})
    if not before and not after and not ctx.can("request_counts"):
        return  # request counts come from the emulator; on AWS use S3 request metrics
    small, big = before.get("GetObject", 0), after.get("GetObject", 0)
    if small < res.get("small_files", 0) or not big or small < 5 * big:
        raise CheckFailed(
            "GetObject: 작은 파일 스캔 >= 파일 수, 압축 뒤 5배 이상 적음",
            f"{small} -> {big}",
            "스캔 직전과 직후에 request_counts(ctx)를 읽어 delta_requests로 차이를 구하세요.",
        )
    if res["scan_small"].get("groups") != res["scan_compacted"].get("groups"):
        raise CheckFailed(
            "압축 전후 같은 결과",
            f"{res['scan_small'].get('groups')} vs {res['scan_compacted'].get('groups')} 그룹",
            "OPTIMIZE는 데이터를 바꾸지 않습니다. 같은 쿼리를 쓰세요.",
        )


@check(4)
def filters_in_the_plan(ctx: LabContext) -> None:
    """dt 조건은 파티션 프루닝, country 조건은 Parquet 조건 푸시다운으로 계획에 보인다"""
    plans = _results(ctx).get("plans", {})
    missing = [k for k in ("partition_filter", "pushed_filter") if not plans.get(k)]
    if missing:
        raise CheckFailed(
            "partition_filter, pushed_filter 모두 True",
            f"False: {missing}",
            "explain(mode='formatted')에서 PartitionFilters와 PushedFilters 줄을 찾으세요.",
        )


@check(5)
def committers_compared(ctx: LabContext) -> None:
    """magic 커밋터는 복사(이름 바꾸기) 없이, file 커밋터는 CopyObject로 커밋했고, 시간은 AWS처럼 쟀다"""
    com = _results(ctx).get("committers", {})
    if set(com) < {"magic", "file"}:
        raise CheckFailed(
            "committers.magic, committers.file",
            f"{sorted(com)}",
            "fs.s3a.committer.name을 magic과 file로 바꿔 가며 같은 데이터를 쓰세요.",
        )
    if not ctx.can("request_counts"):
        return
    magic, file = com["magic"]["requests"], com["file"]["requests"]
    if magic.get("CopyObject", 0) != 0 or file.get("CopyObject", 0) == 0:
        raise CheckFailed(
            "magic: CopyObject 0, file: CopyObject > 0",
            f"magic {magic.get('CopyObject', 0)}, file {file.get('CopyObject', 0)}",
            "S3에는 이름 바꾸기가 없어 file 커밋터는 복사+삭제를 합니다. 커밋터 "
            "설정이 쓰기 전에 바뀌었는지 확인하세요.",
        )
    if ctx.can("cost_model") and com.get("timing") != "aws-model":
        raise CheckFailed(
            'committers.timing == "aws-model" (aws_like_costs 안에서 잰 시간)',
            f"timing {com.get('timing')!r}, magic {com['magic'].get('seconds')} s, "
            f"file {com['file'].get('seconds')} s",
            "두 쓰기를 `with aws_like_costs(ctx) as timing:` 안에서 재고 결과에 "
            '"timing": timing을 넣으세요. 로컬 디스크에서는 복사가 공짜라 file 커밋터가 '
            "빨라 보이지만, S3에서는 복사가 데이터를 다시 쓰는 만큼 걸립니다.",
        )


@check(6)
def committer_outputs_complete(ctx: LabContext) -> None:
    """두 커밋터의 결과가 모두 완전하다 (행 수가 원본과 같고 임시 파일이 없다)"""
    s3 = ctx.client("s3")
    for name in ("magic", "file"):
        prefix = f"{COMMIT_PREFIX}{name}/"
        keys = [o["Key"] for o in s3util.list_objects(s3, lab_bucket(ctx), prefix)]
        leftovers = [k for k in keys if "__magic" in k or "_temporary" in k]
        rows = sum(
            pq.ParquetFile(
                io.BytesIO(s3.get_object(Bucket=lab_bucket(ctx), Key=k)["Body"].read())
            ).metadata.num_rows
            for k in keys
            if k.endswith(".parquet")
        )
        if leftovers or rows != ROWS:
            raise CheckFailed(
                f"{name}: {ROWS}행, 임시 파일 없음",
                f"{rows}행, 임시 파일 {len(leftovers)}개",
                "쓰기가 중간에 실패했다면 다시 실행하세요 (mode('overwrite')).",
            )

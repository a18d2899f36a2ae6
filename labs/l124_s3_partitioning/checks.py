"""Checks of lab 1.2.4, in order. Each docstring's first line is what the learner sees.

They read real state only: the bucket's configuration, the keys in S3, the bytes of the
Parquet files, and what a Hive-partitioned dataset reader discovers.
"""

from __future__ import annotations

import gzip
import io
import re
from collections import defaultdict
from typing import Any

import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from labs.harness import CheckFailed, LabContext, check
from labs.l124_s3_partitioning.lab import (
    CURATED_PREFIX,
    DAYS,
    RAW_IA_DAYS,
    RAW_PREFIX,
    REQUIRED_TAGS,
    ROWS,
    START,
    lake_bucket,
)
from sim import clients, s3util
from sim.datagen.clickstream import dates

_HIVE_KEY = re.compile(r"^dt=(\d{4}-\d{2}-\d{2})/[^/]+$")


def _keys(ctx: LabContext, prefix: str) -> list[dict[str, Any]]:
    return s3util.list_objects(ctx.client("s3"), lake_bucket(ctx), prefix)


def _partitions(ctx: LabContext, prefix: str) -> dict[str, list[str]]:
    parts: dict[str, list[str]] = defaultdict(list)
    bad = []
    for obj in _keys(ctx, prefix):
        rest = obj["Key"][len(prefix) :]
        m = _HIVE_KEY.match(rest)
        if m is None:
            bad.append(obj["Key"])
        else:
            parts[m.group(1)].append(obj["Key"])
    if bad:
        raise CheckFailed(
            expected=f"모든 키가 {prefix}dt=YYYY-MM-DD/<파일> 형태",
            found=f"형태가 다른 키 {len(bad)}개 (예: {bad[0]})",
            hint="Spark와 Athena는 'dt=2026-01-12/' 같은 Hive 스타일 경로만 파티션으로 "
            "인식합니다. '2026/01/12/' 같은 경로는 파티션 열이 생기지 않습니다.",
        )
    return dict(parts)


@check(1)
def bucket_exists(ctx: LabContext) -> None:
    """레이크 버킷이 만들어져 있고 태그(project=bdlab, lab=1.2.4)가 붙어 있다"""
    s3 = ctx.client("s3")
    bucket = lake_bucket(ctx)
    names = [b["Name"] for b in s3.list_buckets().get("Buckets", [])]
    if bucket not in names:
        raise CheckFailed(
            f"버킷 {bucket}",
            f"버킷 {len(names)}개, 그중에 없음",
            "1단계에서 lake_bucket(ctx) 이름으로 s3.create_bucket을 호출하세요.",
        )
    try:
        tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}
    except s3.exceptions.ClientError:
        tags = {}
    missing = {k: v for k, v in REQUIRED_TAGS.items() if tags.get(k) != v}
    if missing:
        raise CheckFailed(
            f"태그 {REQUIRED_TAGS}",
            f"태그 {tags or '없음'}",
            "s3.put_bucket_tagging(Bucket=..., Tagging={'TagSet': [...]})로 "
            "비용 추적용 태그를 붙이세요.",
        )


@check(2)
def bucket_security(ctx: LabContext) -> None:
    """기본 암호화(SSE-S3)와 퍼블릭 액세스 차단 네 가지가 모두 켜져 있다"""
    s3 = ctx.client("s3")
    bucket = lake_bucket(ctx)
    try:
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"][
            "Rules"
        ]
        algos = [r["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] for r in rules]
    except s3.exceptions.ClientError:
        algos = []
    if not {"AES256", "aws:kms"} & set(algos):
        raise CheckFailed(
            "기본 암호화 AES256(SSE-S3)",
            f"{algos or '설정 없음'}",
            "s3.put_bucket_encryption으로 SSEAlgorithm='AES256' 규칙을 넣으세요.",
        )
    try:
        pab = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    except s3.exceptions.ClientError:
        pab = {}
    off = [
        k
        for k in (
            "BlockPublicAcls",
            "IgnorePublicAcls",
            "BlockPublicPolicy",
            "RestrictPublicBuckets",
        )
        if not pab.get(k)
    ]
    if off:
        raise CheckFailed(
            "퍼블릭 액세스 차단 4개 모두 True",
            f"꺼진 항목: {', '.join(off)}",
            "s3.put_public_access_block에서 네 값을 모두 True로 주세요.",
        )


@check(3)
def raw_partitions(ctx: LabContext) -> None:
    """raw 영역에 원본이 날짜별 Hive 스타일 파티션(dt=YYYY-MM-DD)으로 모두 있다"""
    parts = _partitions(ctx, RAW_PREFIX)
    want = dates(START, DAYS)
    missing = [d for d in want if d not in parts]
    if missing:
        raise CheckFailed(
            f"{RAW_PREFIX} 아래 파티션 {DAYS}개 ({want[0]} ~ {want[-1]})",
            f"{len(parts)}개, 빠진 날짜: {', '.join(missing)}",
            "2단계에서 event_time의 UTC 날짜로 나눴는지, 모든 날짜를 올렸는지 확인하세요.",
        )
    extra = sorted(set(parts) - set(want))
    if extra:
        raise CheckFailed(
            f"{want[0]} ~ {want[-1]} 날짜만",
            f"다른 날짜 {extra}",
            "날짜는 UTC 기준입니다. 현지 시간(KST)으로 나누면 하루씩 밀립니다.",
        )


@check(4)
def curated_parquet(ctx: LabContext) -> None:
    """curated 영역의 모든 파티션에 snappy로 압축한 Parquet 파일이 있다"""
    raw = _partitions(ctx, RAW_PREFIX)
    cur = _partitions(ctx, CURATED_PREFIX)
    missing = sorted(set(raw) - set(cur))
    if missing:
        raise CheckFailed(
            f"raw와 같은 파티션 {len(raw)}개",
            f"curated에 없는 날짜 {missing}",
            "3단계에서 raw 파티션마다 curated 파티션을 만드세요.",
        )
    s3 = ctx.client("s3")
    for _dt, keys in sorted(cur.items()):
        for key in keys:
            head = s3.get_object(Bucket=lake_bucket(ctx), Key=key, Range="bytes=-4")["Body"]
            if head.read() != b"PAR1":
                raise CheckFailed(
                    "Parquet 파일(끝 4바이트 'PAR1')",
                    f"{key}는 Parquet가 아님",
                    "pyarrow.parquet.write_table로 쓴 바이트를 올리세요.",
                )
            meta = _parquet(ctx, key).metadata
            codecs = {
                meta.row_group(i).column(j).compression
                for i in range(meta.num_row_groups)
                for j in range(meta.num_columns)
            }
            if codecs != {"SNAPPY"}:
                raise CheckFailed(
                    "압축 코덱 SNAPPY",
                    f"{key}: {sorted(codecs)}",
                    "write_table(..., compression='snappy')를 쓰세요. snappy는 "
                    "분할 읽기와 속도의 균형 때문에 레이크의 기본값입니다.",
                )


def _parquet(ctx: LabContext, key: str) -> pq.ParquetFile:
    body = ctx.client("s3").get_object(Bucket=lake_bucket(ctx), Key=key)["Body"].read()
    return pq.ParquetFile(io.BytesIO(body))


@check(5)
def partition_values_match(ctx: LabContext) -> None:
    """각 파티션의 dt 값과 파일 안 event_time의 날짜(UTC)가 일치한다"""
    for dt, keys in sorted(_partitions(ctx, CURATED_PREFIX).items()):
        for key in keys:
            table = _parquet(ctx, key).read()
            if "dt" in table.column_names:
                raise CheckFailed(
                    "dt는 경로에만 있고 파일 안에는 없음",
                    f"{key} 안에 dt 열이 있음",
                    "Hive 스타일에서는 파티션 값이 경로에 있습니다. 파일에도 넣으면 "
                    "Spark가 읽을 때 열 이름이 겹칩니다.",
                )
            if "event_time" not in table.column_names:
                raise CheckFailed(
                    "event_time 열",
                    f"{key}의 열: {table.column_names}",
                    "원본의 열을 그대로 두세요.",
                )
            days = set(pc.strftime(table["event_time"], format="%Y-%m-%d").to_pylist())
            if days != {dt}:
                raise CheckFailed(
                    f"{key}의 모든 행이 {dt}",
                    f"날짜 {sorted(days)[:3]}{'…' if len(days) > 3 else ''}",
                    "행을 event_time의 UTC 날짜로 나눠 같은 날짜의 파티션에 넣으세요.",
                )


@check(6)
def row_counts_match(ctx: LabContext) -> None:
    """raw와 curated의 행 수가 원본과 같다 (데이터 유실·중복 없음)"""
    s3 = ctx.client("s3")
    bucket = lake_bucket(ctx)
    raw_rows = 0
    for obj in _keys(ctx, RAW_PREFIX):
        body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
        if obj["Key"].endswith(".gz"):
            body = gzip.decompress(body)
        raw_rows += sum(1 for line in body.splitlines() if line.strip())
    cur_rows = sum(_parquet(ctx, o["Key"]).metadata.num_rows for o in _keys(ctx, CURATED_PREFIX))
    if raw_rows != ROWS or cur_rows != ROWS:
        raise CheckFailed(
            f"raw {ROWS}행, curated {ROWS}행",
            f"raw {raw_rows}행, curated {cur_rows}행",
            "같은 파티션을 두 번 올렸거나(중복) 일부를 빠뜨렸는지(유실) "
            "확인하세요. 다시 하려면 `bdlab reset 1.2.4` 후 `bdlab run 1.2.4`.",
        )


@check(7)
def partition_pruning(ctx: LabContext) -> None:
    """Hive 파티션 탐색: dt 조건 조회가 그 날짜의 파일만 읽는다 (파티션 프루닝)"""
    fs = clients.arrow_fs(ctx.profile)
    dataset = ds.dataset(
        f"{lake_bucket(ctx)}/{CURATED_PREFIX.rstrip('/')}",
        filesystem=fs,
        format="parquet",
        partitioning="hive",
    )
    if "dt" not in dataset.schema.names:
        raise CheckFailed(
            "데이터셋 스키마에 파티션 열 dt",
            f"열: {dataset.schema.names}",
            "경로가 dt=YYYY-MM-DD 형태여야 리더가 dt 열을 만듭니다.",
        )
    day = dates(START, DAYS)[2]
    files = [f.path for f in dataset.get_fragments(filter=ds.field("dt") == day)]
    if not files or any(f"dt={day}/" not in f for f in files):
        raise CheckFailed(
            f"dt='{day}' 조건에서 그 파티션의 파일만",
            f"{files[:3]}",
            "파티션 하나에 그 날짜의 파일만 두세요.",
        )
    rows = dataset.to_table(filter=ds.field("dt") == day).num_rows
    if rows == 0:
        raise CheckFailed(f"dt='{day}'의 행 > 0", "0행", "3단계의 결과를 확인하세요.")


@check(8)
def raw_lifecycle(ctx: LabContext) -> None:
    """raw/ 객체를 30일 뒤 STANDARD_IA로 옮기는 수명 주기 규칙이 있고, 실제로 옮겨졌다"""
    s3 = ctx.client("s3")
    bucket = lake_bucket(ctx)
    try:
        rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    except s3.exceptions.ClientError:
        rules = []
    good = [
        r
        for r in rules
        if r.get("Status") == "Enabled"
        and (r.get("Filter", {}).get("Prefix", r.get("Prefix", "")) == RAW_PREFIX)
        and any(
            t.get("StorageClass") == "STANDARD_IA" and t.get("Days", 0) >= RAW_IA_DAYS
            for t in r.get("Transitions", [])
        )
    ]
    if not good:
        raise CheckFailed(
            f"Prefix={RAW_PREFIX}, {RAW_IA_DAYS}일 뒤 STANDARD_IA 규칙",
            f"규칙 {len(rules)}개, 맞는 규칙 없음",
            "put_bucket_lifecycle_configuration의 Filter.Prefix와 Transitions를 "
            "확인하세요. STANDARD_IA는 30일 미만이면 S3가 거부합니다.",
        )
    if not ctx.can("lifecycle_now"):
        return  # real S3 moves objects by itself within a day or two
    classes = {o["Key"]: o.get("StorageClass", "STANDARD") for o in _keys(ctx, RAW_PREFIX)}
    big = {k: c for k, c in classes.items() if k.endswith(".gz")}
    if not big or any(c != "STANDARD_IA" for c in big.values()):
        raise CheckFailed(
            "raw/ 객체의 저장 클래스 STANDARD_IA",
            f"{sorted(set(big.values())) or '객체 없음'}",
            f"규칙을 넣은 뒤 fast_forward(ctx, {RAW_IA_DAYS + 1})를 불렀는지 확인하세요 "
            "(이 버킷의 규칙만 31일 뒤 시점으로 적용합니다).",
        )

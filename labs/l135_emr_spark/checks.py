"""Checks of lab 1.3.5, in order. Each docstring's first line is what the learner sees.

They read real state: the EMR API (cluster, steps, their states), the step logs under the
cluster's LogUri, and the job's output in S3 compared with the raw input.
"""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from labs.harness import CheckFailed, LabContext, check
from labs.l135_emr_spark.lab import DAYS, GOLD_PREFIX, JOB_KEY, RAW_PREFIX, START, lab_bucket
from sim import s3util
from sim.datagen.clickstream import dates


def _cluster(ctx: LabContext) -> dict[str, Any]:
    """The newest cluster tagged lab=1.3.5 created since the lab's bucket (EMR lists ended
    clusters for two months, so older runs must not count)."""
    created = {b["Name"]: b["CreationDate"] for b in ctx.client("s3").list_buckets()["Buckets"]}
    since = created.get(lab_bucket(ctx))
    if since is None:
        raise CheckFailed(
            f"실습 버킷 {lab_bucket(ctx)}",
            "없음",
            "`bdlab run 1.3.5`가 먼저 prepare_data로 버킷과 원본을 만듭니다.",
        )
    emr = ctx.client("emr")
    found = []
    for c in emr.list_clusters(CreatedAfter=since - timedelta(seconds=1))["Clusters"]:
        full = emr.describe_cluster(ClusterId=c["Id"])["Cluster"]
        if {t["Key"]: t["Value"] for t in full.get("Tags", [])}.get("lab") == "1.3.5":
            found.append(full)
    if not found:
        raise CheckFailed(
            "태그 lab=1.3.5 인 EMR 클러스터",
            "없음",
            "2단계에서 ClusterSpec(tags=TAGS, ...)로 create_cluster를 호출하세요. "
            "spark-submit을 직접 실행하는 대신 EMR API(RunJobFlow)를 써야 합니다.",
        )
    return max(found, key=lambda c: c["Status"]["Timeline"]["CreationDateTime"])


def _job_step(ctx: LabContext) -> dict[str, Any]:
    cluster = _cluster(ctx)
    steps = ctx.client("emr").list_steps(ClusterId=cluster["Id"])["Steps"]
    script = f"s3://{lab_bucket(ctx)}/{JOB_KEY}"
    mine = [s for s in steps if script in s["Config"].get("Args", [])]
    if not mine:
        raise CheckFailed(
            f"{script}을 실행하는 스텝",
            f"스텝 {len(steps)}개, 그 스크립트를 실행하는 스텝 없음",
            "3단계에서 SparkStep(script=<1단계의 s3:// URI>, ...)를 submit 하세요.",
        )
    return dict(mine[0])  # list_steps is newest first


@check(1)
def cluster_created_with_logs(ctx: LabContext) -> None:
    """EMR API로 만든 클러스터에 LogUri(s3://)와 태그가 있다"""
    c = _cluster(ctx)
    if not str(c.get("LogUri") or "").startswith("s3://"):
        raise CheckFailed(
            "LogUri = s3://<버킷>/emr-logs/",
            f"LogUri = {c.get('LogUri')}",
            "ClusterSpec(log_uri=...)를 주세요. 로그가 없으면 실패한 스텝의 원인을 볼 수 없습니다.",
        )


@check(2)
def step_runs_script_from_s3(ctx: LabContext) -> None:
    """스텝이 command-runner.jar의 spark-submit으로 S3의 잡 스크립트를 실행했다"""
    step = _job_step(ctx)
    cfg = step["Config"]
    if cfg.get("Jar") != "command-runner.jar" or cfg.get("Args", [""])[0] != "spark-submit":
        raise CheckFailed(
            "Jar=command-runner.jar, Args[0]=spark-submit",
            f"Jar={cfg.get('Jar')}, Args={cfg.get('Args', [])[:2]}",
            "spark.emr.SparkStep을 쓰면 EMR 형식의 스텝을 만들어 줍니다.",
        )


@check(3)
def step_completed(ctx: LabContext) -> None:
    """스텝이 COMPLETED 상태로 끝났다"""
    step = _job_step(ctx)
    status = step["Status"]
    if status["State"] != "COMPLETED":
        reason = status.get("FailureDetails", {}).get("Reason", "")
        cid = _cluster(ctx)["Id"]
        raise CheckFailed(
            "COMPLETED",
            f"{status['State']} {reason}".strip(),
            f"`bdlab emr logs {cid} {step['Id']} --which stdout` 과 `--which stderr` "
            "로 원인을 보세요. 스크립트 경로와 인자(원본, 결과 경로)를 확인하세요.",
        )


@check(4)
def step_logs_kept(ctx: LabContext) -> None:
    """스텝의 stdout/stderr 로그가 LogUri 아래에 남아 있다"""
    c = _cluster(ctx)
    step = _job_step(ctx)
    bucket, _, prefix = c["LogUri"].removeprefix("s3://").partition("/")
    prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
    base = f"{prefix}{c['Id']}/steps/{step['Id']}/"
    keys = {
        o["Key"]
        for o in ctx.client("s3").list_objects_v2(Bucket=bucket, Prefix=base).get("Contents", [])
    }
    missing = [n for n in ("stdout.gz", "stderr.gz") if base + n not in keys]
    if missing:
        raise CheckFailed(
            f"s3://{bucket}/{base}stdout.gz, stderr.gz",
            f"없는 로그: {missing}",
            "EMR은 스텝이 끝나고 몇 분 뒤 로그를 올립니다. 잠시 뒤 다시 검사하세요.",
        )


def _read_parquet_prefix(ctx: LabContext, prefix: str, with_dt: bool) -> pa.Table:
    s3 = ctx.client("s3")
    tables = []
    for o in s3util.list_objects(s3, lab_bucket(ctx), prefix):
        if o["Key"].endswith(".parquet"):
            t = pq.read_table(
                io.BytesIO(s3.get_object(Bucket=lab_bucket(ctx), Key=o["Key"])["Body"].read())
            )
            if with_dt:
                dt = o["Key"][len(prefix) :].split("/")[0].removeprefix("dt=")
                t = t.append_column("dt", pa.array([dt] * t.num_rows, pa.string()))
            tables.append(t)
    return pa.concat_tables(tables, promote_options="default") if tables else pa.table({})


@check(5)
def output_matches_input(ctx: LabContext) -> None:
    """결과 Parquet(dt 파티션)의 일별 매출이 원본에서 계산한 값과 같다"""
    gold = _read_parquet_prefix(ctx, GOLD_PREFIX, with_dt=True)
    if gold.num_rows == 0:
        raise CheckFailed(
            f"s3://{lab_bucket(ctx)}/{GOLD_PREFIX}dt=*/ 아래 Parquet",
            "결과 파일 없음",
            "3단계의 두 번째 인자(결과 경로)와 형식('parquet')을 확인하세요.",
        )
    raw = _read_parquet_prefix(ctx, RAW_PREFIX, with_dt=False)
    buys = raw.filter(pc.equal(raw["event_type"], "purchase"))
    revenue = pc.multiply(buys["price"], pc.cast(buys["quantity"], pa.float64()))
    days = pc.strftime(buys["event_time"], format="%Y-%m-%d")
    want = {
        d: round(sum(pc.filter(revenue, pc.equal(days, d)).to_pylist()), 2)
        for d in dates(START, DAYS)
    }
    got: dict[str, float] = {}
    for d, r in zip(gold["dt"].to_pylist(), gold["revenue"].to_pylist(), strict=True):
        got[d] = round(got.get(d, 0.0) + r, 2)
    off = {d: (want[d], got.get(d)) for d in want if abs(want[d] - got.get(d, 0.0)) > 0.05 * 1}
    if off:
        d = sorted(off)[0]
        raise CheckFailed(
            f"{d} 매출 {want[d]:,.2f}",
            f"{off[d][1]}",
            "구매(purchase) 이벤트만, 매출 = price × quantity, dt별로 합하는지 확인하세요.",
        )


@check(6)
def cluster_not_left_running(ctx: LabContext) -> None:
    """클러스터를 종료했거나 유휴 자동 종료가 설정되어 있다 (비용 관리)"""
    c = _cluster(ctx)
    state = c["Status"]["State"]
    policy = ctx.client("emr").get_auto_termination_policy(ClusterId=c["Id"])
    if state in ("TERMINATING", "TERMINATED") or policy.get("AutoTerminationPolicy"):
        return
    raise CheckFailed(
        "TERMINATED 또는 AutoTerminationPolicy",
        f"{state}, 자동 종료 없음",
        "실제 AWS에서 켜 둔 클러스터는 시간당 요금이 나갑니다. 4단계에서 "
        "terminate 하거나 ClusterSpec(idle_timeout_s=...)를 쓰세요.",
    )

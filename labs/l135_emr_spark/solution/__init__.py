"""Reference solution of lab 1.3.5 (CI runs it and checks it on the embedded profile)."""

from __future__ import annotations

from typing import Any

from labs.harness import LabContext
from labs.l135_emr_spark.lab import (
    GOLD_PREFIX,
    JOB_FILE,
    JOB_KEY,
    LOG_PREFIX,
    RAW_PREFIX,
    TAGS,
    lab_bucket,
    prepare_data,
)
from spark import emr


def upload_job(ctx: LabContext) -> str:
    return emr.upload(JOB_FILE, f"s3://{lab_bucket(ctx)}/{JOB_KEY}", ctx.profile)


def create_cluster(ctx: LabContext) -> str:
    spec = emr.ClusterSpec(
        name="bdlab-lab135",
        log_uri=f"s3://{lab_bucket(ctx)}/{LOG_PREFIX}",
        tags=TAGS,
        keep_alive=True,
        idle_timeout_s=3600,
    )
    return emr.create_cluster(spec, ctx.profile)


def run_step(ctx: LabContext, cluster_id: str, script_uri: str) -> str:
    bucket = lab_bucket(ctx)
    step = emr.SparkStep(
        name="daily-revenue",
        script=script_uri,
        args=[f"s3://{bucket}/{RAW_PREFIX}", f"s3://{bucket}/{GOLD_PREFIX}", "parquet"],
    )
    step_id = emr.submit(cluster_id, [step], ctx.profile)[0]
    emr.wait_step(cluster_id, step_id, ctx.profile, timeout=900)
    return step_id


def main(ctx: LabContext) -> dict[str, Any]:
    with ctx.step("준비: 원본 데이터"):
        prepare_data(ctx)
    with ctx.step("1단계: 작업 스크립트 업로드"):
        script = upload_job(ctx)
    with ctx.step("2단계: 클러스터 만들기"):
        cluster_id = create_cluster(ctx)
    with ctx.step("3단계: Spark 단계 실행"):
        step_id = run_step(ctx, cluster_id, script)
    with ctx.step("4단계: 클러스터 종료"):
        emr.terminate(cluster_id, ctx.profile)
    return {"cluster": cluster_id, "step": step_id}

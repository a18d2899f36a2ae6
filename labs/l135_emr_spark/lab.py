"""Lab 1.3.5 — EMR 클러스터 생성 및 Spark 작업 (the learner's file).

Fill in the TODO steps (see README.md), then:

    bdlab run 1.3.5      # runs main() below against the active profile
    bdlab check 1.3.5    # checks the cluster, the step, its logs and the output in S3
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from labs.harness import LabContext, LabInfo
from sim import s3util

LAB = LabInfo(
    id="1.3.5",
    slug="l135_emr_spark",
    title="EMR 클러스터 생성 및 Spark 작업",
    part=1,
    summary="EMR API로 클러스터를 만들고 S3의 PySpark 스크립트를 스텝으로 실행합니다.",
)

START = datetime(2026, 2, 2, tzinfo=UTC)
DAYS = 5
ROWS = 50_000
SEED = 135
RAW_PREFIX = "raw/events/"
GOLD_PREFIX = "gold/daily_revenue/"
JOB_KEY = "jobs/daily_revenue.py"
LOG_PREFIX = "emr-logs/"
TAGS = {"project": "bdlab", "lab": "1.3.5"}
# The job the cluster runs: the project's own gold job (it needs nothing but PySpark).
JOB_FILE = Path(__file__).resolve().parents[2] / "spark" / "jobs" / "daily_revenue.py"


def lab_bucket(ctx: LabContext) -> str:
    return ctx.name("emr")


def prepare_data(ctx: LabContext) -> str:
    """Given: the bucket with raw events (Parquet, dt= partitions). Returns the bucket name."""
    s3 = ctx.client("s3")
    bucket = lab_bucket(ctx)
    s3util.ensure_bucket(s3, bucket, ctx.profile.region)
    s3util.put_daily_parquet(s3, bucket, RAW_PREFIX, ROWS, START, DAYS, SEED)
    return bucket


# --------------------------------------------------------------------------- TODO
def step1_upload_job(ctx: LabContext) -> str:
    """1단계: 잡 스크립트(JOB_FILE)를 s3://<버킷>/jobs/daily_revenue.py 에 올리고 URI를 돌려줍니다."""
    # TODO(1단계): spark.emr.upload(JOB_FILE, f"s3://{lab_bucket(ctx)}/{JOB_KEY}", ctx.profile)
    raise NotImplementedError("TODO 1단계: README.md의 '1단계'를 보고 잡 스크립트를 S3에 올리세요.")


def step2_create_cluster(ctx: LabContext) -> str:
    """2단계: LogUri와 태그가 있는 클러스터를 만들고 클러스터 ID(j-...)를 돌려줍니다."""
    # TODO(2단계): spark.emr.ClusterSpec(name=..., log_uri=f"s3://{lab_bucket(ctx)}/{LOG_PREFIX}",
    #              tags=TAGS, keep_alive=True, idle_timeout_s=3600) 로 create_cluster(...)
    raise NotImplementedError("TODO 2단계: README.md의 '2단계'를 보고 클러스터를 만드세요.")


def step3_run_step(ctx: LabContext, cluster_id: str, script_uri: str) -> str:
    """3단계: spark-submit 스텝을 추가하고 끝날 때까지 기다린 뒤 스텝 ID를 돌려줍니다."""
    # TODO(3단계): spark.emr.SparkStep(name="daily-revenue", script=script_uri,
    #              args=[원본 s3:// 경로, 결과 s3:// 경로, "parquet"]) 를 submit 하고 wait_step
    raise NotImplementedError("TODO 3단계: README.md의 '3단계'를 보고 스텝을 실행하세요.")


def step4_terminate(ctx: LabContext, cluster_id: str) -> None:
    """4단계: 다 쓴 클러스터를 종료합니다 (비용!)."""
    # TODO(4단계): spark.emr.terminate(cluster_id, ctx.profile)
    raise NotImplementedError("TODO 4단계: README.md의 '4단계'를 보고 클러스터를 종료하세요.")


# --------------------------------------------------------------------------- run
def main(ctx: LabContext) -> dict[str, Any]:
    with ctx.step("준비: 원본 데이터"):
        prepare_data(ctx)
    with ctx.step("1단계: 작업 스크립트 업로드"):
        script = step1_upload_job(ctx)
    with ctx.step("2단계: 클러스터 만들기"):
        cluster_id = step2_create_cluster(ctx)
    with ctx.step("3단계: Spark 단계 실행"):
        step_id = step3_run_step(ctx, cluster_id, script)
    with ctx.step("4단계: 클러스터 종료"):
        step4_terminate(ctx, cluster_id)
    return {"cluster": cluster_id, "step": step_id}


def reset(ctx: LabContext) -> int:
    """Terminate the lab's clusters and delete its bucket; returns objects removed."""
    emr = ctx.client("emr")
    for c in emr.list_clusters(ClusterStates=["STARTING", "BOOTSTRAPPING", "RUNNING", "WAITING"])[
        "Clusters"
    ]:
        tags = {
            t["Key"]: t["Value"]
            for t in emr.describe_cluster(ClusterId=c["Id"])["Cluster"].get("Tags", [])
        }
        if tags.get("lab") == LAB.id:
            emr.terminate_job_flows(JobFlowIds=[c["Id"]])
    return s3util.delete_bucket(ctx.client("s3"), lab_bucket(ctx))

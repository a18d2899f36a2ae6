"""EMR steps that really run: spark-submit of a script uploaded to S3, logs under LogUri."""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.integration

JOB = b"""
import sys
from pyspark.sql import SparkSession
spark = SparkSession.builder.getOrCreate()
src, dst = sys.argv[1], sys.argv[2]
df = spark.read.option("header", True).csv(src)
df.groupBy("country").count().write.mode("overwrite").parquet(dst)
print("ROWS", df.count())
"""
FAILING = b"""
raise RuntimeError("boom: bad input partition")
"""


def wait_step(emr: Any, cid: str, sid: str, timeout: float = 240) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        step = emr.describe_step(ClusterId=cid, StepId=sid)["Step"]
        if step["Status"]["State"] in ("COMPLETED", "FAILED", "CANCELLED"):
            return step
        time.sleep(0.5)
    raise AssertionError(f"step {sid} still {step['Status']['State']}")


def wait_cluster(emr: Any, cid: str, states: set[str], timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        c = emr.describe_cluster(ClusterId=cid)["Cluster"]
        if c["Status"]["State"] in states:
            return c
        time.sleep(0.2)
    raise AssertionError(f"cluster {cid} still {c['Status']['State']}")


def cluster(emr: Any, bucket: str, keep_alive: bool = True, **extra: Any) -> str:
    return emr.run_job_flow(
        Name="bdlab-test",
        ReleaseLabel="emr-7.5.0",
        LogUri=f"s3://{bucket}/emr-logs/",
        Applications=[{"Name": "Spark"}],
        Instances={
            "MasterInstanceType": "m5.xlarge",
            "InstanceCount": 1,
            "KeepJobFlowAliveWhenNoSteps": keep_alive,
        },
        JobFlowRole="EMR_EC2_DefaultRole",
        ServiceRole="EMR_DefaultRole",
        **extra,
    )["JobFlowId"]


def spark_step(name: str, script: str, *args: str, action: str = "CONTINUE") -> dict[str, Any]:
    return {
        "Name": name,
        "ActionOnFailure": action,
        "HadoopJarStep": {
            "Jar": "command-runner.jar",
            "Args": ["spark-submit", "--deploy-mode", "cluster", script, *args],
        },
    }


def test_cluster_lifecycle_without_steps(aws: Callable[[str], Any], bucket: str) -> None:
    emr = aws("emr")
    cid = cluster(emr, bucket)
    c = emr.describe_cluster(ClusterId=cid)["Cluster"]
    assert c["Status"]["State"] == "STARTING" and cid.startswith("j-")
    c = wait_cluster(emr, cid, {"WAITING"})
    assert c["Status"]["Timeline"]["ReadyDateTime"] >= c["Status"]["Timeline"]["CreationDateTime"]
    assert cid in [x["Id"] for x in emr.list_clusters(ClusterStates=["WAITING"])["Clusters"]]
    emr.terminate_job_flows(JobFlowIds=[cid])
    c = wait_cluster(emr, cid, {"TERMINATED"})
    assert c["Status"]["StateChangeReason"]["Code"] == "USER_REQUEST"
    with pytest.raises(ClientError) as e:
        emr.add_job_flow_steps(JobFlowId=cid, Steps=[spark_step("late", "s3://x/y.py")])
    assert e.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as e:
        emr.describe_cluster(ClusterId="j-NOPE")
    assert e.value.response["Error"]["Code"] == "InvalidRequestException"


@pytest.mark.spark
def test_steps_run_for_real_with_logs_and_action_on_failure(
    aws: Callable[[str], Any], bucket: str
) -> None:
    s3, emr = aws("s3"), aws("emr")
    s3.put_object(Bucket=bucket, Key="jobs/count.py", Body=JOB)
    s3.put_object(Bucket=bucket, Key="jobs/fail.py", Body=FAILING)
    s3.put_object(Bucket=bucket, Key="in/data.csv", Body=b"id,country\n1,KR\n2,KR\n3,US\n")
    cid = cluster(
        emr,
        bucket,
        keep_alive=False,
        Steps=[
            spark_step(
                "count", f"s3://{bucket}/jobs/count.py", f"s3://{bucket}/in/", f"s3://{bucket}/out/"
            ),
            spark_step(
                "missing",
                f"s3://{bucket}/jobs/count.py",
                "s3://bdlab-no-such-bucket-0/in/",
                f"s3://{bucket}/out2/",
            ),
            spark_step("fail", f"s3://{bucket}/jobs/fail.py", action="TERMINATE_CLUSTER"),
            spark_step("never", f"s3://{bucket}/jobs/count.py", "a", "b"),
        ],
    )
    steps = {s["Name"]: s["Id"] for s in emr.list_steps(ClusterId=cid)["Steps"]}
    ok = wait_step(emr, cid, steps["count"])
    assert ok["Status"]["State"] == "COMPLETED", ok
    out = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="out/")["Contents"]]
    assert any(k.endswith(".parquet") for k in out)
    stdout = gzip.decompress(
        s3.get_object(Bucket=bucket, Key=f"emr-logs/{cid}/steps/{steps['count']}/stdout.gz")[
            "Body"
        ].read()
    )
    assert b"ROWS 3" in stdout
    missing = wait_step(emr, cid, steps["missing"])
    reason = missing["Status"]["FailureDetails"]["Reason"]
    assert missing["Status"]["State"] == "FAILED"
    # The innermost Java cause, not py4j's wrapper or a log line.
    assert "NoSuchBucket" in reason or "UnknownStoreException" in reason, reason
    assert "Py4JJavaError" not in reason
    bad = wait_step(emr, cid, steps["fail"])
    assert bad["Status"]["State"] == "FAILED"
    assert "boom: bad input partition" in bad["Status"]["FailureDetails"]["Reason"]
    log_key = bad["Status"]["FailureDetails"]["LogFile"].split(f"s3://{bucket}/", 1)[1]
    assert b"RuntimeError: boom" in gzip.decompress(
        s3.get_object(Bucket=bucket, Key=log_key)["Body"].read()
    )
    c = wait_cluster(emr, cid, {"TERMINATED", "TERMINATED_WITH_ERRORS"})
    assert c["Status"]["State"] == "TERMINATED_WITH_ERRORS"
    assert c["Status"]["StateChangeReason"]["Code"] == "STEP_FAILURE"
    never = emr.describe_step(ClusterId=cid, StepId=steps["never"])["Step"]
    assert never["Status"]["State"] == "CANCELLED"


def test_unsupported_step_fails_with_a_reason(aws: Callable[[str], Any], bucket: str) -> None:
    emr = aws("emr")
    cid = cluster(emr, bucket)
    sid = emr.add_job_flow_steps(
        JobFlowId=cid,
        Steps=[
            {
                "Name": "hive",
                "ActionOnFailure": "CONTINUE",
                "HadoopJarStep": {
                    "Jar": "command-runner.jar",
                    "Args": ["hive-script", "--run-hive-script"],
                },
            }
        ],
    )["StepIds"][0]
    step = wait_step(emr, cid, sid, timeout=60)
    assert step["Status"]["State"] == "FAILED"
    assert "spark-submit" in step["Status"]["FailureDetails"]["Reason"]
    assert wait_cluster(emr, cid, {"WAITING"})["Status"]["State"] == "WAITING"  # CONTINUE
    sid2 = emr.add_job_flow_steps(JobFlowId=cid, Steps=[spark_step("p", "s3://nowhere-bkt/x.py")])[
        "StepIds"
    ][0]
    step = wait_step(emr, cid, sid2, timeout=60)
    assert (
        step["Status"]["State"] == "FAILED"
        and "NoSuchBucket" in step["Status"]["FailureDetails"]["Reason"]
    )
    emr.terminate_job_flows(JobFlowIds=[cid])


def test_step_actions_must_fit_the_concurrency_level(
    aws: Callable[[str], Any], bucket: str
) -> None:
    """StepConfig (EMR API reference): with StepConcurrencyLevel > 1, AddJobFlowSteps with
    CANCEL_AND_WAIT or TERMINATE_CLUSTER is refused and the step not submitted."""

    emr = aws("emr")
    cid = emr.run_job_flow(
        Name="parallel",
        ReleaseLabel="emr-7.12.0",
        Instances={"InstanceCount": 1, "KeepJobFlowAliveWhenNoSteps": True},
        StepConcurrencyLevel=4,
        JobFlowRole="EMR_EC2_DefaultRole",
        ServiceRole="EMR_DefaultRole",
    )["JobFlowId"]
    jar = {"Jar": "command-runner.jar", "Args": ["spark-submit", "--version"]}
    for action in ("CANCEL_AND_WAIT", "TERMINATE_CLUSTER", "TERMINATE_JOB_FLOW"):
        with pytest.raises(ClientError) as e:
            emr.add_job_flow_steps(
                JobFlowId=cid,
                Steps=[{"Name": "s", "ActionOnFailure": action, "HadoopJarStep": jar}],
            )
        assert e.value.response["Error"]["Code"] == "ValidationException"
        assert action in e.value.response["Error"]["Message"]
    assert emr.list_steps(ClusterId=cid)["Steps"] == []
    with pytest.raises(ClientError) as e:
        emr.run_job_flow(
            Name="too-parallel",
            ReleaseLabel="emr-7.12.0",
            Instances={"InstanceCount": 1},
            StepConcurrencyLevel=257,
            JobFlowRole="EMR_EC2_DefaultRole",
            ServiceRole="EMR_DefaultRole",
        )
    assert e.value.response["Error"]["Code"] == "ValidationException"
    emr.terminate_job_flows(JobFlowIds=[cid])

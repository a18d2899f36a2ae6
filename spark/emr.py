"""EMR clusters and Spark steps, described once and run through the EMR API on any profile.

On the embedded profile the emulator's EMR provider runs each step with the local Spark; on
the aws profile the very same calls create a real cluster (roles ``EMR_DefaultRole`` and
``EMR_EC2_DefaultRole`` must exist: ``aws emr create-default-roles``).
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim import clients, profiles

DONE = ("COMPLETED", "FAILED", "CANCELLED", "INTERRUPTED")


class EmrError(RuntimeError):
    """A step failed or a cluster ended badly; the message carries EMR's reason."""


@dataclass
class ClusterSpec:
    """What RunJobFlow needs, with defaults that suit the course (small, self-terminating)."""

    name: str = "bdlab-emr"
    log_uri: str | None = None
    release_label: str = "emr-7.5.0"
    applications: tuple[str, ...] = ("Spark",)
    master_type: str = "m5.xlarge"
    core_type: str = "m5.xlarge"
    core_count: int = 2
    keep_alive: bool = True
    idle_timeout_s: int | None = 3600
    service_role: str = "EMR_DefaultRole"
    job_flow_role: str = "EMR_EC2_DefaultRole"
    step_concurrency: int = 1
    spark_defaults: dict[str, str] = field(
        default_factory=lambda: {
            "spark.sql.session.timeZone": "UTC",
            "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        }
    )
    tags: dict[str, str] = field(default_factory=dict)

    def request(self, profile: profiles.Profile) -> dict[str, Any]:
        tags = dict(self.tags)
        if profile.tag_resources:
            tags.setdefault("bdlab", "true")
        groups = [
            {
                "Name": "Primary",
                "InstanceRole": "MASTER",
                "InstanceType": self.master_type,
                "InstanceCount": 1,
                "Market": "ON_DEMAND",
            }
        ]
        if self.core_count:
            groups.append(
                {
                    "Name": "Core",
                    "InstanceRole": "CORE",
                    "InstanceType": self.core_type,
                    "InstanceCount": self.core_count,
                    "Market": "ON_DEMAND",
                }
            )
        req: dict[str, Any] = {
            "Name": self.name,
            "ReleaseLabel": self.release_label,
            "Applications": [{"Name": a} for a in self.applications],
            "Instances": {
                "InstanceGroups": groups,
                "KeepJobFlowAliveWhenNoSteps": self.keep_alive,
                "TerminationProtected": False,
            },
            "Configurations": [
                {"Classification": "spark-defaults", "Properties": dict(self.spark_defaults)}
            ],
            "ServiceRole": self.service_role,
            "JobFlowRole": self.job_flow_role,
            "VisibleToAllUsers": True,
            "StepConcurrencyLevel": self.step_concurrency,
            "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
        }
        if self.log_uri:
            req["LogUri"] = self.log_uri
        if self.idle_timeout_s and self.keep_alive:
            req["AutoTerminationPolicy"] = {"IdleTimeout": self.idle_timeout_s}
        return req


@dataclass
class SparkStep:
    """``spark-submit`` of a script in S3, as an EMR step (command-runner.jar)."""

    name: str
    script: str  # s3://bucket/key.py
    args: list[str] = field(default_factory=list)
    spark_args: list[str] = field(default_factory=list)
    action_on_failure: str = "CONTINUE"

    def request(self) -> dict[str, Any]:
        if not self.script.startswith("s3://"):
            raise ValueError(
                f"an EMR step runs a script from S3; upload {self.script} first (spark.emr.upload)"
            )
        return {
            "Name": self.name,
            "ActionOnFailure": self.action_on_failure,
            "HadoopJarStep": {
                "Jar": "command-runner.jar",
                "Args": [
                    "spark-submit",
                    "--deploy-mode",
                    "cluster",
                    *self.spark_args,
                    self.script,
                    *self.args,
                ],
            },
        }


def _emr(profile: profiles.Profile | None) -> Any:
    return clients.client("emr", profile)


def upload(local: Path, s3_uri: str, profile: profiles.Profile) -> str:
    """Put a job script into S3 and return its URI."""
    bucket, key = s3_uri.removeprefix("s3://").split("/", 1)
    if key.endswith("/"):
        key += local.name
    clients.client("s3", profile).put_object(Bucket=bucket, Key=key, Body=local.read_bytes())
    return f"s3://{bucket}/{key}"


def create_cluster(spec: ClusterSpec, profile: profiles.Profile) -> str:
    prof = profile
    return str(_emr(prof).run_job_flow(**spec.request(prof))["JobFlowId"])


def submit(cluster_id: str, steps: list[SparkStep], profile: profiles.Profile) -> list[str]:
    resp = _emr(profile).add_job_flow_steps(
        JobFlowId=cluster_id, Steps=[s.request() for s in steps]
    )
    return list(resp["StepIds"])


def describe(cluster_id: str, profile: profiles.Profile) -> dict[str, Any]:
    emr = _emr(profile)
    cluster = emr.describe_cluster(ClusterId=cluster_id)["Cluster"]
    steps = emr.list_steps(ClusterId=cluster_id)["Steps"]
    return {"cluster": cluster, "steps": steps}


def wait_step(
    cluster_id: str,
    step_id: str,
    profile: profiles.Profile,
    timeout: float = 1800,
    poll: float = 1.0,
    on_state: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Poll until the step ends; raise EmrError with EMR's reason if it did not complete."""
    emr = _emr(profile)
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        step = emr.describe_step(ClusterId=cluster_id, StepId=step_id)["Step"]
        state = step["Status"]["State"]
        if state != last and on_state:
            on_state(state)
        last = state
        if state in DONE:
            if state != "COMPLETED":
                fd = step["Status"].get("FailureDetails", {})
                raise EmrError(
                    f"step {step_id} {state}: {fd.get('Reason', 'no reason given')}"
                    + (f" (log: {fd['LogFile']})" if fd.get("LogFile") else "")
                )
            return dict(step)
        if time.monotonic() > deadline:
            raise EmrError(f"step {step_id} still {state} after {timeout:.0f} s")
        time.sleep(poll)


def step_log(cluster_id: str, step_id: str, which: str, profile: profiles.Profile) -> str:
    """A step's stdout/stderr/controller log, read from the cluster's LogUri."""
    cluster = _emr(profile).describe_cluster(ClusterId=cluster_id)["Cluster"]
    log_uri = cluster.get("LogUri")
    if not log_uri:
        raise EmrError(
            f"cluster {cluster_id} has no LogUri: create it with a log_uri to keep step logs"
        )
    bucket, _, prefix = log_uri.removeprefix("s3://").removeprefix("s3n://").partition("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    key = f"{prefix}{cluster_id}/steps/{step_id}/{which}.gz"
    s3 = clients.client("s3", profile)
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey as exc:
        raise EmrError(
            f"no {which} log yet at s3://{bucket}/{key} (EMR writes step logs a "
            "few minutes after the step ends)"
        ) from exc
    return gzip.decompress(body).decode(errors="replace")


def terminate(cluster_id: str, profile: profiles.Profile) -> None:
    _emr(profile).terminate_job_flows(JobFlowIds=[cluster_id])

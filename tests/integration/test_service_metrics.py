"""AWS/S3 and AWS/ElasticMapReduce metrics over HTTP with real boto3 (issue 15, item 4).

The module has its own emulator, so its clock is ours: ``/_bdlab/clock {"advance": N}``
answers once the S3 and EMR metrics of the skipped span are in CloudWatch and the alarms due
are evaluated, so nothing waits for emulator time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sim import clients, profiles
from sim.admin import Admin
from tests.integration.test_emr import cluster, wait_step

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def prof(private_profile: profiles.Profile) -> profiles.Profile:
    return private_profile


@pytest.fixture()
def admin(prof: profiles.Profile) -> Admin:
    return Admin.of(prof)


@pytest.fixture()
def cw(prof: profiles.Profile) -> Any:
    return clients.client("cloudwatch", prof, retries=False)


@pytest.fixture()
def s3(prof: profiles.Profile) -> Any:
    return clients.client("s3", prof, retries=False)


@pytest.fixture()
def mbucket(s3: Any, unique: Callable[[str], str]) -> Iterator[str]:
    name = unique("metrics")
    s3.create_bucket(Bucket=name)
    yield name
    keys = [{"Key": o["Key"]} for o in s3.list_objects_v2(Bucket=name).get("Contents", [])]
    if keys:
        s3.delete_objects(Bucket=name, Delete={"Objects": keys})
    s3.delete_bucket(Bucket=name)


def stats(
    cw: Any,
    ns: str,
    name: str,
    dims: dict[str, str],
    start: float,
    end: float,
    period: int = 60,
    stat: str = "Sum",
) -> list[dict[str, Any]]:
    got = cw.get_metric_statistics(
        Namespace=ns,
        MetricName=name,
        Dimensions=[{"Name": k, "Value": v} for k, v in dims.items()],
        StartTime=datetime.fromtimestamp(start, UTC),
        EndTime=datetime.fromtimestamp(end, UTC),
        Period=period,
        Statistics=[stat, "SampleCount"],
    )["Datapoints"]
    return sorted(got, key=lambda d: d["Timestamp"])


def total(points: list[dict[str, Any]], stat: str = "Sum") -> float:
    return sum(float(p[stat]) for p in points)


def test_metrics_configuration_api(s3: Any, mbucket: str) -> None:
    """Put/Get/List/Delete with S3's shapes; validation before anything is stored."""
    s3.put_bucket_metrics_configuration(
        Bucket=mbucket,
        Id="logs",
        MetricsConfiguration={"Id": "logs", "Filter": {"Prefix": "logs/"}},
    )
    both = {"And": {"Prefix": "raw/", "Tags": [{"Key": "team", "Value": "etl"}]}}
    s3.put_bucket_metrics_configuration(
        Bucket=mbucket, Id="raw-etl", MetricsConfiguration={"Id": "raw-etl", "Filter": both}
    )
    s3.put_bucket_metrics_configuration(
        Bucket=mbucket, Id="EntireBucket", MetricsConfiguration={"Id": "EntireBucket"}
    )
    got = s3.get_bucket_metrics_configuration(Bucket=mbucket, Id="raw-etl")
    assert got["MetricsConfiguration"] == {"Id": "raw-etl", "Filter": both}
    listed = s3.list_bucket_metrics_configurations(Bucket=mbucket)
    assert listed["IsTruncated"] is False
    assert [c["Id"] for c in listed["MetricsConfigurationList"]] == [
        "EntireBucket",
        "logs",
        "raw-etl",
    ]
    assert listed["MetricsConfigurationList"][1]["Filter"] == {"Prefix": "logs/"}

    def code(call: Callable[[], Any]) -> tuple[str, int]:
        with pytest.raises(ClientError) as exc:
            call()
        err = exc.value.response
        return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]

    assert code(lambda: s3.get_bucket_metrics_configuration(Bucket=mbucket, Id="nope")) == (
        "NoSuchConfiguration",
        404,
    )
    mismatch = {"Id": "other", "Filter": {"Prefix": "x/"}}
    assert code(
        lambda: s3.put_bucket_metrics_configuration(
            Bucket=mbucket, Id="one", MetricsConfiguration=mismatch
        )
    ) == ("InvalidArgument", 400)
    assert code(
        lambda: s3.put_bucket_metrics_configuration(
            Bucket=mbucket, Id="bad id!", MetricsConfiguration={"Id": "bad id!"}
        )
    ) == ("InvalidArgument", 400)
    two = {"Prefix": "a/", "Tag": {"Key": "k", "Value": "v"}}  # two predicates need And
    assert code(
        lambda: s3.put_bucket_metrics_configuration(
            Bucket=mbucket, Id="two", MetricsConfiguration={"Id": "two", "Filter": two}
        )
    ) == ("MalformedXML", 400)
    s3.delete_bucket_metrics_configuration(Bucket=mbucket, Id="raw-etl")
    assert code(lambda: s3.delete_bucket_metrics_configuration(Bucket=mbucket, Id="raw-etl")) == (
        "NoSuchConfiguration",
        404,
    )
    listed = s3.list_bucket_metrics_configurations(Bucket=mbucket)
    assert [c["Id"] for c in listed["MetricsConfigurationList"]] == ["EntireBucket", "logs"]


def test_request_metrics_count_only_requests_in_the_filter(
    s3: Any, cw: Any, admin: Admin, mbucket: str
) -> None:
    s3.put_bucket_metrics_configuration(
        Bucket=mbucket,
        Id="logs",
        MetricsConfiguration={"Id": "logs", "Filter": {"Prefix": "logs/"}},
    )
    s3.put_bucket_metrics_configuration(
        Bucket=mbucket, Id="EntireBucket", MetricsConfiguration={"Id": "EntireBucket"}
    )
    t0 = admin.clock()["now"]
    for i, body in enumerate((b"a" * 100, b"b" * 200, b"c" * 300)):
        s3.put_object(Bucket=mbucket, Key=f"logs/{i}.txt", Body=body)
    s3.put_object(Bucket=mbucket, Key="other/x.txt", Body=b"z" * 1000)  # outside the prefix
    assert s3.get_object(Bucket=mbucket, Key="logs/1.txt")["Body"].read() == b"b" * 200
    s3.get_object(Bucket=mbucket, Key="other/x.txt")["Body"].read()
    with pytest.raises(ClientError):
        s3.get_object(Bucket=mbucket, Key="logs/missing.txt")
    s3.head_object(Bucket=mbucket, Key="logs/0.txt")
    s3.delete_object(Bucket=mbucket, Key="logs/2.txt")
    s3.list_objects_v2(Bucket=mbucket, Prefix="logs/")
    admin.set_clock(advance=60)  # answers once the minute's metrics are in CloudWatch
    end = admin.clock()["now"] + 60
    start = math.floor(t0 / 60) * 60 - 60

    def logs(name: str, stat: str = "Sum") -> list[dict[str, Any]]:
        dims = {"BucketName": mbucket, "FilterId": "logs"}
        return stats(cw, "AWS/S3", name, dims, start, end, stat=stat)

    def whole(name: str) -> float:
        dims = {"BucketName": mbucket, "FilterId": "EntireBucket"}
        return total(stats(cw, "AWS/S3", name, dims, start, end))

    # in the prefix: 3 PUTs, 2 GETs (one 404), a HEAD and a DELETE; the list is bucket-level
    assert total(logs("AllRequests")) == 7
    assert total(logs("PutRequests")) == 3
    assert total(logs("GetRequests")) == 2
    assert total(logs("HeadRequests")) == 1
    assert total(logs("DeleteRequests")) == 1
    assert logs("ListRequests") == []
    assert total(logs("BytesUploaded")) == 600
    assert total(logs("BytesDownloaded")) == 200
    # 4xxErrors is 0 or 1 per request, so Sum / SampleCount is the error rate
    assert total(logs("4xxErrors")) == 1 and total(logs("4xxErrors"), "SampleCount") == 7
    assert total(logs("5xxErrors")) == 0
    latency = logs("TotalRequestLatency", "Maximum")
    assert total(latency, "SampleCount") == 7 and all(p["Unit"] == "Milliseconds" for p in latency)
    assert total(logs("FirstByteLatency"), "SampleCount") == 7
    # the whole bucket also sees the object outside the prefix and the list
    assert whole("PutRequests") == 4 and whole("ListRequests") == 1
    # downloaded: the two objects' 1,200 bytes and the list's XML (a GET with a body)
    assert whole("BytesUploaded") == 1600 and whole("BytesDownloaded") > 1200
    listed = cw.list_metrics(Namespace="AWS/S3", Dimensions=[{"Name": "FilterId", "Value": "logs"}])
    names = {m["MetricName"] for m in listed["Metrics"] if m["Dimensions"][0]["Value"] == mbucket}
    assert {"AllRequests", "4xxErrors", "FirstByteLatency", "BytesUploaded"} <= names


def test_injected_s3_outage_shows_as_5xx_errors(
    s3: Any, cw: Any, admin: Admin, mbucket: str
) -> None:
    """The fault layer's errors count like the provider's (lab 3.2.6's S3 outage)."""
    s3.put_bucket_metrics_configuration(
        Bucket=mbucket, Id="all", MetricsConfiguration={"Id": "all"}
    )
    t0 = admin.clock()["now"]
    admin.set_faults("s3", error_rate=1.0)
    try:
        for _ in range(3):
            with pytest.raises(ClientError):
                s3.put_object(Bucket=mbucket, Key="k", Body=b"x")
    finally:
        admin.set_faults("s3", error_rate=0.0)
    s3.put_object(Bucket=mbucket, Key="k", Body=b"x")
    admin.set_clock(advance=60)
    dims = {"BucketName": mbucket, "FilterId": "all"}
    start, end = math.floor(t0 / 60) * 60 - 60, admin.clock()["now"] + 60
    # botocore's S3 client may send a refused PUT twice even with one attempt configured:
    # every request but the last failed
    errors = stats(cw, "AWS/S3", "5xxErrors", dims, start, end)
    assert total(errors) >= 3 and total(errors, "SampleCount") == total(errors) + 1
    puts = total(stats(cw, "AWS/S3", "PutRequests", dims, start, end))
    assert puts == total(errors) + 1


def test_daily_storage_metrics_for_every_bucket(
    s3: Any, cw: Any, admin: Admin, mbucket: str
) -> None:
    """No configuration needed; one datapoint per day at 00:00 UTC on the emulator clock."""
    s3.put_object(Bucket=mbucket, Key="a", Body=b"x" * 10)
    s3.put_object(Bucket=mbucket, Key="b", Body=b"y" * 20)
    s3.put_object(Bucket=mbucket, Key="c", Body=b"z" * 5, StorageClass="STANDARD_IA")
    now = admin.clock()["now"]
    midnight = now - now % 86_400 + 86_400
    admin.set_clock(advance=midnight - now + 30)

    def daily(name: str, stype: str) -> list[dict[str, Any]]:
        dims = {"BucketName": mbucket, "StorageType": stype}
        return stats(cw, "AWS/S3", name, dims, midnight, midnight + 86_400, 86_400, "Average")

    (std,) = daily("BucketSizeBytes", "StandardStorage")
    assert (std["Average"], std["Unit"]) == (30.0, "Bytes")
    assert daily("BucketSizeBytes", "StandardIAStorage")[0]["Average"] == 5.0
    assert daily("NumberOfObjects", "AllStorageTypes")[0]["Average"] == 3.0


def test_failed_emr_step_shows_in_apps_failed_and_fires_an_alarm(
    prof: profiles.Profile, cw: Any, admin: Admin, mbucket: str, unique: Callable[[str], str]
) -> None:
    """The cheapest failing step (a command bdlab refuses) -> AppsFailed 1 at the next
    5-minute boundary -> an alarm on it goes to ALARM (lab 3.2.5's EMR step failure alarm)."""
    emr = clients.client("emr", prof)
    cid = cluster(emr, mbucket)
    name = unique("emr-step-failed")
    cw.put_metric_alarm(
        AlarmName=name,
        Namespace="AWS/ElasticMapReduce",
        MetricName="AppsFailed",
        Dimensions=[{"Name": "JobFlowId", "Value": cid}],
        Statistic="Maximum",
        Period=300,
        EvaluationPeriods=1,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
    )
    step = {
        "Name": "hive",
        "ActionOnFailure": "CONTINUE",
        "HadoopJarStep": {"Jar": "command-runner.jar", "Args": ["hive-script", "--run"]},
    }
    sid = emr.add_job_flow_steps(JobFlowId=cid, Steps=[step])["StepIds"][0]
    assert wait_step(emr, cid, sid, timeout=60)["Status"]["State"] == "FAILED"
    t0 = admin.clock()["now"]
    admin.set_clock(advance=300)  # the next boundary's datapoint carries the failure
    admin.set_clock(advance=60)  # the alarm's 5-minute window now ends after it
    dims = {"JobFlowId": cid}
    start, end = t0 - 600, admin.clock()["now"] + 60
    failed = stats(cw, "AWS/ElasticMapReduce", "AppsFailed", dims, start, end, 300, "Maximum")
    assert failed and failed[-1]["Maximum"] == 1.0
    idle = stats(cw, "AWS/ElasticMapReduce", "IsIdle", dims, start, end, 300, "Maximum")
    assert idle[-1]["Maximum"] == 1.0  # WAITING after the failed step (CONTINUE)
    deadline = time.monotonic() + 10
    while True:
        (alarm,) = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"]
        if alarm["StateValue"] == "ALARM" or time.monotonic() > deadline:
            break
        admin.set_clock(advance=60)
    assert alarm["StateValue"] == "ALARM", alarm["StateReason"]
    emr.terminate_job_flows(JobFlowIds=[cid])

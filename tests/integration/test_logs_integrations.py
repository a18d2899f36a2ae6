"""CloudWatch Logs across services, over HTTP with real boto3, all through bdlab's own
providers: metric filters publishing into bdlab's CloudWatch (values, extracted values and
dimensions, the default value), subscription filters delivering AWS's gzip'd subscription
messages to bdlab's Kinesis and Firehose, export tasks writing into bdlab's S3, and log
events surviving a kill -9."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sim import clients, profiles
from sim.admin import Admin
from tests.integration.test_firehose import Spawned

pytestmark = pytest.mark.integration
ROLE = "arn:aws:iam::123456789012:role/cwl-to-stream"


@pytest.fixture()
def aws_(private_profile: profiles.Profile) -> Callable[[str], Any]:
    """Clients on this module's own emulator (its clock is advanced here)."""
    return lambda service: clients.client(service, private_profile, retries=False)


@pytest.fixture()
def admin(private_profile: profiles.Profile) -> Admin:
    return Admin.of(private_profile)


@pytest.fixture()
def group(aws_: Callable[[str], Any], unique: Callable[[str], str]) -> Iterator[str]:
    logs = aws_("logs")
    name = f"/bdlab/x/{unique('g')}"
    logs.create_log_group(logGroupName=name)
    logs.create_log_stream(logGroupName=name, logStreamName="app-1")
    yield name
    logs.delete_log_group(logGroupName=name)


def minute_start(admin: Admin, minutes_ago: int) -> int:
    """ms at the start of the emulator minute ``minutes_ago`` minutes back."""
    now = int(admin.clock()["now"])
    return (now // 60 - minutes_ago) * 60_000


def put(logs: Any, group: str, events: list[tuple[int, str]], stream: str = "app-1") -> None:
    out = logs.put_log_events(
        logGroupName=group,
        logStreamName=stream,
        logEvents=[{"timestamp": t, "message": m} for t, m in events],
    )
    assert "rejectedLogEventsInfo" not in out


def error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    err = exc.value.response["Error"]
    return err["Code"], err["Message"]


# ---------------------------------------------------------------- metric filters
def test_metric_filters_publish_values_dimensions_and_the_default(
    aws_: Callable[[str], Any], admin: Admin, group: str, unique: Callable[[str], str]
) -> None:
    logs, cw = aws_("logs"), aws_("cloudwatch")
    ns = unique("bdlab/logs")
    logs.put_metric_filter(
        logGroupName=group,
        filterName="errors",
        filterPattern="ERROR",
        metricTransformations=[
            {"metricName": "Errors", "metricNamespace": ns, "metricValue": "1", "defaultValue": 0}
        ],
    )
    logs.put_metric_filter(
        logGroupName=group,
        filterName="latency",
        filterPattern="{ $.latency = * }",
        metricTransformations=[
            {
                "metricName": "Latency",
                "metricNamespace": ns,
                "metricValue": "$.latency",
                "dimensions": {"Path": "$.path"},
                "unit": "Milliseconds",
            }
        ],
    )
    a, b = minute_start(admin, 10), minute_start(admin, 9)
    put(
        logs,
        group,
        [
            (a + 1_000, "ERROR disk full"),
            (a + 2_000, json.dumps({"latency": 120, "path": "/a"})),
            (a + 3_000, "INFO ok"),
            (a + 4_000, json.dumps({"latency": 80, "path": "/a"})),
            (a + 5_000, "ERROR again"),
            (a + 6_000, json.dumps({"latency": 5, "path": "/b"})),
            (b + 1_000, "INFO nothing wrong this minute"),
        ],
    )

    def stats(name: str, unit: str | None = None, **dims: str) -> dict[int, dict[str, Any]]:
        out = cw.get_metric_statistics(
            Namespace=ns,
            MetricName=name,
            Dimensions=[{"Name": k, "Value": v} for k, v in dims.items()],
            StartTime=a / 1000,
            EndTime=b / 1000 + 60,
            Period=60,
            Statistics=["Sum", "SampleCount", "Maximum"],
            **({"Unit": unit} if unit else {}),
        )
        return {int(d["Timestamp"].timestamp() * 1000): d for d in out["Datapoints"]}

    errors = stats("Errors")
    # minute a: two matches; minute b: logs but no match -> the default value, once
    assert (errors[a]["Sum"], errors[a]["SampleCount"]) == (2.0, 2.0)
    assert (errors[b]["Sum"], errors[b]["SampleCount"]) == (0.0, 1.0)
    path_a = stats("Latency", "Milliseconds", Path="/a")
    assert (path_a[a]["Sum"], path_a[a]["Maximum"], path_a[a]["Unit"]) == (
        200.0,
        120.0,
        "Milliseconds",
    )
    assert stats("Latency", Path="/b")[a]["Sum"] == 5.0
    assert stats("Latency") == {}  # only the dimensioned metrics exist
    # a later match in minute b adds to the default already published, no second default
    put(logs, group, [(b + 2_000, "ERROR late"), (b + 3_000, "INFO")])
    errors = stats("Errors")
    assert (errors[b]["Sum"], errors[b]["SampleCount"]) == (1.0, 2.0)
    listed = cw.list_metrics(Namespace=ns)["Metrics"]
    assert sorted((m["MetricName"], str(m["Dimensions"])) for m in listed) == [
        ("Errors", "[]"),
        ("Latency", "[{'Name': 'Path', 'Value': '/a'}]"),
        ("Latency", "[{'Name': 'Path', 'Value': '/b'}]"),
    ]


def test_metric_filter_validation_and_quota(aws_: Callable[[str], Any], group: str) -> None:
    logs = aws_("logs")

    def put_filter(name: str, **t: Any) -> None:
        logs.put_metric_filter(
            logGroupName=group,
            filterName=name,
            filterPattern="{ $.latency = * }",
            metricTransformations=[
                {"metricName": "m", "metricNamespace": "bdlab/q", "metricValue": "1", **t}
            ],
        )

    with pytest.raises(ClientError) as exc:
        put_filter("f", dimensions={"Path": "$.path"}, defaultValue=0)
    assert error(exc) == (
        "InvalidParameterException",
        "Invalid metric transformation: dimensions and default value are mutually exclusive "
        "properties",
    )
    dims = {f"D{i}": "$.path" for i in range(4)}
    with pytest.raises(ClientError) as exc:
        put_filter("f", dimensions=dims)
    assert error(exc)[0] == "InvalidParameterException"
    for i in range(100):
        put_filter(f"f{i}")
    put_filter("f0", metricValue="2")  # an update, not a 101st filter
    with pytest.raises(ClientError) as exc:
        put_filter("f100")
    assert error(exc) == ("LimitExceededException", "Resource limit exceeded.")
    stored = logs.describe_metric_filters(logGroupName=group, filterNamePrefix="f0")
    assert [
        t["metricValue"] for f in stored["metricFilters"] for t in f["metricTransformations"]
    ] == ["2"]


# ---------------------------------------------------------------- subscriptions
def read_all(kinesis: Any, stream: str) -> list[dict[str, Any]]:
    shard = kinesis.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
    it = kinesis.get_shard_iterator(
        StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    out = kinesis.get_records(ShardIterator=it, Limit=1000)["Records"]
    return [{"key": r["PartitionKey"], **json.loads(gzip.decompress(r["Data"]))} for r in out]


def test_subscription_to_kinesis_delivers_aws_messages(
    aws_: Callable[[str], Any], admin: Admin, group: str, unique: Callable[[str], str]
) -> None:
    logs, kinesis = aws_("logs"), aws_("kinesis")
    stream = unique("cwl")
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    arn = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"][
        "StreamARN"
    ]
    sub = {"logGroupName": group, "filterName": "errors", "filterPattern": "ERROR"}
    with pytest.raises(ClientError) as exc:  # a role is needed for a stream
        logs.put_subscription_filter(**sub, destinationArn=arn)
    assert error(exc)[0] == "InvalidParameterException"
    with pytest.raises(ClientError) as exc:
        logs.put_subscription_filter(**sub, destinationArn=arn + "-nope", roleArn=ROLE)
    assert error(exc) == (
        "InvalidParameterException",
        "Could not deliver test message to specified Kinesis stream. Check if the given "
        "kinesis stream is in ACTIVE state.",
    )
    logs.put_subscription_filter(**sub, destinationArn=arn, roleArn=ROLE)
    (control,) = read_all(kinesis, stream)
    assert control["messageType"] == "CONTROL_MESSAGE"
    assert control["logEvents"][0]["message"].startswith("CWL CONTROL MESSAGE")

    t = minute_start(admin, 3)
    put(logs, group, [(t, "ERROR one"), (t + 1, "INFO skip"), (t + 2, "ERROR two")])
    _, data = read_all(kinesis, stream)
    account = aws_("sts").get_caller_identity()["Account"]
    assert {k: data[k] for k in ("messageType", "owner", "logGroup", "logStream")} == {
        "messageType": "DATA_MESSAGE",
        "owner": account,
        "logGroup": group,
        "logStream": "app-1",
    }
    assert data["subscriptionFilters"] == ["errors"]
    assert [(e["timestamp"], e["message"]) for e in data["logEvents"]] == [
        (t, "ERROR one"),
        (t + 2, "ERROR two"),
    ]
    assert all(e["id"] for e in data["logEvents"])
    described = logs.describe_subscription_filters(logGroupName=group)["subscriptionFilters"]
    assert [(f["filterName"], f["destinationArn"]) for f in described] == [("errors", arn)]
    # two filters a group; updating one of them is no third
    logs.put_subscription_filter(
        logGroupName=group, filterName="all", filterPattern="", destinationArn=arn, roleArn=ROLE
    )
    logs.put_subscription_filter(
        **{**sub, "filterPattern": "WARN"}, destinationArn=arn, roleArn=ROLE
    )
    with pytest.raises(ClientError) as exc:
        logs.put_subscription_filter(
            logGroupName=group,
            filterName="third",
            filterPattern="",
            destinationArn=arn,
            roleArn=ROLE,
        )
    assert error(exc) == ("LimitExceededException", "Resource limit exceeded.")
    with pytest.raises(ClientError) as exc:
        logs.put_subscription_filter(
            logGroupName=group,
            filterName="all",
            filterPattern="",
            destinationArn="arn:aws:lambda:us-east-1:123456789012:function:f",
        )
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501


def test_subscription_to_firehose_lands_in_bdlab_s3(
    aws_: Callable[[str], Any], admin: Admin, group: str, unique: Callable[[str], str]
) -> None:
    logs, fh, s3 = aws_("logs"), aws_("firehose"), aws_("s3")
    bucket, name = unique("cwl-lake"), unique("cwl-fh")
    s3.create_bucket(Bucket=bucket)
    arn = fh.create_delivery_stream(
        DeliveryStreamName=name,
        ExtendedS3DestinationConfiguration={
            "RoleARN": ROLE,
            "BucketARN": f"arn:aws:s3:::{bucket}",
            "Prefix": "cwl/",
            "BufferingHints": {"SizeInMBs": 5, "IntervalInSeconds": 300},
        },
    )["DeliveryStreamARN"]
    logs.put_subscription_filter(
        logGroupName=group,
        filterName="json",
        filterPattern='{ $.level = "error" }',
        destinationArn=arn,
        roleArn=ROLE,
    )
    t = minute_start(admin, 2)
    put(
        logs,
        group,
        [
            (t, json.dumps({"level": "error", "n": 1})),
            (t + 1, json.dumps({"level": "info", "n": 2})),
        ],
    )
    assert admin.flush_firehose(name)["Pending"] == 0
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert len(keys) == 1 and keys[0].startswith("cwl/")
    # Firehose concatenates the records: each is a gzip member holding one JSON document
    text = gzip.decompress(s3.get_object(Bucket=bucket, Key=keys[0])["Body"].read()).decode()
    docs, i, dec = [], 0, json.JSONDecoder()
    while i < len(text):
        doc, i = dec.raw_decode(text, i)
        docs.append(doc)
    assert [d["messageType"] for d in docs] == ["CONTROL_MESSAGE", "DATA_MESSAGE"]
    assert docs[0]["logEvents"][0]["message"] == (
        "CWL CONTROL MESSAGE: Checking health of destination Firehose."
    )
    assert [json.loads(e["message"])["n"] for e in docs[1]["logEvents"]] == [1]


# ---------------------------------------------------------------- export tasks
def test_export_task_writes_aws_layout_into_bdlab_s3(
    aws_: Callable[[str], Any], admin: Admin, group: str, unique: Callable[[str], str]
) -> None:
    logs, s3 = aws_("logs"), aws_("s3")
    bucket = unique("cwl-export")
    logs.create_log_stream(logGroupName=group, logStreamName="app-2")
    t = minute_start(admin, 5)
    put(logs, group, [(t, "before"), (t + 1_000, "first"), (t + 1_500, "second")])
    put(logs, group, [(t + 2_000, "other stream"), (t + 9_000, "after")], stream="app-2")
    task = {"logGroupName": group, "fromTime": t + 1_000, "to": t + 2_000}
    with pytest.raises(ClientError) as exc:  # the bucket must exist in bdlab's S3
        logs.create_export_task(**task, destination=bucket)
    assert error(exc) == (
        "InvalidParameterException",
        "The given bucket does not exist. Please make sure the bucket is valid.",
    )
    s3.create_bucket(Bucket=bucket)
    task_id = logs.create_export_task(**task, destination=bucket, destinationPrefix="exp")["taskId"]
    (desc,) = logs.describe_export_tasks(taskId=task_id)["exportTasks"]
    assert desc["status"]["code"] == "PENDING"
    assert (desc["from"], desc["to"], desc["destinationPrefix"]) == (t + 1_000, t + 2_000, "exp")
    with pytest.raises(ClientError) as exc:  # one active task per account
        logs.create_export_task(**task, destination=bucket)
    assert error(exc)[0] == "LimitExceededException"
    admin.set_clock(advance=2)
    (desc,) = logs.describe_export_tasks(taskId=task_id)["exportTasks"]
    assert desc["status"]["code"] == "COMPLETED"
    assert desc["executionInfo"]["completionTime"] >= desc["executionInfo"]["creationTime"]
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="exp/")["Contents"])
    assert keys == sorted(
        [
            f"exp/{task_id}/app-1/000000.gz",
            f"exp/{task_id}/app-2/000000.gz",
            "exp/aws-logs-write-test",
        ]
    )

    def lines(key: str) -> list[str]:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        return gzip.decompress(body).decode().splitlines()

    first = lines(f"exp/{task_id}/app-1/000000.gz")
    assert [line.split(" ", 1)[1] for line in first] == ["first", "second"]
    assert first[0].split(" ")[0].endswith(".000Z") and first[1].split(" ")[0].endswith(".500Z")
    assert [line.split(" ", 1)[1] for line in lines(f"exp/{task_id}/app-2/000000.gz")] == [
        "other stream"
    ]
    with pytest.raises(ClientError) as exc:
        logs.cancel_export_task(taskId=task_id)
    assert error(exc)[0] == "InvalidOperationException"
    # a pending task can be cancelled; it then writes nothing
    other = logs.create_export_task(**task, destination=bucket, destinationPrefix="cancelled")
    logs.cancel_export_task(taskId=other["taskId"])
    admin.set_clock(advance=2)
    (desc,) = logs.describe_export_tasks(taskId=other["taskId"])["exportTasks"]
    assert desc["status"]["code"] == "CANCELLED"
    left = s3.list_objects_v2(Bucket=bucket, Prefix=f"cancelled/{other['taskId']}")
    assert left.get("Contents", []) == []
    codes = logs.describe_export_tasks(statusCode="COMPLETED")["exportTasks"]
    assert task_id in [d["taskId"] for d in codes]


# ---------------------------------------------------------------- durability
def test_log_events_and_filters_survive_kill_9(tmp_path: Path) -> None:
    emu = Spawned(tmp_path / "state").start()
    try:
        logs = clients.client("logs", emu.profile, retries=False)
        kinesis = clients.client("kinesis", emu.profile, retries=False)
        kinesis.create_stream(StreamName="cwl", ShardCount=1)
        arn = kinesis.describe_stream_summary(StreamName="cwl")["StreamDescriptionSummary"][
            "StreamARN"
        ]
        logs.create_log_group(logGroupName="g")
        logs.create_log_stream(logGroupName="g", logStreamName="s")
        logs.put_subscription_filter(
            logGroupName="g", filterName="all", filterPattern="", destinationArn=arn, roleArn=ROLE
        )
        t = minute_start(emu.admin, 5)
        acked = []
        for batch in range(4):
            events = [(t + batch * 100 + i, f"event {batch}-{i}") for i in range(50)]
            put(logs, "g", events, stream="s")
            acked += [m for _, m in events]
        emu.kill_9()  # every batch was acknowledged
        emu.start()
        logs = clients.client("logs", emu.profile, retries=False)
        got = logs.get_log_events(logGroupName="g", logStreamName="s", startFromHead=True)
        assert [e["message"] for e in got["events"]] == acked
        # the subscription was replayed too, and still delivers to bdlab's Kinesis
        put(logs, "g", [(t + 1_000, "after the restart")], stream="s")
        kinesis = clients.client("kinesis", emu.profile, retries=False)
        found = read_all(kinesis, "cwl")
        assert [d["messageType"] for d in found] == ["CONTROL_MESSAGE"] + ["DATA_MESSAGE"] * 5
        assert found[-1]["logEvents"][0]["message"] == "after the restart"
    finally:
        emu.stop()


# ---------------------------------------------------------------- the emulator clock
def test_put_log_events_window_follows_the_emulator_clock(
    aws_: Callable[[str], Any], admin: Admin, group: str
) -> None:
    """After a 3-hour fast-forward, events stamped with the emulator's time are accepted (moto
    judged them by the wall clock: "too new"); 14 days back on the emulator clock is too old,
    and so is anything older than the group's retention."""
    logs = aws_("logs")
    admin.set_clock(advance=3 * 3600)
    now_ms = int(admin.clock()["now"] * 1000)
    put(logs, group, [(now_ms - 1000, "in the window")])
    out = logs.put_log_events(
        logGroupName=group,
        logStreamName="app-1",
        logEvents=[
            {"timestamp": now_ms - 15 * 86_400_000, "message": "too old"},
            {"timestamp": now_ms, "message": "kept"},
            {"timestamp": now_ms + 3 * 3_600_000, "message": "too new"},
        ],
    )
    assert out["rejectedLogEventsInfo"] == {
        "tooOldLogEventEndIndex": 0,
        "tooNewLogEventStartIndex": 2,
    }
    logs.put_retention_policy(logGroupName=group, retentionInDays=1)
    out = logs.put_log_events(
        logGroupName=group,
        logStreamName="app-1",
        logEvents=[{"timestamp": now_ms - 2 * 86_400_000, "message": "past retention"}],
    )
    assert out["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 0}
    got = [
        e["message"]
        for e in logs.get_log_events(logGroupName=group, logStreamName="app-1")["events"]
    ]
    assert got == ["in the window", "kept"]

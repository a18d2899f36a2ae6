"""bdlab's own Kinesis provider over HTTP with real boto3 (issue 13). These tests run their own
emulator so that the clock they advance is theirs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sim import clients, profiles
from sim.admin import Admin
from tests.conftest import free_port, settings_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def kprofile(private_profile: profiles.Profile) -> profiles.Profile:
    return private_profile


@pytest.fixture()
def kin(kprofile: profiles.Profile) -> Any:
    return clients.client("kinesis", kprofile, retries=False)


@pytest.fixture()
def stream(kin: Any, unique: Any) -> Iterator[str]:
    name = unique("st")
    kin.create_stream(StreamName=name, ShardCount=2)
    yield name
    kin.delete_stream(StreamName=name)


def read_all(kin: Any, name: str) -> list[dict[str, Any]]:
    out = []
    for shard in kin.list_shards(StreamName=name)["Shards"]:
        it = kin.get_shard_iterator(
            StreamName=name, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while True:
            r = kin.get_records(ShardIterator=it, Limit=10_000)
            out += r["Records"]
            if not r["Records"] or r["MillisBehindLatest"] == 0:
                break
            it = r["NextShardIterator"]
    return out


def test_put_and_read_back_as_aws_shapes_them(kin: Any, stream: str) -> None:
    one = kin.put_record(StreamName=stream, Data=b"hello", PartitionKey="u1")
    assert len(one["SequenceNumber"]) == 56 and one["ShardId"].startswith("shardId-0000000000")
    batch = kin.put_records(
        StreamName=stream,
        Records=[{"Data": f"e{i}".encode(), "PartitionKey": f"u{i % 5}"} for i in range(200)],
    )
    assert batch["FailedRecordCount"] == 0 and len(batch["Records"]) == 200
    got = read_all(kin, stream)
    assert sorted(r["Data"] for r in got) == sorted(
        [b"hello"] + [f"e{i}".encode() for i in range(200)]
    )
    assert all(r["ApproximateArrivalTimestamp"].year >= 2026 for r in got)
    summary = kin.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]
    assert summary["OpenShardCount"] == 2 and summary["StreamARN"].endswith(f"stream/{stream}")
    desc = kin.describe_stream(StreamName=stream)["StreamDescription"]
    assert desc["StreamStatus"] == "ACTIVE" and len(desc["Shards"]) == 2
    assert stream in kin.list_streams()["StreamNames"]
    kin.add_tags_to_stream(StreamName=stream, Tags={"team": "data"})
    assert kin.list_tags_for_stream(StreamName=stream)["Tags"] == [{"Key": "team", "Value": "data"}]
    kin.get_waiter("stream_exists").wait(StreamName=stream)


def test_throttling_is_per_record_inside_a_200(kin: Any, stream: str) -> None:
    recs = [{"Data": b"x", "PartitionKey": "hot"} for _ in range(500)]
    results = [kin.put_records(StreamName=stream, Records=recs) for _ in range(3)]
    failed = sum(r["FailedRecordCount"] for r in results)
    assert failed >= 400  # one shard takes 1,000 records a second
    errors = {e["ErrorCode"] for r in results for e in r["Records"] if "ErrorCode" in e}
    assert errors == {"ProvisionedThroughputExceededException"}
    acked = sum(1 for r in results for e in r["Records"] if "SequenceNumber" in e)
    assert len(read_all(kin, stream)) == acked  # nothing acknowledged is missing


def test_errors_as_aws_answers_them(kin: Any, stream: str, kprofile: Any) -> None:
    arn = kin.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamARN"]
    cases = [
        (
            lambda: kin.describe_stream_summary(StreamName="nope-stream"),
            "ResourceNotFoundException",
        ),
        (lambda: kin.create_stream(StreamName=stream, ShardCount=1), "ResourceInUseException"),
        (
            lambda: kin.put_record(StreamName=stream, Data=b"x" * (1024 * 1024), PartitionKey="k"),
            "InvalidArgumentException",
        ),
        (lambda: kin.get_records(ShardIterator="not-an-iterator"), "InvalidArgumentException"),
        (
            lambda: kin.increase_stream_retention_period(
                StreamName=stream, RetentionPeriodHours=9000
            ),
            "InvalidArgumentException",
        ),
    ]
    for call, code in cases:
        with pytest.raises(ClientError) as e:
            call()
        assert e.value.response["Error"]["Code"] == code
    with pytest.raises(ClientError) as e:  # not implemented yet: 501, never silently ignored
        kin.get_resource_policy(ResourceARN=arn)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501
    # Iterators expire after 5 minutes of the emulator clock.
    shard = kin.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
    it = kin.get_shard_iterator(StreamName=stream, ShardId=shard, ShardIteratorType="LATEST")[
        "ShardIterator"
    ]
    Admin.of(kprofile).set_clock(advance=301)
    with pytest.raises(ClientError) as e:
        kin.get_records(ShardIterator=it)
    assert e.value.response["Error"]["Code"] == "ExpiredIteratorException"


def test_kill_9_during_puts_loses_nothing_acknowledged(tmp_path: Path) -> None:
    """A separate emulator process, killed with -9 in the middle of a put loop: every record
    it answered 200 for is there after a restart."""
    state, port = tmp_path / "state", free_port()
    code = (
        "import sys; from pathlib import Path; from sim.emulator.server import EmulatorConfig;"
        "from sim.emulator.gateway import Gateway; import uvicorn;"
        "from sim.emulator.server import bind, _config;"
        f"sock = bind('127.0.0.1', {port});"
        f"gw = Gateway(Path({str(state)!r}), {port});"
        "uvicorn.Server(_config(gw, 'warning')).run(sockets=[sock])"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}

    def start() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([sys.executable, "-c", code], env=env)
        for _ in range(300):
            try:
                Admin(f"http://127.0.0.1:{port}", timeout=0.5).health()
                return proc
            except Exception:
                time.sleep(0.05)
        proc.kill()
        raise AssertionError("emulator did not start")

    settings = settings_for(state, port=port)
    prof = profiles.resolve(settings, "embedded")
    proc = start()
    kin = clients.client("kinesis", prof, retries=False)
    kin.create_stream(StreamName="crash", ShardCount=1)
    acked: list[str] = []
    try:
        for i in range(400):
            r = kin.put_record(StreamName="crash", Data=f"{i}".encode(), PartitionKey="k")
            acked.append(r["SequenceNumber"])
            if i == 250:
                os.kill(proc.pid, signal.SIGKILL)
                break
    finally:
        proc.wait(timeout=10)
    proc = start()
    try:
        clients.clear_cache()
        kin = clients.client("kinesis", prof, retries=False)
        got = read_all(kin, "crash")
        assert [r["SequenceNumber"] for r in got][: len(acked)] == acked
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
        clients.clear_cache()


def test_split_while_producing_parent_drains_then_children(kin: Any, unique: Any) -> None:
    name = unique("rs")
    kin.create_stream(StreamName=name, ShardCount=1)
    try:
        before = [
            kin.put_record(StreamName=name, Data=f"a{i}".encode(), PartitionKey=f"k{i}")
            for i in range(20)
        ]
        kin.split_shard(
            StreamName=name, ShardToSplit="shardId-000000000000", NewStartingHashKey=str(2**127)
        )
        after = [
            kin.put_record(StreamName=name, Data=f"b{i}".encode(), PartitionKey=f"k{i}")
            for i in range(20)
        ]
        assert {r["ShardId"] for r in before} == {"shardId-000000000000"}
        assert {r["ShardId"] for r in after} <= {"shardId-000000000001", "shardId-000000000002"}
        shards = {s["ShardId"]: s for s in kin.list_shards(StreamName=name)["Shards"]}
        parent = shards["shardId-000000000000"]
        assert "EndingSequenceNumber" in parent["SequenceNumberRange"]
        assert shards["shardId-000000000001"]["ParentShardId"] == "shardId-000000000000"
        it = kin.get_shard_iterator(
            StreamName=name, ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        r = kin.get_records(ShardIterator=it)
        assert [x["Data"] for x in r["Records"]] == [f"a{i}".encode() for i in range(20)]
        if "NextShardIterator" in r:  # one more call reaches the end of the closed shard
            r = kin.get_records(ShardIterator=r["NextShardIterator"])
        assert "NextShardIterator" not in r
        assert {c["ShardId"] for c in r["ChildShards"]} == {
            "shardId-000000000001",
            "shardId-000000000002",
        }
        for child in r["ChildShards"]:  # every member the API calls required (KCL reads them)
            assert child["ParentShards"] == ["shardId-000000000000"]
            assert child["HashKeyRange"] == shards[child["ShardId"]]["HashKeyRange"]
        latest = kin.list_shards(StreamName=name, ShardFilter={"Type": "AT_LATEST"})["Shards"]
        assert {s["ShardId"] for s in latest} == {"shardId-000000000001", "shardId-000000000002"}
        kin.merge_shards(
            StreamName=name,
            ShardToMerge="shardId-000000000001",
            AdjacentShardToMerge="shardId-000000000002",
        )
        merged = kin.list_shards(StreamName=name, ShardFilter={"Type": "AT_LATEST"})["Shards"]
        assert [s["ShardId"] for s in merged] == ["shardId-000000000003"]
        assert merged[0]["AdjacentParentShardId"] == "shardId-000000000002"
        with pytest.raises(ClientError) as e:
            kin.merge_shards(
                StreamName=name,
                ShardToMerge="shardId-000000000001",
                AdjacentShardToMerge="shardId-000000000002",
            )
        assert e.value.response["Error"]["Code"] == "ResourceInUseException"
        out = kin.update_shard_count(
            StreamName=name, TargetShardCount=2, ScalingType="UNIFORM_SCALING"
        )
        assert (out["CurrentShardCount"], out["TargetShardCount"]) == (1, 2)
        with pytest.raises(ClientError) as e:
            kin.update_shard_count(
                StreamName=name, TargetShardCount=8, ScalingType="UNIFORM_SCALING"
            )
        assert e.value.response["Error"]["Code"] == "InvalidArgumentException"
        summary = kin.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
        assert summary["OpenShardCount"] == 2
        assert len(kin.list_shards(StreamName=name)["Shards"]) == 6
    finally:
        kin.delete_stream(StreamName=name)


def test_consumers_tags_monitoring_encryption(kin: Any, stream: str) -> None:
    arn = kin.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamARN"]
    c = kin.register_stream_consumer(StreamARN=arn, ConsumerName="app")["Consumer"]
    assert c["ConsumerARN"].startswith(f"{arn}/consumer/app:") and c["ConsumerStatus"] == "ACTIVE"
    d = kin.describe_stream_consumer(ConsumerARN=c["ConsumerARN"])["ConsumerDescription"]
    assert d["StreamARN"] == arn and d["ConsumerName"] == "app"
    assert [x["ConsumerName"] for x in kin.list_stream_consumers(StreamARN=arn)["Consumers"]] == [
        "app"
    ]
    with pytest.raises(ClientError) as e:
        kin.register_stream_consumer(StreamARN=arn, ConsumerName="app")
    assert e.value.response["Error"]["Code"] == "ResourceInUseException"
    kin.deregister_stream_consumer(StreamARN=arn, ConsumerName="app")
    with pytest.raises(ClientError) as e:
        kin.describe_stream_consumer(StreamARN=arn, ConsumerName="app")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    kin.tag_resource(ResourceARN=arn, Tags={"owner": "bdlab"})
    assert kin.list_tags_for_resource(ResourceARN=arn)["Tags"] == [
        {"Key": "owner", "Value": "bdlab"}
    ]
    out = kin.enable_enhanced_monitoring(StreamName=stream, ShardLevelMetrics=["IncomingRecords"])
    assert out["DesiredShardLevelMetrics"] == ["IncomingRecords"]
    kin.start_stream_encryption(StreamName=stream, EncryptionType="KMS", KeyId="alias/aws/kinesis")
    put = kin.put_record(StreamName=stream, Data=b"x", PartitionKey="k")
    assert put["EncryptionType"] == "KMS"
    assert kin.describe_limits()["OpenShardCount"] >= 2


def test_aws_kinesis_metrics_reach_cloudwatch_on_the_emulator_clock(
    kin: Any, kprofile: Any, unique: Any
) -> None:
    from datetime import UTC, datetime, timedelta

    name = unique("met")
    kin.create_stream(StreamName=name, ShardCount=1)
    recs = [{"Data": b"y" * 100, "PartitionKey": f"k{i}"} for i in range(500)]
    for _ in range(3):  # the third call is throttled: 1,000 records a second per shard
        kin.put_records(StreamName=name, Records=recs)
    now = Admin.of(kprofile).clock()["now"]
    Admin.of(kprofile).set_clock(advance=61)
    kin.describe_stream_summary(StreamName=name)  # any call flushes the finished minute
    cw = clients.client("cloudwatch", kprofile)
    t = datetime.fromtimestamp(now, UTC)

    def total(metric: str, stat: str = "Sum") -> float:
        points = cw.get_metric_statistics(
            Namespace="AWS/Kinesis",
            MetricName=metric,
            Dimensions=[{"Name": "StreamName", "Value": name}],
            StartTime=t - timedelta(minutes=5),
            EndTime=t + timedelta(minutes=5),
            Period=60,
            Statistics=[stat],
        )["Datapoints"]
        return sum(p[stat] for p in points)

    incoming, throttled = total("IncomingRecords"), total("WriteProvisionedThroughputExceeded")
    assert incoming + throttled == 1500 and incoming >= 1000 and throttled > 0
    assert total("IncomingBytes") == incoming * 100
    kin.delete_stream(StreamName=name)


def test_metrics_of_the_open_minute_arrive_without_another_call(
    kin: Any, kprofile: Any, unique: Any
) -> None:
    """The background flush sends the minute so far (CloudWatch sums the parts), so an
    alarm or a lab check sees a burst within seconds, with no Kinesis call after it."""
    from datetime import UTC, datetime, timedelta

    name = unique("met")
    kin.create_stream(StreamName=name, ShardCount=1)
    for _ in range(3):  # 1,500 records in the same second: 500 throttled
        kin.put_records(
            StreamName=name, Records=[{"Data": b"z", "PartitionKey": f"{i}"} for i in range(500)]
        )
    t = datetime.fromtimestamp(Admin.of(kprofile).clock()["now"], UTC)
    cw = clients.client("cloudwatch", kprofile)

    def total(metric: str) -> float:
        points = cw.get_metric_statistics(
            Namespace="AWS/Kinesis",
            MetricName=metric,
            Dimensions=[{"Name": "StreamName", "Value": name}],
            StartTime=t - timedelta(minutes=2),
            EndTime=t + timedelta(minutes=2),
            Period=60,
            Statistics=["Sum"],
        )["Datapoints"]
        return sum(p["Sum"] for p in points)

    deadline = time.monotonic() + 15  # the flush runs every 2 wall seconds

    def both() -> float:
        return total("WriteProvisionedThroughputExceeded") + total("IncomingRecords")

    while both() < 1500 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert both() == 1500
    assert total("WriteProvisionedThroughputExceeded") >= 400  # the bucket refills meanwhile
    kin.delete_stream(StreamName=name)


def test_shard_level_metrics_only_when_enhanced_monitoring_is_on(
    kin: Any, kprofile: Any, unique: Any
) -> None:
    from datetime import UTC, datetime, timedelta

    name = unique("shm")
    kin.create_stream(StreamName=name, ShardCount=2)
    kin.put_records(
        StreamName=name, Records=[{"Data": b"a", "PartitionKey": f"k{i}"} for i in range(50)]
    )  # before: stream level only
    kin.enable_enhanced_monitoring(StreamName=name, ShardLevelMetrics=["IncomingRecords"])
    out = kin.put_records(
        StreamName=name, Records=[{"Data": b"b", "PartitionKey": f"k{i}"} for i in range(100)]
    )
    per_shard: dict[str, int] = {}
    for r in out["Records"]:
        per_shard[r["ShardId"]] = per_shard.get(r["ShardId"], 0) + 1
    t = datetime.fromtimestamp(Admin.of(kprofile).clock()["now"], UTC)
    cw = clients.client("cloudwatch", kprofile)

    def shard_sum(metric: str, shard: str) -> float:
        points = cw.get_metric_statistics(
            Namespace="AWS/Kinesis",
            MetricName=metric,
            Dimensions=[
                {"Name": "StreamName", "Value": name},
                {"Name": "ShardId", "Value": shard},
            ],
            StartTime=t - timedelta(minutes=2),
            EndTime=t + timedelta(minutes=2),
            Period=60,
            Statistics=["Sum"],
        )["Datapoints"]
        return sum(p["Sum"] for p in points)

    deadline = time.monotonic() + 15  # the flush runs every 2 wall seconds
    while time.monotonic() < deadline and any(
        shard_sum("IncomingRecords", s) < n for s, n in per_shard.items()
    ):
        time.sleep(0.5)
    assert {s: shard_sum("IncomingRecords", s) for s in per_shard} == per_shard  # not the 50
    assert all(shard_sum("IncomingBytes", s) == 0 for s in per_shard)  # not enabled
    kin.delete_stream(StreamName=name)


def test_bdlab_status_lists_streams_with_shards_and_reader_lag(tmp_path: Path) -> None:
    from tests.conftest import bdlab_env, run_bdlab

    env = bdlab_env(tmp_path / "state", free_port())
    assert run_bdlab(["up"], env).returncode == 0
    try:
        port = int(env["BDLAB_PORT"])
        prof = profiles.resolve(settings_for(tmp_path / "state", port=port), "embedded")
        kin = clients.client("kinesis", prof, retries=False)
        kin.create_stream(StreamName="clicks", ShardCount=2)
        kin.put_record(StreamName="clicks", Data=b"x", PartitionKey="a")
        kin.split_shard(
            StreamName="clicks", ShardToSplit="shardId-000000000000", NewStartingHashKey="1"
        )
        shard = kin.put_record(StreamName="clicks", Data=b"y", PartitionKey="a")["ShardId"]
        it = kin.get_shard_iterator(
            StreamName="clicks", ShardId=shard, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        kin.get_records(ShardIterator=it)
        Admin.of(prof).set_clock(advance=90)  # the minute of the read is finished
        st = json.loads(run_bdlab(["status", "--json"], env).stdout)["streams"]
        assert st == [
            {
                "name": "clicks",
                "open_shards": 3,
                "closed_shards": 1,
                "iterator_age_ms": st[0]["iterator_age_ms"],
            }
        ]
        assert st[0]["iterator_age_ms"] is not None and st[0]["iterator_age_ms"] >= 0
        assert "Kinesis streams" in run_bdlab(["status"], env).stdout
    finally:
        run_bdlab(["down"], env)
        clients.clear_cache()


def test_retention_loss_is_announced_by_iterator_age_before_it_happens(
    kin: Any, kprofile: Any, unique: Any
) -> None:
    """A consumer that falls behind sees its IteratorAge (MillisBehindLatest, and the
    GetRecords.IteratorAgeMilliseconds metric an alarm watches) climb toward the retention
    period while its records still exist; past retention they are really gone."""
    from datetime import UTC, datetime, timedelta

    name = unique("ret")
    kin.create_stream(StreamName=name, ShardCount=1)
    admin = Admin.of(kprofile)
    t0 = admin.clock()["now"]
    put = kin.put_records(
        StreamName=name,
        Records=[{"Data": f"r{i}".encode(), "PartitionKey": "k"} for i in range(10)],
    )
    first_seq = put["Records"][0]["SequenceNumber"]
    admin.set_clock(advance=23 * 3600)  # the consumer stalled for 23 of the 24 hours
    it = kin.get_shard_iterator(
        StreamName=name,
        ShardId="shardId-000000000000",
        ShardIteratorType="AFTER_SEQUENCE_NUMBER",
        StartingSequenceNumber=first_seq,
    )["ShardIterator"]
    r = kin.get_records(ShardIterator=it, Limit=1)
    assert r["Records"][0]["Data"] == b"r1"  # still there...
    behind_h = r["MillisBehindLatest"] / 3_600_000
    assert 22.9 < behind_h < 23.1  # ...and the answer says how close to the edge it is
    cw = clients.client("cloudwatch", kprofile)
    deadline = time.monotonic() + 15
    top = 0.0
    while top == 0.0 and time.monotonic() < deadline:
        points = cw.get_metric_statistics(
            Namespace="AWS/Kinesis",
            MetricName="GetRecords.IteratorAgeMilliseconds",
            Dimensions=[{"Name": "StreamName", "Value": name}],
            # GetMetricStatistics answers at most 1,440 datapoints: the last hours only
            StartTime=datetime.fromtimestamp(t0, UTC) + timedelta(hours=22),
            EndTime=datetime.fromtimestamp(t0, UTC) + timedelta(hours=25),
            Period=60,
            Statistics=["Maximum"],
        )["Datapoints"]
        top = max((p["Maximum"] for p in points), default=0.0)
        if top == 0.0:
            time.sleep(0.5)  # the metrics flush runs every 2 wall seconds
    assert top / (24 * 3_600_000) > 0.95  # an alarm at 90% of retention would have fired

    admin.set_clock(advance=2 * 3600)  # 25 h: past retention
    it = kin.get_shard_iterator(
        StreamName=name, ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    assert kin.get_records(ShardIterator=it)["Records"] == []  # gone, all ten
    kin.delete_stream(StreamName=name)


def test_limits_relaxed_by_the_setting_and_never_silently(tmp_path: Path) -> None:
    """kinesis_limits = false (a demo, a benchmark): no per-shard throttling, and
    `bdlab status` says the limits are off."""
    from tests.conftest import bdlab_env, run_bdlab

    env = bdlab_env(tmp_path / "state", free_port(), BDLAB_KINESIS_LIMITS="false")
    assert run_bdlab(["up"], env).returncode == 0
    try:
        prof = profiles.resolve(
            settings_for(tmp_path / "state", port=int(env["BDLAB_PORT"])), "embedded"
        )
        kin = clients.client("kinesis", prof, retries=False)
        kin.create_stream(StreamName="free", ShardCount=1)
        for _ in range(6):  # 3,000 records in well under a second into one shard
            out = kin.put_records(
                StreamName="free",
                Records=[{"Data": b"x", "PartitionKey": f"k{i}"} for i in range(500)],
            )
            assert out["FailedRecordCount"] == 0
        status = run_bdlab(["status"], env).stdout
        assert "Kinesis limits OFF" in " ".join(status.split()), status
        assert "kinesis_limits" in run_bdlab(["config"], env).stdout
    finally:
        run_bdlab(["down"], env)

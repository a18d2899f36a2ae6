"""bdlab's own Firehose (issue 14, first slice: DirectPut to S3) over HTTP with real boto3:
buffering by size and by interval on the emulator clock, AWS's key layout and prefix
expressions, the five compressions read back with standard tools, the validation AWS does,
an S3 outage and a kill -9 with records in a buffer, the AWS/Firehose metrics."""

from __future__ import annotations

import gzip
import io
import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import snappy
from botocore.exceptions import ClientError

from sim import clients, profiles
from sim.admin import Admin
from sim.emulator.providers.firehose import codecs
from tests.conftest import free_port, settings_for

pytestmark = pytest.mark.integration
ROLE = "arn:aws:iam::123456789012:role/firehose"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


@pytest.fixture(scope="module")
def fprofile(private_profile: profiles.Profile) -> profiles.Profile:
    return private_profile


@pytest.fixture()
def fh(fprofile: profiles.Profile) -> Any:
    return clients.client("firehose", fprofile, retries=False)


@pytest.fixture()
def s3(fprofile: profiles.Profile) -> Any:
    return clients.client("s3", fprofile)


@pytest.fixture()
def admin(fprofile: profiles.Profile) -> Admin:
    return Admin.of(fprofile)


@pytest.fixture()
def lake(s3: Any, unique: Any) -> Iterator[str]:
    name = unique("lake")
    s3.create_bucket(Bucket=name)
    yield name


def create(fh: Any, name: str, bucket: str, **dest: Any) -> None:
    fh.create_delivery_stream(
        DeliveryStreamName=name,
        ExtendedS3DestinationConfiguration={
            "RoleARN": ROLE,
            "BucketARN": f"arn:aws:s3:::{bucket}",
            **dest,
        },
    )


def objects(s3: Any, bucket: str, n: int, timeout_s: float = 10.0) -> list[dict[str, Any]]:
    """The bucket's objects once there are ``n`` (the delivery loop runs every 0.1 s)."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
        if len(found) >= n or time.monotonic() > deadline:
            return sorted(found, key=lambda o: o["Key"])
        time.sleep(0.1)


def put(fh: Any, name: str, lines: list[bytes]) -> None:
    for i in range(0, len(lines), 500):
        r = fh.put_record_batch(
            DeliveryStreamName=name, Records=[{"Data": d} for d in lines[i : i + 500]]
        )
        assert r["FailedPutCount"] == 0


def test_interval_buffering_on_the_clock_and_aws_key_layout(
    fh: Any, s3: Any, admin: Admin, lake: str, unique: Any
) -> None:
    name = unique("fh")
    create(fh, name, lake, Prefix="raw/", BufferingHints={"SizeInMBs": 5, "IntervalInSeconds": 120})
    t0 = admin.clock()["now"]
    lines = [f'{{"n": {i}}}\n'.encode() for i in range(300)]
    put(fh, name, lines)
    time.sleep(0.5)  # several delivery rounds: the interval has not passed on the clock
    assert objects(s3, lake, 1, timeout_s=0.2) == []
    admin.set_clock(advance=121)
    (obj,) = objects(s3, lake, 1)
    when = datetime.fromtimestamp(t0, UTC)
    # no expression in the prefix: yyyy/MM/dd/HH/ appended as is; the suffix dates the
    # oldest record's arrival
    assert re.fullmatch(
        rf"raw/{when:%Y/%m/%d/%H}/{name}-1-\d{{4}}-\d\d-\d\d-\d\d-\d\d-\d\d-{UUID}", obj["Key"]
    ), obj["Key"]
    stamp = datetime.strptime(obj["Key"].split(f"{name}-1-")[1][:19], "%Y-%m-%d-%H-%M-%S")
    assert abs(stamp.replace(tzinfo=UTC).timestamp() - t0) < 5
    body = s3.get_object(Bucket=lake, Key=obj["Key"])
    assert body["Body"].read() == b"".join(lines)  # concatenated as put, nothing added
    assert body["ContentType"] == "application/octet-stream"


def test_size_buffering_cuts_objects_at_size_in_mbs(
    fh: Any, s3: Any, lake: str, unique: Any
) -> None:
    name = unique("fh")
    create(fh, name, lake, BufferingHints={"SizeInMBs": 1, "IntervalInSeconds": 900})
    record = b"x" * (100 * 1024 - 1) + b"\n"  # 100 KiB: ten make 1,000 KiB
    put(fh, name, [record] * 25)
    found = objects(s3, lake, 2)
    assert len(found) == 2  # two full MiBs delivered; 5 records wait for the interval
    assert all(o["Size"] <= 1024 * 1024 for o in found)
    assert sum(o["Size"] for o in found) == 20 * len(record)


def test_admin_flush_delivers_one_stream_now_without_moving_the_clock(
    fh: Any, s3: Any, admin: Admin, lake: str, unique: Any
) -> None:
    """Labs share one clock: a lab flushes its own stream instead of fast-forwarding."""
    name, other = unique("fh"), unique("fh")
    hints = {"SizeInMBs": 5, "IntervalInSeconds": 900}
    create(fh, name, lake, Prefix="mine/", BufferingHints=hints)
    create(fh, other, lake, Prefix="other/", BufferingHints=hints)
    put(fh, name, [b"a\n"] * 10)
    put(fh, other, [b"b\n"] * 10)
    t0 = admin.clock()["now"]
    assert admin.flush_firehose(name) == {"DeliveryStreamName": name, "Pending": 0}
    assert admin.clock()["now"] - t0 < 5  # the shared clock did not jump
    (obj,) = objects(s3, lake, 1)
    assert obj["Key"].startswith("mine/")  # the other stream keeps its 900 s
    assert s3.get_object(Bucket=lake, Key=obj["Key"])["Body"].read() == b"a\n" * 10
    with pytest.raises(Exception, match="no delivery stream"):
        admin.flush_firehose(unique("missing"))


@pytest.mark.parametrize("fmt", codecs.FORMATS)
def test_each_compression_reads_back_with_standard_tools(
    fh: Any, s3: Any, admin: Admin, lake: str, unique: Any, fmt: str
) -> None:
    name = unique("fh")
    create(
        fh,
        name,
        lake,
        CompressionFormat=fmt,
        BufferingHints={"SizeInMBs": 1, "IntervalInSeconds": 60},
    )
    lines = [f'{{"event": {i}, "pad": "{"p" * 50}"}}\n'.encode() for i in range(2000)]
    put(fh, name, lines)
    admin.set_clock(advance=61)
    (obj,) = objects(s3, lake, 1)
    got = s3.get_object(Bucket=lake, Key=obj["Key"])
    blob = got["Body"].read()
    want = b"".join(lines)
    ext = {"UNCOMPRESSED": "", "GZIP": ".gz", "ZIP": ".zip"}.get(fmt, ".snappy")
    assert obj["Key"].endswith(ext) and re.search(rf"{UUID}{re.escape(ext)}$", obj["Key"])
    enc = {"GZIP": "gzip", "ZIP": "zip", "Snappy": "snappy-java", "HADOOP_SNAPPY": "hadoop-snappy"}
    assert got.get("ContentEncoding") == enc.get(fmt)
    if fmt == "UNCOMPRESSED":
        assert blob == want
    elif fmt == "GZIP":
        assert gzip.decompress(blob) == want
    elif fmt == "ZIP":
        with zipfile.ZipFile(io.BytesIO(blob)) as z:
            (entry,) = z.namelist()
            assert re.fullmatch(UUID, entry) and z.read(entry) == want
    elif fmt == "HADOOP_SNAPPY":  # python-snappy's Hadoop reader, as Spark's SnappyCodec reads it
        assert snappy.HadoopStreamDecompressor().decompress(blob) == want
    else:  # snappy-java's stream: its magic, then length-prefixed raw Snappy blocks
        assert blob[:16] == b"\x82SNAPPY\x00" + b"\x00\x00\x00\x01" * 2
        assert codecs.decompress("Snappy", blob) == want and len(blob) < len(want) / 2


def test_prefix_expressions_time_zone_and_file_extension(
    fh: Any, s3: Any, admin: Admin, lake: str, unique: Any
) -> None:
    name = unique("fh")
    create(
        fh,
        name,
        lake,
        Prefix="events/dt=!{timestamp:yyyy-MM-dd}/hh=!{timestamp:HH}/!{firehose:random-string}/",
        ErrorOutputPrefix="errors/!{firehose:error-output-type}/",
        CustomTimeZone="Asia/Seoul",
        FileExtension=".jsonl",
        CompressionFormat="GZIP",
        BufferingHints={"SizeInMBs": 1, "IntervalInSeconds": 60},
    )
    t0 = admin.clock()["now"]
    put(fh, name, [b'{"a": 1}\n'])
    admin.set_clock(advance=61)
    (obj,) = objects(s3, lake, 1)
    seoul = datetime.fromtimestamp(t0, UTC) + timedelta(hours=9)
    assert re.fullmatch(
        rf"events/dt={seoul:%Y-%m-%d}/hh={seoul:%H}/[A-Za-z0-9]{{11}}/{name}-1-"
        rf"{seoul:%Y-%m-%d-%H}-\d\d-\d\d-{UUID}\.jsonl",
        obj["Key"],
    ), obj["Key"]
    assert gzip.decompress(s3.get_object(Bucket=lake, Key=obj["Key"])["Body"].read()) == (
        b'{"a": 1}\n'  # FileExtension changes the key only, never the compression
    )


@pytest.mark.parametrize(
    ("dest", "code", "words"),
    [
        ({"Prefix": "a/!{timestamp:yyyy}/"}, "InvalidArgumentException", "ErrorOutputPrefix"),
        (
            {"Prefix": "!{firehose:error-output-type}/", "ErrorOutputPrefix": "e/"},
            "InvalidArgumentException",
            "only allowed in ErrorOutputPrefix",
        ),
        (
            {"Prefix": "!{bogus:x}/", "ErrorOutputPrefix": "e/"},
            "InvalidArgumentException",
            "namespace",
        ),
        (
            {"Prefix": "!{partitionKeyFromQuery:c}/", "ErrorOutputPrefix": "e/"},
            "InvalidArgumentException",
            "dynamic partitioning",
        ),
        ({"BufferingHints": {"SizeInMBs": 129}}, "ValidationException", "128"),
        ({"BufferingHints": {"IntervalInSeconds": 901}}, "ValidationException", "900"),
        ({"CompressionFormat": "BZIP2"}, "ValidationException", "enum"),
    ],
)
def test_destinations_aws_would_refuse_are_refused(
    fh: Any, lake: str, unique: Any, dest: dict[str, Any], code: str, words: str
) -> None:
    with pytest.raises(ClientError) as e:
        create(fh, unique("bad"), lake, **dest)
    assert e.value.response["Error"]["Code"] == code
    assert words in e.value.response["Error"]["Message"]


def test_not_yet_implemented_parts_answer_501_not_silence(fh: Any, lake: str, unique: Any) -> None:
    with pytest.raises(ClientError) as e:
        fh.create_delivery_stream(
            DeliveryStreamName=unique("msk"),
            DeliveryStreamType="MSKAsSource",
            MSKSourceConfiguration={
                "MSKClusterARN": "arn:aws:kafka:us-east-1:123456789012:cluster/c/x",
                "TopicName": "t",
                "AuthenticationConfiguration": {"RoleARN": ROLE, "Connectivity": "PUBLIC"},
            },
            ExtendedS3DestinationConfiguration={
                "RoleARN": ROLE,
                "BucketARN": f"arn:aws:s3:::{lake}",
            },
        )
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501
    assert "MSKAsSource" in e.value.response["Error"]["Message"]


def test_control_plane_as_aws_shapes_it(fh: Any, lake: str, unique: Any) -> None:
    name = unique("cp")
    create(fh, name, lake, Prefix="p/")
    desc = fh.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"]
    assert desc["DeliveryStreamStatus"] == "ACTIVE" and desc["VersionId"] == "1"
    assert desc["DeliveryStreamType"] == "DirectPut"
    assert desc["DeliveryStreamARN"].endswith(f":deliverystream/{name}")
    d = desc["Destinations"][0]
    assert d["DestinationId"] == "destinationId-000000000001"
    ext = d["ExtendedS3DestinationDescription"]
    assert ext["BufferingHints"] == {"SizeInMBs": 5, "IntervalInSeconds": 300}  # AWS defaults
    assert ext["CompressionFormat"] == "UNCOMPRESSED" and d["S3DestinationDescription"]
    assert name in fh.list_delivery_streams(Limit=100)["DeliveryStreamNames"]
    with pytest.raises(ClientError) as e:
        create(fh, name, lake)
    assert e.value.response["Error"]["Code"] == "ResourceInUseException"
    with pytest.raises(ClientError) as e:
        fh.update_destination(
            DeliveryStreamName=name,
            CurrentDeliveryStreamVersionId="7",
            DestinationId="destinationId-000000000001",
            ExtendedS3DestinationUpdate={"Prefix": "q/"},
        )
    assert e.value.response["Error"]["Code"] == "ConcurrentModificationException"
    fh.update_destination(
        DeliveryStreamName=name,
        CurrentDeliveryStreamVersionId="1",
        DestinationId="destinationId-000000000001",
        ExtendedS3DestinationUpdate={"Prefix": "q/", "BufferingHints": {"IntervalInSeconds": 60}},
    )
    desc = fh.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"]
    ext = desc["Destinations"][0]["ExtendedS3DestinationDescription"]
    assert desc["VersionId"] == "2" and ext["Prefix"] == "q/"
    assert ext["BufferingHints"] == {"SizeInMBs": 5, "IntervalInSeconds": 60}
    fh.tag_delivery_stream(DeliveryStreamName=name, Tags=[{"Key": "lab", "Value": "2.2.5"}])
    assert fh.list_tags_for_delivery_stream(DeliveryStreamName=name)["Tags"] == [
        {"Key": "lab", "Value": "2.2.5"}
    ]
    fh.start_delivery_stream_encryption(
        DeliveryStreamName=name,
        DeliveryStreamEncryptionConfigurationInput={"KeyType": "AWS_OWNED_CMK"},
    )
    desc = fh.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"]
    assert desc["DeliveryStreamEncryptionConfiguration"]["Status"] == "ENABLED"
    assert fh.put_record(DeliveryStreamName=name, Record={"Data": b"x"})["Encrypted"] is True
    fh.delete_delivery_stream(DeliveryStreamName=name)
    with pytest.raises(ClientError) as e:
        fh.put_record(DeliveryStreamName=name, Record={"Data": b"x"})
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_oversized_records_and_batches_get_aws_errors(fh: Any, lake: str, unique: Any) -> None:
    name = unique("big")
    create(fh, name, lake)
    with pytest.raises(ClientError) as e:
        fh.put_record(DeliveryStreamName=name, Record={"Data": b"x" * 1_024_001})
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert "1024000" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        fh.put_record_batch(
            DeliveryStreamName=name, Records=[{"Data": b"x" * 1_000_000} for _ in range(5)]
        )
    assert e.value.response["Error"]["Code"] == "InvalidArgumentException"
    with pytest.raises(ClientError) as e:
        fh.put_record_batch(DeliveryStreamName=name, Records=[{"Data": b"x"}] * 501)
    assert e.value.response["Error"]["Code"] == "ValidationException"


def test_s3_outage_then_recovery_loses_nothing_and_freshness_shows_it(
    fh: Any, s3: Any, admin: Admin, lake: str, unique: Any, fprofile: profiles.Profile
) -> None:
    name = unique("out")
    create(fh, name, lake, BufferingHints={"SizeInMBs": 1, "IntervalInSeconds": 60})
    put(fh, name, [f"{i}\n".encode() for i in range(100)])
    t0 = admin.clock()["now"]
    admin.set_faults("s3", outage=True)
    try:
        admin.set_clock(advance=61)
        time.sleep(0.5)  # deliveries fail and are retried every 5 s (clock)
        admin.set_clock(advance=600)
        time.sleep(0.5)
    finally:
        admin.reset_faults()
    admin.set_clock(advance=6)
    (obj,) = objects(s3, lake, 1)
    # written after the outage, not during it (LastModified is on the emulator clock)
    assert obj["LastModified"].timestamp() >= t0 + 661
    assert s3.get_object(Bucket=lake, Key=obj["Key"])["Body"].read() == b"".join(
        f"{i}\n".encode() for i in range(100)
    )
    cw = clients.client("cloudwatch", fprofile)
    deadline = time.monotonic() + 15

    def stat(metric: str, how: str) -> float:
        points = cw.get_metric_statistics(
            Namespace="AWS/Firehose",
            MetricName=metric,
            Dimensions=[{"Name": "DeliveryStreamName", "Value": name}],
            StartTime=datetime.fromtimestamp(t0, UTC) - timedelta(minutes=1),
            EndTime=datetime.fromtimestamp(t0, UTC) + timedelta(hours=1),
            Period=60,
            Statistics=[how],
        )["Datapoints"]
        values = [p[how] for p in points]
        if how == "Maximum":
            return max(values, default=0.0)
        if how == "Minimum":
            return min(values, default=1.0)
        return sum(values)

    while stat("DeliveryToS3.Records", "Sum") < 100 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert stat("IncomingRecords", "Sum") == 100
    assert stat("DeliveryToS3.Records", "Sum") == 100
    assert stat("DeliveryToS3.DataFreshness", "Maximum") > 600  # the outage, seen by an alarm
    assert stat("DeliveryToS3.Success", "Minimum") == 0.0


class Spawned:
    """The emulator as a child process on ``state`` (so that it can be killed with -9)."""

    def __init__(self, state: Path) -> None:
        self.state, self.port = state, free_port()
        self.code = (
            "from pathlib import Path; import uvicorn;"
            "from sim.emulator.gateway import Gateway; "
            "from sim.emulator.server import bind, _config;"
            f"sock = bind('127.0.0.1', {self.port}); gw = Gateway(Path({str(state)!r}), "
            f"{self.port}); uvicorn.Server(_config(gw, 'warning')).run(sockets=[sock])"
        )
        self.env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
        self.profile = profiles.resolve(settings_for(state, port=self.port), "embedded")
        self.admin = Admin(f"http://127.0.0.1:{self.port}")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Spawned:
        self.proc = subprocess.Popen([sys.executable, "-c", self.code], env=self.env)
        for _ in range(300):
            try:
                Admin(f"http://127.0.0.1:{self.port}", timeout=0.5).health()
                clients.clear_cache()
                return self
            except Exception:
                time.sleep(0.05)
        self.proc.kill()
        raise AssertionError("emulator did not start")

    def kill_9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=15)
        clients.clear_cache()


def test_kill_9_with_records_in_a_buffer_loses_nothing(tmp_path: Path) -> None:
    emu = Spawned(tmp_path / "state").start()
    prof = emu.profile
    try:
        fh = clients.client("firehose", prof, retries=False)
        s3 = clients.client("s3", prof)
        s3.create_bucket(Bucket="crash")
        create(fh, "crash", "crash", BufferingHints={"SizeInMBs": 5, "IntervalInSeconds": 300})
        acked = []
        for i in range(300):
            fh.put_record(DeliveryStreamName="crash", Record={"Data": f"{i}\n".encode()})
            acked.append(f"{i}\n".encode())
        emu.kill_9()  # 300 records acknowledged, all still buffered
        emu.start().admin.set_clock(advance=301)
        s3 = clients.client("s3", prof)
        (obj,) = objects(s3, "crash", 1)
        assert s3.get_object(Bucket="crash", Key=obj["Key"])["Body"].read() == b"".join(acked)
    finally:
        emu.stop()


def test_kinesis_source_resumes_after_a_kill_9_with_nothing_lost_or_read_twice(
    tmp_path: Path,
) -> None:
    """Records Firehose had read from the stream (buffered in its log) and records it had not
    read yet both reach S3 once after the emulator is killed and started again."""
    emu = Spawned(tmp_path / "state").start()
    try:
        kin = clients.client("kinesis", emu.profile)
        kin.create_stream(StreamName="src", ShardCount=2)
        arn = kin.describe_stream_summary(StreamName="src")["StreamDescriptionSummary"]["StreamARN"]
        clients.client("s3", emu.profile).create_bucket(Bucket="resume")
        clients.client("firehose", emu.profile).create_delivery_stream(
            DeliveryStreamName="resume",
            DeliveryStreamType="KinesisStreamAsSource",
            KinesisStreamSourceConfiguration={"KinesisStreamARN": arn, "RoleARN": ROLE},
            ExtendedS3DestinationConfiguration={
                "RoleARN": ROLE,
                "BucketARN": "arn:aws:s3:::resume",
                "BufferingHints": {"SizeInMBs": 5, "IntervalInSeconds": 300},
            },
        )

        def send(lo: int, hi: int) -> None:
            recs = [{"Data": f"{i}\n".encode(), "PartitionKey": str(i)} for i in range(lo, hi)]
            assert kin.put_records(StreamName="src", Records=recs)["FailedRecordCount"] == 0

        send(0, 200)
        # wait until the delivery loop (every 0.1 s in the child) has copied them into its log
        cw = clients.client("cloudwatch", emu.profile)
        deadline = time.monotonic() + 15
        read = 0.0
        while read < 200 and time.monotonic() < deadline:
            now = datetime.fromtimestamp(emu.admin.clock()["now"], UTC)
            pts = cw.get_metric_statistics(
                Namespace="AWS/Firehose",
                MetricName="DataReadFromKinesisStream.Records",
                Dimensions=[{"Name": "DeliveryStreamName", "Value": "resume"}],
                StartTime=now - timedelta(minutes=5),
                EndTime=now + timedelta(minutes=1),
                Period=60,
                Statistics=["Sum"],
            )["Datapoints"]
            read = sum(p["Sum"] for p in pts)
            time.sleep(0.2)
        assert read == 200
        emu.kill_9()  # 200 read and buffered, none delivered
        emu.start()
        send(200, 300)  # and 100 the restarted emulator has not read yet
        emu.admin.set_clock(advance=301)
        s3 = clients.client("s3", emu.profile)
        found = objects(s3, "resume", 1)
        lines = b"".join(
            s3.get_object(Bucket="resume", Key=o["Key"])["Body"].read() for o in found
        ).splitlines()
        assert sorted(int(x) for x in lines) == list(range(300))  # all, each once
    finally:
        emu.stop()


def test_kinesis_source_from_latest_with_kpl_records_and_a_split(
    fh: Any, s3: Any, admin: Admin, lake: str, unique: Any, fprofile: profiles.Profile
) -> None:
    """KinesisStreamAsSource: reading starts at LATEST, KPL aggregates are split into their
    user records, a split shard's children follow their parent; every record once."""
    from sim.kinesis.producer import Producer

    kin = clients.client("kinesis", fprofile)
    stream = unique("src")
    kin.create_stream(StreamName=stream, ShardCount=2)
    arn = kin.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamARN"]
    Producer(kin, stream).put((f"before-{i}\n".encode(), f"k{i}") for i in range(5))
    name = unique("fk")
    fh.create_delivery_stream(
        DeliveryStreamName=name,
        DeliveryStreamType="KinesisStreamAsSource",
        KinesisStreamSourceConfiguration={"KinesisStreamARN": arn, "RoleARN": ROLE},
        ExtendedS3DestinationConfiguration={
            "RoleARN": ROLE,
            "BucketARN": f"arn:aws:s3:::{lake}",
            "BufferingHints": {"SizeInMBs": 5, "IntervalInSeconds": 60},
        },
    )
    desc = fh.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"]
    assert desc["DeliveryStreamType"] == "KinesisStreamAsSource"
    assert desc["Source"]["KinesisStreamSourceDescription"]["KinesisStreamARN"] == arn
    with pytest.raises(ClientError) as e:
        fh.put_record(DeliveryStreamName=name, Record={"Data": b"x"})
    assert e.value.response["Error"]["Code"] == "InvalidArgumentException"

    plain = [(f"plain-{i}\n".encode(), f"k{i}") for i in range(100)]
    Producer(kin, stream).put(plain)
    packed = [(f"kpl-{i}\n".encode(), f"u{i % 7}") for i in range(300)]
    Producer(kin, stream, aggregate=True).put(packed)
    shard0 = kin.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
    kin.split_shard(StreamName=stream, ShardToSplit=shard0, NewStartingHashKey=str(2**126))
    after = [(f"after-{i}\n".encode(), f"k{i}") for i in range(100)]
    Producer(kin, stream).put(after)
    time.sleep(0.5)  # the delivery loop copies from the source every 0.1 s
    admin.set_clock(advance=61)
    found = objects(s3, lake, 1)
    lines = b"".join(s3.get_object(Bucket=lake, Key=o["Key"])["Body"].read() for o in found)
    want = [d for d, _k in plain + packed + after]
    got = lines.splitlines(keepends=True)
    assert sorted(got) == sorted(want)  # each once; none from before the start
    with pytest.raises(ClientError) as e:
        fh.create_delivery_stream(
            DeliveryStreamName=unique("nosrc"),
            DeliveryStreamType="KinesisStreamAsSource",
            KinesisStreamSourceConfiguration={
                "KinesisStreamARN": arn.replace(stream, "no-such-stream"),
                "RoleARN": ROLE,
            },
            ExtendedS3DestinationConfiguration={
                "RoleARN": ROLE,
                "BucketARN": f"arn:aws:s3:::{lake}",
            },
        )
    assert e.value.response["Error"]["Code"] == "InvalidArgumentException"


def _dp(query: str, *extra: dict[str, Any]) -> dict[str, Any]:
    """Dynamic partitioning with inline JQ parsing and a newline after each record."""
    return {
        "DynamicPartitioningConfiguration": {"Enabled": True},
        "ProcessingConfiguration": {
            "Enabled": True,
            "Processors": [
                *extra,
                {
                    "Type": "MetadataExtraction",
                    "Parameters": [
                        {"ParameterName": "MetadataExtractionQuery", "ParameterValue": query},
                        {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"},
                    ],
                },
                {
                    "Type": "AppendDelimiterToRecord",
                    "Parameters": [{"ParameterName": "Delimiter", "ParameterValue": "\\n"}],
                },
            ],
        },
    }


def test_dynamic_partitioning_by_jq_key_with_errors_to_the_error_prefix(
    fh: Any, s3: Any, admin: Admin, lake: str, unique: Any
) -> None:
    import base64
    import json

    name = unique("dp")
    create(
        fh,
        name,
        lake,
        Prefix="orders/country=!{partitionKeyFromQuery:country}/dt=!{timestamp:yyyy-MM-dd}/",
        ErrorOutputPrefix="errors/!{firehose:error-output-type}/",
        BufferingHints={"SizeInMBs": 64, "IntervalInSeconds": 60},
        **_dp("{country: .country}"),
    )
    rows = [{"id": i, "country": ["KR", "US", "JP"][i % 3]} for i in range(90)]
    bad = [b"not json at all", b'{"id": 99}']  # unparsable; no country
    put(fh, name, [json.dumps(r).encode() for r in rows] + bad)
    admin.set_clock(advance=61)
    found = objects(s3, lake, 4)
    keys = [o["Key"] for o in found]
    assert len(keys) == 4, keys
    by_country: dict[str, list[dict[str, Any]]] = {}
    for k in keys:
        body = s3.get_object(Bucket=lake, Key=k)["Body"].read()
        if k.startswith("errors/"):
            assert k.startswith("errors/partitioning-failed/")
            docs = [json.loads(line) for line in body.splitlines()]
            assert sorted(base64.b64decode(d["rawData"]) for d in docs) == sorted(bad)
            assert {d["errorCode"] for d in docs} == {
                "DynamicPartitioning.MetadataExtractionFailed"
            }
            assert any(d["errorMessage"] == "Non JSON record provided" for d in docs)
            continue
        m = re.match(r"orders/country=(\w+)/dt=\d{4}-\d\d-\d\d/", k)
        assert m, k
        by_country[m.group(1)] = [json.loads(line) for line in body.splitlines()]
    assert {c: len(v) for c, v in by_country.items()} == {"KR": 30, "US": 30, "JP": 30}
    assert all(r["country"] == c for c, v in by_country.items() for r in v)


def test_json_deaggregation_then_partitioning(
    fh: Any, s3: Any, admin: Admin, lake: str, unique: Any
) -> None:
    import json

    name = unique("agg")
    deagg = {
        "Type": "RecordDeAggregation",
        "Parameters": [{"ParameterName": "SubRecordType", "ParameterValue": "JSON"}],
    }
    create(
        fh,
        name,
        lake,
        Prefix="k=!{partitionKeyFromQuery:k}/",
        ErrorOutputPrefix="err/!{firehose:error-output-type}/",
        BufferingHints={"SizeInMBs": 64, "IntervalInSeconds": 60},
        **_dp("{k: .k}", deagg),
    )
    # one PutRecord holding three concatenated objects, one holding JSON lines
    put(
        fh,
        name,
        [b'{"k":"a","n":1}{"k":"b","n":2}{"k":"a","n":3}', b'{"k":"b","n":4}\n{"k":"a","n":5}'],
    )
    admin.set_clock(advance=61)
    found = objects(s3, lake, 2)
    got = {
        o["Key"].split("/")[0]: [
            json.loads(x)["n"]
            for x in s3.get_object(Bucket=lake, Key=o["Key"])["Body"].read().splitlines()
        ]
        for o in found
    }
    assert got == {"k=a": [1, 3, 5], "k=b": [2, 4]}


def test_the_active_partition_limit_sends_the_rest_to_the_error_prefix(
    fh: Any, s3: Any, admin: Admin, lake: str, unique: Any
) -> None:
    import json

    name = unique("lim")
    create(
        fh,
        name,
        lake,
        Prefix="c=!{partitionKeyFromQuery:c}/",
        ErrorOutputPrefix="err/!{firehose:error-output-type}/",
        BufferingHints={"SizeInMBs": 64, "IntervalInSeconds": 60},
        **_dp("{c: .c}"),
    )
    put(fh, name, [json.dumps({"c": f"c{i}"}).encode() for i in range(503)])
    admin.set_clock(advance=61)
    found = objects(s3, lake, 501, timeout_s=30)
    errors = [o for o in found if o["Key"].startswith("err/")]
    assert len(found) - len(errors) == 500 and len(errors) == 1
    docs = s3.get_object(Bucket=lake, Key=errors[0]["Key"])["Body"].read().splitlines()
    assert len(docs) == 3
    assert {json.loads(d)["errorCode"] for d in docs} == {
        "DynamicPartitioning.ActivePartitionsLimitExceeded"
    }


@pytest.mark.parametrize(
    ("dest", "words"),
    [
        ({"Prefix": "k=!{partitionKeyFromQuery:k}/", **_dp("{k: .k}")}, "ErrorOutputPrefix"),
        (
            {"Prefix": "static/", "ErrorOutputPrefix": "e/", **_dp("{k: .k}")},
            "at least one",
        ),
        (
            {
                "Prefix": "k=!{partitionKeyFromQuery:k}/",
                "ErrorOutputPrefix": "e/",
                "DynamicPartitioningConfiguration": {"Enabled": True},
            },
            "MetadataExtraction",
        ),
        (
            {"Prefix": "k=!{partitionKeyFromQuery:k}/", "ErrorOutputPrefix": "e/", **_dp("{k: .k")},
            "not a valid JQ",
        ),
        (
            {
                "Prefix": "p/",
                "ProcessingConfiguration": _dp("{k: .k}")["ProcessingConfiguration"],
            },
            "only when dynamic partitioning",
        ),
        (
            {
                "Prefix": "k=!{partitionKeyFromQuery:k}/",
                "ErrorOutputPrefix": "e/",
                "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 0},
                **_dp("{k: .k}"),
            },
            "Zero buffering",
        ),
        ({"BufferingHints": {"IntervalInSeconds": 60}}, "together"),
    ],
)
def test_dynamic_partitioning_configurations_aws_refuses(
    fh: Any, lake: str, unique: Any, dest: dict[str, Any], words: str
) -> None:
    with pytest.raises(ClientError) as e:
        create(fh, unique("bad"), lake, **dest)
    assert e.value.response["Error"]["Code"] == "InvalidArgumentException"
    assert words in e.value.response["Error"]["Message"]


def test_dynamic_partitioning_cannot_be_turned_on_later(fh: Any, lake: str, unique: Any) -> None:
    name = unique("later")
    create(fh, name, lake)
    with pytest.raises(ClientError) as e:
        fh.update_destination(
            DeliveryStreamName=name,
            CurrentDeliveryStreamVersionId="1",
            DestinationId="destinationId-000000000001",
            ExtendedS3DestinationUpdate={
                "Prefix": "k=!{partitionKeyFromQuery:k}/",
                "ErrorOutputPrefix": "e/",
                **_dp("{k: .k}"),
            },
        )
    assert e.value.response["Error"]["Code"] == "InvalidArgumentException"
    assert "cannot be enabled" in e.value.response["Error"]["Message"]


TRANSFORM = """
import base64, json

def handler(event, context):
    out = []
    for r in event["records"]:
        doc = json.loads(base64.b64decode(r["data"]))
        if doc.get("skip"):
            out.append({"recordId": r["recordId"], "result": "Dropped", "data": r["data"]})
        elif doc.get("bad"):
            out.append({"recordId": r["recordId"], "result": "ProcessingFailed", "data": r["data"]})
        elif doc.get("vanish"):
            continue  # no answer for this record: Firehose counts it as failed
        else:
            doc["name"] = doc["name"].upper()
            data = base64.b64encode((json.dumps(doc) + "\\n").encode()).decode()
            out.append({"recordId": r["recordId"], "result": "Ok", "data": data,
                        "metadata": {"partitionKeys": {"team": doc["team"]}}})
    return {"records": out}
"""

BROKEN = """
def handler(event, context):
    raise RuntimeError("the transform blew up")
"""


def make_function(fprofile: profiles.Profile, unique: Any, source: str) -> str:
    import json as _json

    iam = clients.client("iam", fprofile)
    role = iam.create_role(
        RoleName=unique("fn-role"),
        AssumeRolePolicyDocument=_json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("transform.py", source)
    fn = clients.client("lambda", fprofile).create_function(
        FunctionName=unique("transform"),
        Runtime="python3.12",
        Role=role,
        Handler="transform.handler",
        Code={"ZipFile": buf.getvalue()},
        Timeout=30,
    )
    return str(fn["FunctionArn"])


def lambda_processor(arn: str, retries: int = 3) -> dict[str, Any]:
    return {
        "Type": "Lambda",
        "Parameters": [
            {"ParameterName": "LambdaArn", "ParameterValue": arn},
            {"ParameterName": "NumberOfRetries", "ParameterValue": str(retries)},
            {"ParameterName": "BufferIntervalInSeconds", "ParameterValue": "60"},
        ],
    }


def test_lambda_transform_contract_with_partition_keys_from_lambda(
    fh: Any, s3: Any, admin: Admin, lake: str, unique: Any, fprofile: profiles.Profile
) -> None:
    import base64
    import json

    arn = make_function(fprofile, unique, TRANSFORM)
    name = unique("tx")
    create(
        fh,
        name,
        lake,
        Prefix="teams/team=!{partitionKeyFromLambda:team}/",
        ErrorOutputPrefix="errors/!{firehose:error-output-type}/",
        BufferingHints={"SizeInMBs": 64, "IntervalInSeconds": 60},
        DynamicPartitioningConfiguration={"Enabled": True},
        ProcessingConfiguration={"Enabled": True, "Processors": [lambda_processor(arn)]},
    )
    docs = [{"name": f"n{i}", "team": ["red", "blue"][i % 2]} for i in range(10)]
    docs += [{"name": "s", "team": "red", "skip": True}, {"name": "b", "team": "red", "bad": True}]
    docs += [{"name": "v", "team": "red", "vanish": True}]
    put(fh, name, [json.dumps(d).encode() for d in docs])
    # past the Lambda's buffer interval and the delivery buffer's: the outputs keep their
    # records' arrival, so they are due the moment the function (a local process) returns
    admin.set_clock(advance=122)
    found = objects(s3, lake, 3, timeout_s=15)
    bodies = {o["Key"]: s3.get_object(Bucket=lake, Key=o["Key"])["Body"].read() for o in found}
    red = next(v for k, v in bodies.items() if k.startswith("teams/team=red/"))
    blue = next(v for k, v in bodies.items() if k.startswith("teams/team=blue/"))
    assert sorted(json.loads(x)["name"] for x in red.splitlines()) == ["N0", "N2", "N4", "N6", "N8"]
    assert sorted(json.loads(x)["name"] for x in blue.splitlines()) == [
        "N1",
        "N3",
        "N5",
        "N7",
        "N9",
    ]
    (errs,) = [v for k, v in bodies.items() if k.startswith("errors/processing-failed/")]
    failed = [json.loads(x) for x in errs.splitlines()]
    assert {f["errorCode"] for f in failed} == {
        "Lambda.ProcessingFailedStatus",
        "Lambda.MissingRecordId",
    }
    assert all(f["lambdaArn"] == arn for f in failed)
    raws = sorted(json.loads(base64.b64decode(f["rawData"]))["name"] for f in failed)
    assert raws == ["b", "v"]  # the dropped record is nowhere, as AWS does


def test_a_failing_lambda_is_retried_then_the_batch_goes_to_processing_failed(
    fh: Any, s3: Any, admin: Admin, lake: str, unique: Any, fprofile: profiles.Profile
) -> None:
    import json

    arn = make_function(fprofile, unique, BROKEN)
    name = unique("boom")
    create(
        fh,
        name,
        lake,
        ErrorOutputPrefix="errors/!{firehose:error-output-type}/",
        BufferingHints={"SizeInMBs": 5, "IntervalInSeconds": 60},
        ProcessingConfiguration={"Enabled": True, "Processors": [lambda_processor(arn, 2)]},
    )
    put(fh, name, [b'{"a": 1}', b'{"a": 2}'])
    admin.set_clock(advance=122)  # three invocations (a try, two retries), then delivery
    (obj,) = objects(s3, lake, 1, timeout_s=15)
    assert obj["Key"].startswith("errors/processing-failed/")
    docs = [
        json.loads(x)
        for x in s3.get_object(Bucket=lake, Key=obj["Key"])["Body"].read().splitlines()
    ]
    assert len(docs) == 2
    assert all(d["attemptsMade"] == 3 and d["errorCode"] == "Lambda.FunctionError" for d in docs)
    assert "the transform blew up" in docs[0]["errorMessage"]


def glue_table(fprofile: profiles.Profile, unique: Any) -> tuple[str, str]:
    glue = clients.client("glue", fprofile)
    db, table = unique("db").replace("-", "_"), "orders"
    glue.create_database(DatabaseInput={"Name": db})
    glue.create_table(
        DatabaseName=db,
        TableInput={
            "Name": table,
            "StorageDescriptor": {
                "Columns": [
                    {"Name": "id", "Type": "int"},
                    {"Name": "name", "Type": "string"},
                    {"Name": "amount", "Type": "decimal(10,2)"},
                    {"Name": "ts", "Type": "timestamp"},
                    {"Name": "tags", "Type": "array<string>"},
                    {"Name": "meta", "Type": "struct<src:string,n:bigint>"},
                ]
            },
            "PartitionKeys": [{"Name": "dt", "Type": "string"}],
        },
    )
    return db, table


def conversion(db: str, table: str, serializer: dict[str, Any]) -> dict[str, Any]:
    return {
        "Enabled": True,
        "SchemaConfiguration": {"RoleARN": ROLE, "DatabaseName": db, "TableName": table},
        "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
        "OutputFormatConfiguration": {"Serializer": serializer},
    }


@pytest.mark.parametrize("fmt", ["parquet", "orc"])
def test_json_to_parquet_and_orc_with_the_glue_schema(
    fh: Any, s3: Any, admin: Admin, lake: str, unique: Any, fprofile: profiles.Profile, fmt: str
) -> None:
    import json
    from decimal import Decimal

    import pyarrow.orc as orc
    import pyarrow.parquet as pq

    db, table = glue_table(fprofile, unique)
    serializer = (
        {"ParquetSerDe": {"Compression": "SNAPPY"}} if fmt == "parquet" else {"OrcSerDe": {}}
    )
    name = unique("conv")
    create(
        fh,
        name,
        lake,
        Prefix="orders/",
        ErrorOutputPrefix="errors/!{firehose:error-output-type}/",
        BufferingHints={"SizeInMBs": 64, "IntervalInSeconds": 60},
        DataFormatConversionConfiguration=conversion(db, table, serializer),
    )
    good = [
        {
            "ID": i,
            "Name": f"n{i}",
            "amount": "12.50",
            "ts": 1767225600 + i,
            "tags": ["a"],
            "meta": {"src": "web", "n": i},
        }
        for i in range(20)
    ]
    two_in_one = b'{"id": 100, "name": "x"}{"id": 101, "name": "y"}'  # concatenated objects
    bad = [b"not json", b'{"id": "abc"}', b'{"id": 1, "tags": "not-a-list"}']
    put(fh, name, [json.dumps(g).encode() for g in good] + [two_in_one] + bad)
    admin.set_clock(advance=61)
    found = objects(s3, lake, 2)
    data = next(o for o in found if o["Key"].startswith("orders/"))
    errs = next(o for o in found if o["Key"].startswith("errors/format-conversion-failed/"))
    blob = s3.get_object(Bucket=lake, Key=data["Key"])["Body"].read()
    t = (pq.read_table if fmt == "parquet" else orc.read_table)(io.BytesIO(blob))
    assert t.schema.names == ["id", "name", "amount", "ts", "tags", "meta"]
    assert str(t.schema.field("amount").type) == "decimal128(10, 2)"
    assert str(t.schema.field("ts").type).startswith("timestamp[")  # ORC keeps ns
    rows = sorted(t.to_pylist(), key=lambda r: r["id"])
    assert [r["id"] for r in rows] == [*range(20), 100, 101]
    assert rows[3]["name"] == "n3" and rows[3]["amount"] == Decimal("12.50")  # any key case
    assert rows[3]["meta"] == {"src": "web", "n": 3} and rows[3]["tags"] == ["a"]
    assert rows[0]["ts"].timestamp() == 1767225600
    docs = [
        json.loads(x)
        for x in s3.get_object(Bucket=lake, Key=errs["Key"])["Body"].read().splitlines()
    ]
    assert len(docs) == 3 and {d["ErrorCode"] for d in docs} == {"DataFormatConversion.ParseError"}
    assert {d["dataCatalogTable"]["tableName"] for d in docs} == {table}
    assert any("not valid JSON" in d["ErrorMessage"] for d in docs)
    assert any("id" in d["ErrorMessage"] and "abc" in d["ErrorMessage"] for d in docs)


def test_format_conversion_rules_as_aws_states_them(
    fh: Any, lake: str, unique: Any, fprofile: profiles.Profile
) -> None:
    db, table = glue_table(fprofile, unique)
    conv = conversion(db, table, {"ParquetSerDe": {}})
    for dest, words in (
        ({"BufferingHints": {"SizeInMBs": 5, "IntervalInSeconds": 60}}, "at least 64"),
        ({"CompressionFormat": "GZIP"}, "UNCOMPRESSED"),
        (
            {"DataFormatConversionConfiguration": conversion(db, "nope", {"ParquetSerDe": {}})},
            "not found",
        ),
    ):
        with pytest.raises(ClientError) as e:
            create(fh, unique("r"), lake, **{"DataFormatConversionConfiguration": conv, **dest})
        assert e.value.response["Error"]["Code"] == "InvalidArgumentException"
        assert words in e.value.response["Error"]["Message"]
    name = unique("def")
    create(fh, name, lake, DataFormatConversionConfiguration=conv)
    desc = fh.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"]
    ext = desc["Destinations"][0]["ExtendedS3DestinationDescription"]
    assert ext["BufferingHints"]["SizeInMBs"] == 128  # AWS's default with conversion
    assert ext["DataFormatConversionConfiguration"]["Enabled"] is True


def test_s3_backup_keeps_the_source_records_as_they_came(
    fh: Any, s3: Any, admin: Admin, lake: str, unique: Any
) -> None:
    import json

    name = unique("bk")
    create(
        fh,
        name,
        lake,
        Prefix="k=!{partitionKeyFromQuery:k}/",
        ErrorOutputPrefix="err/!{firehose:error-output-type}/",
        BufferingHints={"SizeInMBs": 64, "IntervalInSeconds": 60},
        S3BackupMode="Enabled",
        S3BackupConfiguration={
            "RoleARN": ROLE,
            "BucketARN": f"arn:aws:s3:::{lake}",
            "Prefix": "source-backup/",
            "CompressionFormat": "GZIP",
            "BufferingHints": {"SizeInMBs": 5, "IntervalInSeconds": 60},
        },
        **_dp("{k: .k}"),
    )
    raw = [json.dumps({"k": k, "n": i}).encode() for i, k in enumerate("abab")]
    put(fh, name, raw)
    admin.set_clock(advance=61)
    found = objects(s3, lake, 3)
    (backup,) = [o for o in found if o["Key"].startswith("source-backup/")]
    assert backup["Key"].endswith(".gz")
    body = gzip.decompress(s3.get_object(Bucket=lake, Key=backup["Key"])["Body"].read())
    assert body == b"".join(raw)  # untouched: no delimiter, no partitioning
    assert {o["Key"].split("/")[0] for o in found} == {"k=a", "k=b", "source-backup"}
    ext = fh.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"][
        "Destinations"
    ][0]["ExtendedS3DestinationDescription"]
    assert ext["S3BackupMode"] == "Enabled"
    assert ext["S3BackupDescription"]["Prefix"] == "source-backup/"

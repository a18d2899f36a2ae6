"""The log-shipping agent against the real emulator (its Kinesis with AWS's per-shard
limits) over HTTP with real boto3, tailing files a real LogWriter writes and rotates.

Nothing here waits on wall time: the agent is driven by explicit ``run_once``/``flush``
calls, its buffer and line ages by an injected clock, and the retry backoff advances the
emulator's clock (a module-private emulator, so no other test sees its clock move)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sim import clients, profiles
from sim.admin import Admin
from sim.datagen.logwriter import LogWriter
from sim.logship import Agent, AgentConfig, ConfigError, Flow, ShipError
from tests.conftest import ROOT, bdlab_env, run_bdlab

pytestmark = pytest.mark.integration

BATCH = 100  # maxBufferSizeRecords in these tests


class Crash(Exception):
    """Stands for the agent's process dying at a hook point."""


@pytest.fixture(scope="module")
def kprofile(private_profile: profiles.Profile) -> profiles.Profile:
    return private_profile


@pytest.fixture(scope="module")
def admin(kprofile: profiles.Profile) -> Admin:
    return Admin.of(kprofile)


@pytest.fixture()
def stream(kprofile: profiles.Profile, unique: Callable[[str], str]) -> Iterator[str]:
    kin = clients.client("kinesis", kprofile)
    name = unique("logship")
    kin.create_stream(StreamName=name, ShardCount=1)
    yield name
    kin.delete_stream(StreamName=name)


def make_agent(
    kprofile: profiles.Profile,
    admin: Admin,
    folder: Path,
    stream: str,
    *,
    hook: Callable[[str], None] | None = None,
    clock: Callable[[], float] | None = None,
    **flow: Any,
) -> Agent:
    options = {
        "initial_position": "START_OF_FILE",
        "max_buffer_size_records": BATCH,
        **flow,
    }
    config = AgentConfig(
        (Flow(str(folder / "access.log*"), kinesis_stream=stream, **options),),
        folder / "checkpoints.json",
    )
    extra: dict[str, Any] = {"clock": clock} if clock else {}
    return Agent(
        config,
        lambda service: clients.client(service, kprofile),
        # Backoff waits move the emulator's clock (its token buckets refill) instead.
        sleep=lambda s: admin.set_clock(advance=max(s, 0.2)),
        hook=hook,
        **extra,
    )


def shipped(kprofile: profiles.Profile, admin: Admin, stream: str) -> list[dict[str, Any]]:
    """Every record of the 1-shard stream in sequence order, reading as a consumer must: a
    throttled read waits (the clock is advanced) and tries again."""
    kin = clients.client("kinesis", kprofile, retries=False)
    shard = kin.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
    it = kin.get_shard_iterator(StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
        "ShardIterator"
    ]
    out: list[dict[str, Any]] = []
    while True:
        try:
            r = kin.get_records(ShardIterator=it, Limit=10_000)
        except kin.exceptions.ProvisionedThroughputExceededException:
            admin.set_clock(advance=1.0)
            continue
        out += r["Records"]
        if r["MillisBehindLatest"] == 0 and not r["Records"]:
            return out
        it = r["NextShardIterator"]


def data(records: list[dict[str, Any]]) -> list[bytes]:
    return [r["Data"] for r in records]


def file_lines(*paths: Path) -> list[bytes]:
    """Complete lines of the files, in order (a partial last line excluded)."""
    out = []
    for p in paths:
        raw = p.read_bytes()
        out += raw[: raw.rfind(b"\n") + 1].splitlines(keepends=True)
    return out


# --------------------------------------------------------------------------- (a)
def test_lines_arrive_once_each_in_file_order_and_a_partial_line_waits(
    kprofile: profiles.Profile, admin: Admin, stream: str, tmp_path: Path
) -> None:
    log = tmp_path / "access.log"
    writer = LogWriter(log, seed=1)
    writer.write(350)
    agent = make_agent(kprofile, admin, tmp_path, stream, partition_key_option="DETERMINISTIC")
    progress = agent.run_once()
    assert (progress.lines_read, progress.records_sent, progress.batches) == (350, 300, 3)
    assert agent.status().lines_buffered == 50  # a partial batch waits for size or age
    assert agent.flush().records_sent == 50

    writer.write_partial()  # the server is mid-line: nothing of it may be sent
    assert agent.run_once().lines_read == 0 and agent.flush().records_sent == 0
    writer.write(2)  # finishes that line, and two more
    agent.run_once()
    agent.flush()

    records = shipped(kprofile, admin, stream)
    assert data(records) == file_lines(log)  # each line once, newline included, in order
    assert len(records) == 353
    assert all(r["PartitionKey"] == hashlib.md5(r["Data"]).hexdigest() for r in records)
    agent.stop()


def test_end_of_file_skips_what_was_there_but_not_a_line_being_written(
    kprofile: profiles.Profile, admin: Admin, stream: str, tmp_path: Path
) -> None:
    log = tmp_path / "access.log"
    writer = LogWriter(log, seed=2)
    writer.write(40)
    writer.write_partial()
    agent = make_agent(kprofile, admin, tmp_path, stream, initial_position="END_OF_FILE")
    writer.write(5)  # the partial line's end, then 5 lines
    agent.run_once()
    agent.stop()
    assert data(shipped(kprofile, admin, stream)) == file_lines(log)[40:]
    assert len(file_lines(log)[40:]) == 6


# --------------------------------------------------------------------------- (b)
def test_two_rotations_between_polls_and_a_late_write_to_the_rotated_file(
    kprofile: profiles.Profile, admin: Admin, stream: str, tmp_path: Path
) -> None:
    log = tmp_path / "access.log"
    writer = LogWriter(log, seed=3, keep=5)
    writer.write(120)
    agent = make_agent(kprofile, admin, tmp_path, stream)
    agent.run_once()  # 100 sent, 20 buffered

    writer.write(30)
    writer.rotate()
    writer.write(70)
    writer.rotate()
    writer.write(40)
    writer.write_partial()
    agent.run_once()
    agent.flush()
    expected = file_lines(*writer.files())  # access.log.2, access.log.1, access.log
    assert len(expected) == 260
    assert data(shipped(kprofile, admin, stream)) == expected

    # logrotate renames, the server writes on into the renamed file until it reopens.
    writer.rotate(reopen=False)  # also finishes the partial line, in that file
    writer.write(10)
    agent.run_once()
    writer.write(5)
    writer.reopen()
    writer.write(7)
    agent.run_once()
    agent.flush()
    status = agent.status()
    agent.stop()

    expected = file_lines(*writer.files())
    assert len(expected) == 260 + 1 + 10 + 5 + 7
    assert data(shipped(kprofile, admin, stream)) == expected  # nothing lost or doubled
    assert status.bytes_behind == 0 and status.lines_pending == 0
    assert status.flows[0].files_tracked == 4 and status.flows[0].truncations == 0


# --------------------------------------------------------------------------- (c)
@pytest.mark.parametrize(
    ("crash_at", "duplicates"),
    [("before_send", 0), ("after_send", BATCH), ("after_checkpoint", 0)],
)
def test_a_crash_loses_nothing_and_doubles_at_most_one_batch_a_clean_stop_none(
    kprofile: profiles.Profile,
    admin: Admin,
    stream: str,
    tmp_path: Path,
    crash_at: str,
    duplicates: int,
) -> None:
    log = tmp_path / "access.log"
    writer = LogWriter(log, seed=4, keep=5)
    writer.write(250)
    seen: Counter[str] = Counter()

    def die_on_second(point: str) -> None:
        seen[point] += 1
        if point == crash_at and seen[point] == 2:
            raise Crash(point)

    first = make_agent(kprofile, admin, tmp_path, stream, hook=die_on_second)
    with pytest.raises(Crash):
        first.run_once()
    del first  # no stop(): the process is gone

    writer.write(30)
    writer.rotate()  # also while it was down
    writer.write(20)
    second = make_agent(kprofile, admin, tmp_path, stream)
    second.run_once()
    second.flush()
    writer.write(15)
    second.run_once()  # 15 lines buffered: stop() must send and checkpoint them
    second.stop()

    third = make_agent(kprofile, admin, tmp_path, stream)
    assert third.run_once().records_sent == 0 and third.flush().records_sent == 0
    writer.write(5)
    third.run_once()
    assert third.flush().records_sent == 5
    third.stop()

    got = Counter(data(shipped(kprofile, admin, stream)))
    want = Counter(file_lines(*writer.files()))
    assert sum(want.values()) == 320
    assert not want - got, "a line was lost"
    assert sum((got - want).values()) == duplicates


# --------------------------------------------------------------------------- (d)
def test_lag_in_bytes_lines_and_age_before_and_after_shipping(
    kprofile: profiles.Profile, admin: Admin, stream: str, tmp_path: Path
) -> None:
    log = tmp_path / "access.log"
    writer = LogWriter(log, seed=5)
    writer.write(200)
    partial = writer.write_partial()
    now = [1_000.0]
    agent = make_agent(
        kprofile, admin, tmp_path, stream, clock=lambda: now[0], max_buffer_age_millis=1_000
    )

    st = agent.status()
    assert st.bytes_behind == log.stat().st_size
    assert st.lines_pending == 200  # the partial line is not a line yet
    now[0] += 7.0
    age = agent.status().oldest_unsent_age_s
    assert age is not None and 7.0 <= age < 8.0

    agent.run_once()  # two full batches
    st = agent.status()
    assert (st.bytes_behind, st.lines_pending, st.oldest_unsent_age_s) == (partial, 0, None)

    writer.write(50)  # 51 lines: the partial one and 50
    agent.run_once()  # less than a batch: buffered, not sent
    st = agent.status()
    flow = st.flows[0]
    assert (st.lines_pending, flow.lines_buffered) == (51, 51)
    assert st.bytes_behind == log.stat().st_size - flow.files[0].acked_offset > 0
    now[0] += 1.0  # maxBufferAgeMillis reached: the next poll sends the partial batch
    assert agent.run_once().records_sent == 51
    st = agent.status()
    assert (st.bytes_behind, st.lines_pending, st.oldest_unsent_age_s) == (0, 0, None)
    assert st.flows[0].records_sent == 251
    assert "251 records sent; behind: 0 bytes, 0 lines" in st.summary()
    agent.stop()


# --------------------------------------------------------------------------- (e)
def test_a_burst_beyond_the_shards_write_limit_all_arrives(
    kprofile: profiles.Profile, admin: Admin, stream: str, tmp_path: Path
) -> None:
    log = tmp_path / "access.log"
    writer = LogWriter(log, seed=6)
    writer.write(3_000)  # 1,000 records/s per shard: this needs three seconds' worth
    agent = make_agent(kprofile, admin, tmp_path, stream, max_buffer_size_records=500)
    agent.run_once()
    flow = agent.status().flows[0]
    agent.stop()
    assert flow.records_sent == 3_000
    assert flow.throttled > 0 and flow.retried >= flow.throttled  # the limit really bit
    got = data(shipped(kprofile, admin, stream))
    assert Counter(got) == Counter(file_lines(log))  # retried: none lost, none doubled
    (entries,) = json.loads((tmp_path / "checkpoints.json").read_text())["flows"].values()
    assert entries[0]["offset"] == log.stat().st_size


# --------------------------------------------------------------------------- errors, CLI
def test_errors_are_one_actionable_line(
    kprofile: profiles.Profile, admin: Admin, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=r"folder '.*nowhere' does not exist"):
        make_agent(kprofile, admin, tmp_path / "nowhere", "s")
    with pytest.raises(ShipError, match=r"Kinesis stream 'no-such-stream' does not exist"):
        make_agent(kprofile, admin, tmp_path, "no-such-stream")
    (tmp_path / "agent.json").write_text(
        json.dumps({"flows": [{"filePattern": "x.log", "kinesisStrem": "s"}]})
    )
    with pytest.raises(ConfigError, match="did you mean 'kinesisStream'") as err:
        AgentConfig.load(tmp_path / "agent.json")
    assert "\n" not in str(err.value)


def test_the_command_line_ships_once_and_reports(
    kprofile: profiles.Profile, admin: Admin, stream: str, tmp_path: Path
) -> None:
    (tmp_path / "logs").mkdir()
    LogWriter(tmp_path / "logs" / "access.log", fmt="combined", seed=8).write(25)
    conf = {
        "cloudwatch.emitMetrics": False,
        "flows": [
            {
                "filePattern": "logs/access.log*",
                "kinesisStream": stream,
                "initialPosition": "START_OF_FILE",
                "dataProcessingOptions": [
                    {"optionName": "LOGTOJSON", "logFormat": "COMBINEDAPACHELOG"}
                ],
            }
        ],
    }
    (tmp_path / "agent.json").write_text(json.dumps(conf))
    port = (kprofile.endpoint_url or "").rsplit(":", 1)[-1]
    env = {**bdlab_env(tmp_path / "state", int(port)), "PYTHONPATH": str(ROOT)}

    def logship(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "sim.logship", "--config", "agent.json", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    done = logship("--once", "--json")
    assert done.returncode == 0, done.stderr
    assert "ignored cloudwatch.emitMetrics" in done.stderr
    status = json.loads(done.stdout)
    assert status["bytes_behind"] == 0 and status["flows"][0]["records_sent"] == 25
    rows = [json.loads(d) for d in data(shipped(kprofile, admin, stream))]
    assert len(rows) == 25 and {"host", "request", "agent"} <= set(rows[0])
    assert os.path.exists(tmp_path / "agent.checkpoints.json")

    # the same through the bdlab command: `bdlab weblogs` writes more, `bdlab agent` ships it
    wrote = run_bdlab(
        ["weblogs", "logs/access.log", "--rate", "2000", "--duration", "0.01", "--seed", "8"],
        env,
        cwd=tmp_path,
    )
    assert wrote.returncode == 0, wrote.stderr
    again = run_bdlab(["agent", "--config", "agent.json", "--once", "--json"], env, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    sent = json.loads(again.stdout[again.stdout.index("{") :])["flows"][0]["records_sent"]
    assert sent > 0 and len(shipped(kprofile, admin, stream)) == 25 + sent

    conf["flows"][0]["kinesisStream"] = "no-such-stream"  # type: ignore[index]
    (tmp_path / "agent.json").write_text(json.dumps(conf))
    bad = logship("--status")
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines()[-1].startswith("logship: error: Kinesis stream")


def test_the_agent_ships_into_a_firehose_stream_and_firehose_into_s3(
    kprofile: profiles.Profile, admin: Admin, tmp_path: Path, unique: Callable[[str], str]
) -> None:
    """deliveryStream instead of kinesisStream: PutRecordBatch to bdlab's Firehose, which
    delivers to S3 when its buffer interval passes on the clock; every line once, in order."""
    s3 = clients.client("s3", kprofile)
    fh = clients.client("firehose", kprofile)
    bucket, name = unique("logs"), unique("weblogs")
    s3.create_bucket(Bucket=bucket)
    fh.create_delivery_stream(
        DeliveryStreamName=name,
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::123456789012:role/firehose",
            "BucketARN": f"arn:aws:s3:::{bucket}",
            "Prefix": "weblogs/",
            "BufferingHints": {"SizeInMBs": 5, "IntervalInSeconds": 60},
        },
    )
    log = tmp_path / "access.log"
    writer = LogWriter(log, fmt="combined", seed=3)
    writer.write(700)
    config = AgentConfig(
        (
            Flow(
                str(tmp_path / "access.log*"),
                delivery_stream=name,
                initial_position="START_OF_FILE",
            ),
        ),
        tmp_path / "checkpoints.json",
    )
    agent = Agent(config, lambda service: clients.client(service, kprofile))
    agent.run_once()
    agent.stop()
    admin.set_clock(advance=61)
    deadline = time.monotonic() + 10
    found: list[dict[str, Any]] = []
    while not found and time.monotonic() < deadline:
        found = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
        time.sleep(0.1)
    body = b"".join(s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in found)
    assert body.splitlines(keepends=True) == file_lines(log)

"""The Spark Kinesis source (spark/kinesis_source.py) against the emulator with a real
SparkSession: every record once across a restart from Spark's checkpoint and a split (parents
first), LATEST pinned at the first start, KPL aggregates split, micro-batches bounded."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sim import clients, profiles
from sim.kinesis.producer import Producer

pytestmark = [pytest.mark.integration, pytest.mark.spark]


@pytest.fixture(scope="module")
def spark(
    private_profile: profiles.Profile, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    from spark import session
    from spark.kinesis_source import register
    from tests.conftest import settings_for

    cfg = settings_for(tmp_path_factory.mktemp("spark-state"))
    s = session.get_session(private_profile, cfg, app_name="kinesis-source-tests")
    register(s)
    yield s
    session.stop()


def run_once(spark: Any, prof: profiles.Profile, stream: str, base: Path, **opts: str) -> Any:
    """One availableNow run of the query into Parquet; the output as JSON numbers."""
    from spark.kinesis_source import options_for

    df = spark.readStream.format("kinesis").options(**options_for(prof, stream, **opts)).load()
    q = (
        df.selectExpr("shardId", "sequenceNumber", "partitionKey", "cast(data as string) as data")
        .writeStream.format("parquet")
        .option("checkpointLocation", str(base / "checkpoint"))
        .option("path", str(base / "out"))
        .trigger(availableNow=True)
        .start()
    )
    assert q.awaitTermination(180)
    return q


def numbers(spark: Any, base: Path) -> list[int]:
    return [json.loads(r.data)["n"] for r in spark.read.parquet(str(base / "out")).collect()]


def test_every_record_once_across_a_restart_and_a_split(
    spark: Any, private_profile: profiles.Profile, tmp_path: Path, unique: Any
) -> None:
    kin = clients.client("kinesis", private_profile)
    stream = unique("spark")
    kin.create_stream(StreamName=stream, ShardCount=2)
    send = Producer(kin, stream, ordered=True)

    def produce(lo: int, hi: int) -> None:
        send.put((json.dumps({"n": i}).encode(), f"k{i % 5}") for i in range(lo, hi))

    produce(0, 300)
    run_once(spark, private_profile, stream, tmp_path, startingPosition="TRIM_HORIZON")
    assert sorted(numbers(spark, tmp_path)) == list(range(300))
    produce(300, 500)
    first = kin.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
    kin.split_shard(StreamName=stream, ShardToSplit=first, NewStartingHashKey=str(2**126))
    produce(500, 600)
    # a new run of the query: from Spark's checkpoint, not from the start
    run_once(spark, private_profile, stream, tmp_path, startingPosition="TRIM_HORIZON")
    got = numbers(spark, tmp_path)
    assert sorted(got) == list(range(600))  # nothing lost, nothing twice
    rows = spark.read.parquet(str(tmp_path / "out")).collect()
    children = {r.shardId for r in rows} - {s["ShardId"] for s in kin.list_shards(
        StreamName=stream, ShardFilter={"Type": "AT_TRIM_HORIZON"})["Shards"]}  # fmt: skip
    assert children  # the split's children were read too


def test_latest_is_pinned_at_the_first_start_and_kpl_records_are_split(
    spark: Any, private_profile: profiles.Profile, tmp_path: Path, unique: Any
) -> None:
    kin = clients.client("kinesis", private_profile)
    stream = unique("latest")
    kin.create_stream(StreamName=stream, ShardCount=1)
    Producer(kin, stream).put((json.dumps({"n": -i}).encode(), "k") for i in range(1, 6))
    run_once(spark, private_profile, stream, tmp_path, startingPosition="LATEST")
    assert not (tmp_path / "out").exists() or numbers(spark, tmp_path) == []
    Producer(kin, stream, aggregate=True).put(
        (json.dumps({"n": i}).encode(), f"u{i % 3}") for i in range(50)
    )
    run_once(spark, private_profile, stream, tmp_path, startingPosition="LATEST")
    assert sorted(numbers(spark, tmp_path)) == list(range(50))  # user records, none before


def test_micro_batches_are_bounded_per_shard(
    spark: Any, private_profile: profiles.Profile, tmp_path: Path, unique: Any
) -> None:
    """maxRecordsPerShard (Spark's ReadMaxRows): a continuous query takes at most that many
    records of each shard per micro-batch, and gets through all of them."""
    from spark.kinesis_source import options_for

    kin = clients.client("kinesis", private_profile)
    stream = unique("bound")
    kin.create_stream(StreamName=stream, ShardCount=2)
    Producer(kin, stream).put((json.dumps({"n": i}).encode(), f"k{i}") for i in range(500))
    df = (
        spark.readStream.format("kinesis")
        .options(
            **options_for(
                private_profile, stream, startingPosition="TRIM_HORIZON", maxRecordsPerShard="100"
            )
        )  # fmt: skip
        .load()
    )
    q = (
        df.selectExpr("cast(data as string) as data")
        .writeStream.format("parquet")
        .option("checkpointLocation", str(tmp_path / "checkpoint"))
        .option("path", str(tmp_path / "out"))
        .trigger(processingTime="0 seconds")
        .start()
    )
    try:
        q.processAllAvailable()
    finally:
        q.stop()
    sizes = [p["numInputRows"] for p in q.recentProgress if p["numInputRows"]]
    assert sum(sizes) == 500 and max(sizes) <= 200 and len(sizes) >= 3
    assert sorted(numbers(spark, tmp_path)) == list(range(500))


def test_windowed_revenue_drops_late_events_and_lands_in_delta_and_cloudwatch(
    spark: Any, private_profile: profiles.Profile, tmp_path: Path, unique: Any
) -> None:
    """Tumbling 1-minute windows with a 2-minute watermark: finished windows go to Delta and
    CloudWatch once each; an event for a window the watermark has passed is dropped."""
    from datetime import UTC, datetime, timedelta

    from spark.jobs import realtime

    kin = clients.client("kinesis", private_profile)
    stream = unique("rt")
    kin.create_stream(StreamName=stream, ShardCount=1)
    # Event time on the emulator clock: CloudWatch refuses datapoints over two weeks old
    from sim.admin import Admin

    now = datetime.fromtimestamp(Admin.of(private_profile).clock()["now"], UTC)
    t0 = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)

    def event(i: int, minute: float, country: str = "KR", price: float = 10.0) -> bytes:
        when = t0 + timedelta(minutes=minute)
        return json.dumps(
            {
                "event_id": f"e{i}",
                "event_time": when.isoformat(),
                "event_type": "purchase",
                "country": country,
                "price": price,
                "quantity": 1,
            }
        ).encode()

    send = Producer(kin, stream, ordered=True)
    send.put((event(i, i * 0.25), "k") for i in range(16))  # minutes 0.00 .. 3.75
    delta = str(tmp_path / "delta")
    ck = str(tmp_path / "checkpoint")

    def run() -> None:
        q = realtime.start(spark, private_profile, stream, delta, ck, available_now=True)
        assert q.awaitTermination(180)

    run()  # watermark now 3:45 - 2:00 = 1:45: the 10:00 window is final (and written)
    send.put([(event(100, 0.5, price=999.0), "k"), (event(101, 10.0), "k")])  # late; far ahead
    run()  # the late event is behind the watermark: dropped; 10:01 .. 10:03 become final
    rows = sorted(
        (r.window_start.minute, r.orders, r.revenue)
        for r in spark.read.format("delta").load(delta).collect()
    )
    assert rows == [(0, 4, 40.0), (1, 4, 40.0), (2, 4, 40.0), (3, 4, 40.0)]  # no 999
    cw = clients.client("cloudwatch", private_profile)
    points = cw.get_metric_statistics(
        Namespace=realtime.NAMESPACE,
        MetricName="Revenue",
        Dimensions=[{"Name": "Country", "Value": "KR"}],
        StartTime=t0,
        EndTime=t0 + timedelta(minutes=10),
        Period=60,
        Statistics=["Sum"],
    )["Datapoints"]
    assert sorted(p["Sum"] for p in points) == [40.0, 40.0, 40.0, 40.0]


def test_sliding_windows_on_a_small_frame(spark: Any) -> None:
    from datetime import datetime

    from spark.jobs import realtime

    rows = [
        ("a", datetime(2026, 3, 2, 10, 0, 30), "purchase", "KR", 2.0, 1),
        ("b", datetime(2026, 3, 2, 10, 1, 30), "purchase", "KR", 3.0, 2),
        ("c", datetime(2026, 3, 2, 10, 1, 40), "view", "KR", 9.0, 1),
    ]
    df = spark.createDataFrame(rows, realtime.EVENT_SCHEMA)
    out = realtime.windowed_revenue(df, window="2 minutes", slide="1 minute")
    got = sorted((r.window_start.minute, r.orders, r.revenue) for r in out.collect())
    # every event in two overlapping windows; views are not purchases
    assert got == [(0, 2, 8.0), (1, 1, 6.0), (59, 1, 2.0)]


def test_quality_per_micro_batch_quarantines_bad_records_and_the_pass_rate_drops(
    spark: Any, private_profile: profiles.Profile, tmp_path: Path, unique: Any
) -> None:
    import time as _time
    from datetime import UTC, datetime

    from sim.dataquality import NAMESPACE, Rules
    from spark.jobs import quality_stream

    kin = clients.client("kinesis", private_profile)
    s3 = clients.client("s3", private_profile)
    stream, bucket = unique("dq"), unique("dq-bkt")
    kin.create_stream(StreamName=stream, ShardCount=1)
    s3.create_bucket(Bucket=bucket)
    rules = Rules(
        required=("event_id", "country"),
        types={"price": "float"},
        ranges={"price": (0, 1000)},
        allowed={"country": ("KR", "US")},
        unique="event_id",
    )
    now = datetime.now(UTC).isoformat()

    def ev(i: int, **over: object) -> bytes:
        return json.dumps({"event_id": f"e{i}", "event_time": now, "country": "KR",
                           "price": 5.0, **over}).encode()  # fmt: skip

    send = Producer(kin, stream, ordered=True)
    send.put([(ev(i), "k") for i in range(18)] + [(ev(90, price=-1.0), "k"), (b"oops", "k")])

    def run() -> None:
        q = quality_stream.start(
            spark,
            private_profile,
            stream,
            str(tmp_path / "good"),
            (bucket, "quarantine/clicks/"),
            str(tmp_path / "checkpoint"),
            rules,
            available_now=True,
        )
        assert q.awaitTermination(180)

    run()
    send.put([(ev(100 + i), "k") for i in range(5)] + [(ev(3), "k")] * 2
             + [(ev(200 + i, country="XX"), "k") for i in range(3)])  # fmt: skip
    run()
    good = spark.read.parquet(str(tmp_path / "good")).collect()
    # e3 came back twice in the second run: the window of ids is per run, so one passes
    assert len(good) == 24 and len({r.event_id for r in good}) == 23
    lines = []
    for o in s3.list_objects_v2(Bucket=bucket, Prefix="quarantine/clicks/")["Contents"]:
        body = s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read().decode()
        lines += [json.loads(x) for x in body.splitlines()]
    rules_seen = sorted(x["dq_rule"] for x in lines)
    assert rules_seen == ["allowed:country"] * 3 + ["json", "range:price", "unique:event_id"]
    cw = clients.client("cloudwatch", private_profile)
    deadline = _time.monotonic() + 10
    rates: list[float] = []
    while len(rates) < 2 and _time.monotonic() < deadline:
        points = cw.get_metric_statistics(
            Namespace=NAMESPACE,
            MetricName="PassRate",
            Dimensions=[{"Name": "Pipeline", "Value": "clicks"}],
            StartTime=datetime(2020, 1, 1, tzinfo=UTC),
            EndTime=datetime(2100, 1, 1, tzinfo=UTC),
            Period=86400 * 365,
            Statistics=["Minimum", "Maximum"],
        )["Datapoints"]
        rates = sorted({p["Minimum"] for p in points} | {p["Maximum"] for p in points})
        _time.sleep(0.2)
    assert rates == [60.0, 90.0]  # 18 of 20, then 6 of 10: the drop an alarm would see


def test_quality_stream_serves_its_progress_and_pass_ratio_on_metrics(
    spark: Any, private_profile: profiles.Profile, tmp_path: Path, unique: Any
) -> None:
    import time as _time
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    from sim.dataquality import Rules
    from sim.monitoring.promexport import job_endpoint
    from spark.jobs import quality_stream

    kin = clients.client("kinesis", private_profile)
    s3 = clients.client("s3", private_profile)
    stream, bucket = unique("dqm"), unique("dqm-bkt")
    kin.create_stream(StreamName=stream, ShardCount=1)
    s3.create_bucket(Bucket=bucket)
    docs = [{"event_id": f"e{i}", "country": "KR", "price": 5.0} for i in range(8)]
    docs += [{"event_id": "e9", "country": "KR", "price": -1.0}]
    Producer(kin, stream, ordered=True).put(
        [(json.dumps(d).encode(), "k") for d in docs] + [(b"oops", "k")]
    )

    def samples(url: str) -> dict[tuple[str, str], float]:
        with urllib.request.urlopen(url, timeout=10) as r:
            text = r.read().decode()
        return {
            (s.name, s.labels.get("rule", "")): s.value
            for fam in text_string_to_metric_families(text)
            for s in fam.samples
            if s.labels.get("job") == "quality_stream"
        }

    with job_endpoint("quality_stream", 0) as metrics:  # what --metrics-port 0 does
        q = quality_stream.start(
            spark,
            private_profile,
            stream,
            str(tmp_path / "good"),
            (bucket, "quarantine/"),
            str(tmp_path / "checkpoint"),
            Rules(ranges={"price": (0, 1000)}),
            available_now=True,
            metrics=metrics,
        )
        try:
            assert q.awaitTermination(180)
            assert metrics.url
            deadline = _time.monotonic() + 15  # the listener hears progress asynchronously
            got = samples(metrics.url)
            while got.get(("bdlab_job_rows_processed_total", ""), 0) < 10:
                assert _time.monotonic() < deadline, got
                _time.sleep(0.2)
                got = samples(metrics.url)
        finally:
            metrics.detach(spark)
    assert got[("bdlab_job_rows_processed_total", "")] == 10
    assert got[("bdlab_job_batches_total", "")] >= 1
    assert got[("bdlab_job_batch_duration_seconds_count", "")] >= 1
    assert ("bdlab_job_processed_rows_per_second", "") in got
    assert got[("bdlab_job_quality_pass_ratio", "")] == 0.8  # 8 of 10
    assert got[("bdlab_job_quality_records_total", "")] == 10
    assert got[("bdlab_job_quality_failed_records_total", "json")] == 1
    assert got[("bdlab_job_quality_failed_records_total", "range:price")] == 1
